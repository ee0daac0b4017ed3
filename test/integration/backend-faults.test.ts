import t from 'tap';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../../lib/oci/client.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { Faults } from '../../harness/backend/faults.ts';
import { fileDigest, publishedBackend, REPO, asOperator } from './backend-fixture.ts';

t.test('corrupt: one flipped byte gives digest-mismatch and leaves no file', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  backend.faults.set('primary', { kind: 'corrupt', offset: 1_234_567, path: /\/blobs\// });
  const client = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 2,
    retryDelayMs: 10,
  });
  const m = await client.getManifest(REPO, '2.102.0');
  t.equal(m.digest, r102.manifest.digest, 'the fault is limited to blobs: the manifest is intact');
  const dir = t.testdir();
  const err = await client.fetchBlob(REPO, r102.layer.digest, join(dir, 'layer')).catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'digest-mismatch'), `digest-mismatch, got ${String(err)}`);
  t.match(
    (err as Error).message,
    new RegExp(
      `^registry ${backend.urls.primaryRegistry}: blob sha256:${r102.layer.digest.slice(7, 19)} of ${REPO} hashes to sha256:[0-9a-f]{12} over ${r102.layer.size} bytes`,
    ),
  );
  t.same(readdirSync(dir), [], 'neither the blob nor a temporary file is left');
  const blobs = backend.log('primary').filter((e) => e.path.includes('/blobs/'));
  t.same(
    blobs.map((e) => [e.fault, e.bytesSent]),
    [['corrupt', r102.layer.size]],
    'one request, full length sent: a mismatch is not retried',
  );
});

t.test('truncate once: the client resumes with Range and gets the right blob', async (t) => {
  const { backend, r101 } = await publishedBackend(t);
  backend.faults.set('primary', { kind: 'truncate', bytes: 3_000_000, times: 1, path: r101.layer.digest });
  const client = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 2,
    retryDelayMs: 10,
  });
  const dest = join(t.testdir(), 'layer');
  const got = await client.fetchBlob(REPO, r101.layer.digest, dest, { expectedSize: r101.layer.size });
  t.equal(got.resumes, 1);
  t.equal(got.attempts, 2);
  t.equal(await fileDigest(dest), r101.layer.digest);
  const [cut, rest, ...more] = backend.log('primary');
  t.equal(more.length, 0, 'two requests in all');
  t.same([cut?.status, cut?.fault, cut?.bytesSent], [200, 'truncate', 3_000_000]);
  t.equal(rest?.status, 206);
  const resumedAt = Number(/^bytes=(\d+)-$/.exec(rest?.range ?? '')?.[1]);
  t.ok(resumedAt > 0 && resumedAt <= 3_000_000, `resumed at ${resumedAt}, within what was sent`);
  t.equal(rest?.bytesSent, r101.layer.size - resumedAt, 'only the rest was sent again');
  t.equal(client.bytesDownloaded, r101.layer.size, 'the client counted each byte it kept once');
});

t.test('truncate every time: blob-truncated after the retries, no file', async (t) => {
  const { backend, r101 } = await publishedBackend(t);
  backend.faults.set('primary', { kind: 'truncate', bytes: 200_000 });
  const client = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 2,
    retryDelayMs: 10,
  });
  const dir = t.testdir();
  const err = await client.fetchBlob(REPO, r101.layer.digest, join(dir, 'layer')).catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'blob-truncated'), `blob-truncated, got ${String(err)}`);
  t.match((err as Error).message, new RegExp(`ended after \\d+ of ${r101.layer.size} bytes \\(3 attempts`));
  t.same(readdirSync(dir), []);
  t.equal(backend.log('primary').length, 3, 'first attempt and two resumes');
});

t.test('slow: a throttled manifest takes size/rate, an unthrottled one does not', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const client = new RegistryClient(backend.urls.primaryRegistry, { headers: backend.operatorHeaders(), retries: 0 });
  let started = Date.now();
  await client.getManifest(REPO, '2.102.0');
  const fast = Date.now() - started;
  backend.faults.set('primary', { kind: 'slow', bytesPerSecond: 1000 });
  started = Date.now();
  const m = await client.getManifest(REPO, '2.102.0');
  const slow = Date.now() - started;
  t.equal(m.digest, r102.manifest.digest, 'slow, but intact');
  const floor = (r102.manifest.size / 1000) * 1000;
  t.ok(slow >= floor * 0.95, `throttled fetch took ${slow} ms, at least ${floor} ms expected`);
  t.ok(slow > fast + 300, `throttled ${slow} ms vs ${fast} ms unthrottled`);
  t.ok((backend.log('primary')[1]?.durationMs ?? 0) >= floor * 0.95, 'the server log shows the duration');
});

