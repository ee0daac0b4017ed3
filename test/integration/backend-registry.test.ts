import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../../lib/oci/client.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { startBackend } from '../../harness/backend/index.ts';
import { blobPath, DEVICE, fileDigest, publishedBackend, releases, REPO, asOperator } from './backend-fixture.ts';

t.test('manifest by tag and by digest: the published bytes, verified', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const client = new RegistryClient(backend.urls.primaryRegistry, { headers: backend.operatorHeaders(), retries: 0 });
  const byTag = await client.getManifest(REPO, '2.102.0');
  t.equal(byTag.digest, r102.manifest.digest, 'tag 2.102.0 resolves to the build of 2.102.0');
  t.ok(byTag.bytes.equals(readFileSync(blobPath(r102, r102.manifest.digest))), 'bytes are the layout blob');
  t.equal(byTag.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  t.equal(byTag.manifest.layers[0]!.digest, r102.layer.digest);
  const byDigest = await client.getManifest(REPO, r102.manifest.digest);
  t.ok(byDigest.bytes.equals(byTag.bytes));
  t.equal(client.bytesDownloaded, 2 * r102.manifest.size, 'two manifests counted');
});

t.test('the layer downloads verified, and both sides count its bytes', async (t) => {
  const { backend, r101 } = await publishedBackend(t);
  const client = new RegistryClient(backend.urls.primaryRegistry, { headers: backend.operatorHeaders(), retries: 0 });
  const dir = t.testdir();
  const dest = join(dir, 'layer.tar.gz');
  let lastProgress = [0, 0 as number | undefined];
  const got = await client.fetchBlob(REPO, r101.layer.digest, dest, {
    expectedSize: r101.layer.size,
    onProgress: (bytes, total) => {
      lastProgress = [bytes, total];
    },
  });
  t.equal(await fileDigest(dest), r101.layer.digest, 'file content hashes to the layer digest');
  t.same(got, { path: dest, digest: r101.layer.digest, size: r101.layer.size, attempts: 1, resumes: 0 });
  t.same(lastProgress, [r101.layer.size, r101.layer.size], 'progress reached the total');
  t.equal(client.bytesDownloaded, r101.layer.size);
  const url = `${backend.urls.primaryRegistry}/v2/${REPO}/blobs/${r101.layer.digest}`;
  t.same(client.bytesByUrl(), { [url]: r101.layer.size });
  const entry = backend.log('primary').find((e) => e.path.endsWith(r101.layer.digest));
  t.equal(entry?.status, 200);
  t.equal(entry?.bytesSent, r101.layer.size, 'server log counts the bytes sent');
  t.same(readdirSync(dir), ['layer.tar.gz'], 'no temporary file left behind');
});

t.test('blob endpoint: HEAD, Range, digest header; unknown names give OCI errors', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const fetch = asOperator(backend);
  const base = `${backend.urls.primaryRegistry}/v2/${REPO}`;
  const ping = await fetch(`${backend.urls.primaryRegistry}/v2/`);
  t.equal(ping.status, 200);
  t.same(await ping.json(), {});
  const head = await fetch(`${base}/blobs/${r102.layer.digest}`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers.get('content-length'), String(r102.layer.size));
  t.equal(head.headers.get('docker-content-digest'), r102.layer.digest);
  const mhead = await fetch(`${base}/manifests/2.102.0`, { method: 'HEAD' });
  t.equal(mhead.headers.get('docker-content-digest'), r102.manifest.digest);
  t.equal(mhead.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');

  const ranged = await fetch(`${base}/blobs/${r102.layer.digest}`, { headers: { Range: 'bytes=100-199' } });
  t.equal(ranged.status, 206);
  t.equal(ranged.headers.get('content-range'), `bytes 100-199/${r102.layer.size}`);
  const slice = Buffer.from(await ranged.arrayBuffer());
  t.ok(slice.equals(readFileSync(blobPath(r102, r102.layer.digest)).subarray(100, 200)), 'the asked-for bytes');
  const beyond = await fetch(`${base}/blobs/${r102.layer.digest}`, { headers: { Range: `bytes=${r102.layer.size}-` } });
  t.equal(beyond.status, 416);

  const unknownRepo = await fetch(`${backend.urls.primaryRegistry}/v2/huplab/nope/manifests/2.102.0`);
  t.equal(unknownRepo.status, 404);
  t.same(await unknownRepo.json(), {
    errors: [{ code: 'NAME_UNKNOWN', message: 'repository huplab/nope is not known to this registry' }],
  });
  const unknownTag = await fetch(`${base}/manifests/9.9.9`);
  t.match(await unknownTag.json(), { errors: [{ code: 'MANIFEST_UNKNOWN' }] });
  const unknownBlob = await fetch(`${base}/blobs/sha256:${'0'.repeat(64)}`);
  t.match(await unknownBlob.json(), { errors: [{ code: 'BLOB_UNKNOWN' }] });

  const client = new RegistryClient(backend.urls.primaryRegistry, { headers: backend.operatorHeaders(), retries: 0 });
  const err = await client.getManifest('huplab/nope', '2.102.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'not-found'), 'client reports not-found');
  t.equal(
    (err as Error).message,
    `registry ${backend.urls.primaryRegistry}: GET /v2/huplab/nope/manifests/2.102.0 answered 404: NAME_UNKNOWN: repository huplab/nope is not known to this registry`,
  );
});

t.test('with the primary down, the client says so in one line and the fallback serves the release', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const primary = new RegistryClient(backend.urls.primaryRegistry, {
    headers: backend.operatorHeaders(),
    retries: 1,
    retryDelayMs: 10,
  });
  await primary.pingRegistry();
  backend.faults.set('primary', { kind: 'down' });
  backend.clearLog('primary');
  const pingErr = await primary.pingRegistry().catch((e: unknown) => e);
  t.ok(isHuplabError(pingErr, 'unreachable'), 'ping reports the registry down');
  backend.clearLog('primary');
  const err = await primary.getManifest(REPO, '2.102.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unreachable'), `unreachable, got ${String(err)}`);
  t.equal(
    (err as Error).message,
    `registry ${backend.urls.primaryRegistry}: GET /v2/${REPO}/manifests/2.102.0 failed after 2 attempts: connection reset (ECONNRESET)`,
  );
  t.same(
    backend.log('primary').map((e) => [e.status, e.fault]),
    [
      [0, 'down'],
      [0, 'down'],
    ],
    'both attempts hit the fault',
  );

  const fallback = new RegistryClient(backend.urls.fallbackRegistry, {
    headers: backend.operatorHeaders(),
    retries: 0,
  });
  const m = await fallback.getManifest(REPO, '2.102.0');
  t.equal(m.digest, r102.manifest.digest);
  const dest = join(t.testdir(), 'layer');
  await fallback.fetchBlob(REPO, m.manifest.layers[0]!.digest, dest, { expectedSize: m.manifest.layers[0]!.size });
  t.equal(await fileDigest(dest), r102.layer.digest);
  t.equal(fallback.bytesDownloaded, r102.manifest.size + r102.layer.size);
  t.equal(primary.bytesDownloaded, 2, "nothing but the first ping's {} came from the primary");
  t.equal(backend.log('fallback').length, 2);
});

