import t from 'tap';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { downloadVerified } from '../../lib/oci/download.ts';
import { sha256Digest } from '../../lib/oci/digest.ts';
import { GUEST_HOST } from '../../harness/backend/index.ts';
import { publishedBackend, asOperator } from './backend-fixture.ts';

const query = (base: string, src: string, dest: string) => `${base}/v1/deltas?src=${src}&dest=${dest}`;

t.test('a registered delta is found (200) and served; other pairs get 404 "no delta"', async (t) => {
  const { backend, r101, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  // The delta format belongs to lib/delta/; here it is opaque bytes.
  const content = randomBytes(3_000_000);
  const dir = t.testdir();
  const file = join(dir, 'delta.bin');
  writeFileSync(file, content);
  const reg = await backend.delta.addDelta({ src: r101.manifest.digest, dest: r102.manifest.digest, file });
  t.equal(reg.digest, sha256Digest(content));

  const found = await fetch(query(backend.urls.delta, r101.manifest.digest, r102.manifest.digest));
  t.equal(found.status, 200);
  const answer = (await found.json()) as { digest: string; size: number; url: string };
  t.same(answer, {
    digest: sha256Digest(content),
    size: content.length,
    url: `${backend.urls.delta}/v1/deltas/blobs/${sha256Digest(content)}`,
  });

  const reverse = await fetch(query(backend.urls.delta, r102.manifest.digest, r101.manifest.digest));
  t.equal(reverse.status, 404, 'deltas have a direction');
  t.same(await reverse.json(), { error: 'no delta' });
  const bad = await fetch(query(backend.urls.delta, '2.101.0', r102.manifest.digest));
  t.equal(bad.status, 400);

  // Downloaded with the same verified, resumable download the registry client uses.
  backend.faults.set('delta', { kind: 'truncate', bytes: 500_000, times: 1, path: '/blobs/' });
  const dest = join(dir, 'got.bin');
  const got = await downloadVerified({
    url: new URL(answer.url),
    digest: answer.digest,
    destPath: dest,
    source: `delta service ${backend.urls.delta}`,
    what: 'delta',
    timeoutMs: 5000,
    retries: 1,
    retryDelayMs: 10,
    expectedSize: answer.size,
    headers: backend.operatorHeaders(),
  });
  t.equal(got.resumes, 1);
  t.ok(readFileSync(dest).equals(content), 'the delta bytes, whole');
  t.same(
    backend
      .log('delta')
      .slice(-2)
      .map((e) => e.status),
    [200, 206],
  );
});

t.test('missing-delta turns a registered delta into 404 until cleared', async (t) => {
  const { backend, r101, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  const file = join(t.testdir(), 'delta.bin');
  writeFileSync(file, 'opaque');
  await backend.delta.addDelta({ src: r101.manifest.digest, dest: r102.manifest.digest, file });
  backend.faults.set('delta', { kind: 'missing-delta' });
  const missing = await fetch(query(backend.urls.delta, r101.manifest.digest, r102.manifest.digest));
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: 'no delta' });
  backend.faults.clear('delta');
  t.equal((await fetch(query(backend.urls.delta, r101.manifest.digest, r102.manifest.digest))).status, 200);
  t.same(
    backend.log('delta').map((e) => e.fault),
    ['missing-delta', undefined],
  );
});

t.test('the delta URL is absolute for whoever asked: the guest gets the lab host address', async (t) => {
  const { backend, r101, r102 } = await publishedBackend(t);
  const file = join(t.testdir(), 'delta.bin');
  writeFileSync(file, 'opaque');
  const { digest } = await backend.delta.addDelta({ src: r101.manifest.digest, dest: r102.manifest.digest, file });
  const port = new URL(backend.urls.delta).port;
  t.equal(backend.guestUrls.delta, `http://${GUEST_HOST}:${port}`);
  // QEMU user networking keeps the guest's Host header when it forwards to 127.0.0.1.
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get(
        query(backend.urls.delta, r101.manifest.digest, r102.manifest.digest),
        { headers: { Host: `${GUEST_HOST}:${port}`, ...backend.operatorHeaders() } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve(text));
        },
      )
      .on('error', reject);
  });
  t.equal((JSON.parse(body) as { url: string }).url, `http://${GUEST_HOST}:${port}/v1/deltas/blobs/${digest}`);
});

t.test('one delta per format: the answer is the best format the updater says it reads', async (t) => {
  const { backend, r101, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  const dir = t.testdir();
  writeFileSync(join(dir, 'f1'), 'format one');
  writeFileSync(join(dir, 'f2'), 'format two');
  const pair = { src: r101.manifest.digest, dest: r102.manifest.digest };
  const one = await backend.delta.addDelta({ ...pair, file: join(dir, 'f1') });
  t.equal(one.format, 1, 'format 1 unless said');
  const digestFor = async (formats?: string) => {
    const q = query(backend.urls.delta, pair.src, pair.dest) + (formats === undefined ? '' : `&formats=${formats}`);
    const r = await fetch(q);
    return r.status === 200 ? ((await r.json()) as { digest: string }).digest : r.status;
  };
  t.equal(await digestFor('1,2'), one.digest, 'only format 1 made yet: format 1');
  t.equal(await digestFor('2'), 404, 'an updater reading format 2 only gets no delta');
  const two = await backend.delta.addDelta({ ...pair, file: join(dir, 'f2'), format: 2 });
  t.equal(await digestFor('1,2'), two.digest, 'reads 1 and 2: gets 2');
  t.equal(await digestFor('2,1'), two.digest, 'in any order');
  t.equal(await digestFor(), one.digest, 'an updater that does not say (older ones) gets format 1');
  t.equal(await digestFor('1'), one.digest);
  t.equal(await digestFor('x'), 400);
  t.equal(backend.delta.deltas().length, 2);
});