t.test('a stalled body ends with a timeout that says so, for manifests and blobs', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  backend.faults.set('primary', { kind: 'slow', bytesPerSecond: 1 });
  const client = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 0,
    timeoutMs: 300,
  });
  const err = await client.getManifest(REPO, '2.102.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unreachable'));
  t.equal(
    (err as Error).message,
    `registry ${backend.urls.primaryRegistry}: GET /v2/${REPO}/manifests/2.102.0 failed: no data for 300 ms (ETIMEDOUT)`,
  );
  const dir = t.testdir();
  const blobErr = await client.fetchBlob(REPO, r102.layer.digest, join(dir, 'layer')).catch((e: unknown) => e);
  t.ok(isHuplabError(blobErr, 'blob-truncated'));
  t.match((blobErr as Error).message, /last: no data for 300 ms \(ETIMEDOUT\)/);
  t.same(readdirSync(dir), []);
});

t.test('http-error with times: the first request fails, the client retries and succeeds', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  backend.faults.set('primary', { kind: 'http-error', status: 503, times: 1 });
  const retrying = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 1,
    retryDelayMs: 10,
  });
  t.equal((await retrying.getManifest(REPO, '2.102.0')).digest, r102.manifest.digest);
  t.same(
    backend.log('primary').map((e) => e.status),
    [503, 200],
  );
  t.match(backend.faults.list(), [{ group: 'primary', kind: 'http-error', status: 503, times: 1, fired: 1 }]);

  backend.faults.set('primary', { kind: 'http-error', status: 500 });
  const once = new RegistryClient(backend.urls.primaryRegistry, { headers: backend.operatorHeaders(), retries: 0 });
  const err = await once.getManifest(REPO, '2.102.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'http-error'));
  t.equal(
    (err as Error).message,
    `registry ${backend.urls.primaryRegistry}: GET /v2/${REPO}/manifests/2.102.0 answered 500: UNKNOWN: injected fault: http-error 500`,
  );

  backend.faults.set('api', { kind: 'http-error', status: 502 });
  const api = await fetch(`${backend.urls.api}/v1/releases`);
  t.equal(api.status, 502);
  t.same(await api.json(), { error: 'injected fault: http-error 502' });
  backend.faults.clear('api');
  t.equal((await fetch(`${backend.urls.api}/v1/releases`)).status, 200, 'clear(group) lifts it');
  t.equal((await fetch(`${backend.urls.primaryRegistry}/v2/`)).status, 500, 'other groups keep theirs');
  backend.faults.clear();
  t.same(backend.faults.list(), []);
});

t.test('down on the API: the connection is reset', async (t) => {
  const { backend } = await publishedBackend(t);
  const fetch = asOperator(backend);
  backend.faults.set('api', { kind: 'down', path: '^/v1/releases' });
  const err = await fetch(`${backend.urls.api}/v1/releases`).catch((e: unknown) => e as Error);
  t.match((err as Error & { cause?: { code?: string } }).cause?.code, /ECONNRESET|UND_ERR_SOCKET/);
  t.equal((await fetch(`${backend.urls.api}/v1/devices/x`)).status, 404, 'paths outside the regex pass');
  t.same(
    backend.log('api').map((e) => [e.path, e.fault]),
    [
      ['/v1/releases', 'down'],
      ['/v1/devices/x', undefined],
    ],
  );
});

t.test('fault specs are validated; times and path scope are honoured', async (t) => {
  const f = new Faults();
  const invalid = (fn: () => void, re: RegExp) => {
    const err = (() => {
      try {
        fn();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isHuplabError(err, 'fault-invalid'), `fault-invalid for ${re}`);
    t.match((err as Error | undefined)?.message, re);
  };
  invalid(() => f.set('primary', { kind: 'missing-delta' }), /only the delta group/);
  invalid(() => f.set('primary', { kind: 'slow', bytesPerSecond: 0 }), /bytesPerSecond must be an integer >= 1/);
  invalid(() => f.set('primary', { kind: 'http-error', status: 200 }), /status must be 400-599/);
  invalid(() => f.set('nope' as 'api', { kind: 'down' }), /unknown fault group "nope"/);
  invalid(() => f.set('api', { kind: 'explode' } as never), /unknown fault kind "explode"/);
  invalid(() => f.set('api', { kind: 'down', path: '(' }), /path is not a regular expression/);
  t.same(f.list(), [], 'nothing armed by invalid specs');

  f.set('delta', { kind: 'truncate', bytes: 10, times: 2, path: /\/blobs\//g });
  t.equal(f.take('delta', '/v1/deltas?src=x'), undefined, 'outside the path');
  t.same(f.take('delta', '/v1/deltas/blobs/a'), { kind: 'truncate', bytes: 10 });
  t.same(
    f.take('delta', '/v1/deltas/blobs/a'),
    { kind: 'truncate', bytes: 10 },
    'a /g regex still matches twice in a row',
  );
  t.equal(f.take('delta', '/v1/deltas/blobs/a'), undefined, 'spent after times');
  t.same(f.list(), [{ kind: 'truncate', bytes: 10, group: 'delta', path: '\\/blobs\\/', times: 2, fired: 2 }]);
  f.set('delta', { kind: 'missing-delta' });
  t.same(
    f.list().map((x) => x.kind),
    ['missing-delta'],
    'set replaces the group fault',
  );
});