t.test('publishing with onFallbackToo false leaves the fallback without the release', async (t) => {
  const { r101 } = await releases();
  const backend = await startBackend();
  const fetch = asOperator(backend);
  t.teardown(() => backend.stop());
  const rec = await backend.publishRelease({
    deviceType: DEVICE,
    arch: 'amd64',
    version: '2.101.0',
    hostappDir: r101.dir,
    manifestDigest: r101.manifest.digest,
    onFallbackToo: false,
  });
  t.same(backend.primary.repositories(), [REPO]);
  t.same(backend.fallback.repositories(), []);
  t.equal(
    rec.supervisorVersion,
    JSON.parse(
      readFileSync(
        blobPath(r101, JSON.parse(readFileSync(blobPath(r101, r101.manifest.digest), 'utf8')).config.digest),
        'utf8',
      ),
    ).config.Labels['io.balena.supervisor.version'],
    'supervisor version from the hostapp label',
  );
  const res = await fetch(`${backend.urls.fallbackRegistry}/v2/${REPO}/manifests/2.101.0`);
  t.equal(res.status, 404);
  const wrong = await backend
    .publishRelease({
      deviceType: DEVICE,
      arch: 'amd64',
      version: '2.101.0',
      hostappDir: r101.dir,
      manifestDigest: `sha256:${'1'.repeat(64)}`,
    })
    .catch((e: unknown) => e);
  t.ok(isHuplabError(wrong, 'hostapp-invalid'), 'a digest that is not the layout manifest is refused');
});

t.test('the registries refuse anonymous pulls; a device key works as Bearer and as Basic', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const key = backend.registerDevice('puller');
  for (const reg of [backend.urls.primaryRegistry, backend.urls.fallbackRegistry]) {
    const manifest = `${reg}/v2/${REPO}/manifests/2.102.0`;
    const blob = `${reg}/v2/${REPO}/blobs/${r102.layer.digest}`;
    for (const url of [`${reg}/v2/`, manifest, blob]) {
      const anonymous = await globalThis.fetch(url);
      t.equal(anonymous.status, 401, `anonymous ${url}`);
      t.match(await anonymous.json(), { errors: [{ message: /credentials/ }] });
      const wrong = await globalThis.fetch(url, { headers: { Authorization: 'Bearer guess' } });
      t.equal(wrong.status, 401, `a wrong key for ${url}`);
    }
    const anon = new RegistryClient(reg, { retries: 0 });
    await t.rejects(anon.getManifest(REPO, '2.102.0'), 'the client without credentials is refused');
    const basic = `Basic ${Buffer.from(`huplab:${key}`).toString('base64')}`;
    const viaBasic = new RegistryClient(reg, { retries: 0, headers: { authorization: basic } });
    t.equal((await viaBasic.getManifest(REPO, '2.102.0')).digest, r102.manifest.digest, 'Basic with the key');
    const viaBearer = new RegistryClient(reg, { retries: 0, headers: { authorization: `Bearer ${key}` } });
    t.equal((await viaBearer.getManifest(REPO, '2.102.0')).digest, r102.manifest.digest, 'Bearer with the key');
  }
  const logged = JSON.stringify([backend.log('primary'), backend.log('fallback')]);
  t.notOk(logged.includes(key), 'the request log holds no key');
});
