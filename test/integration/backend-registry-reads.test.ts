/**
 * The built-in registry read as the reference registry answers: tag lists and the catalog (with
 * pagination), Accept negotiation between OCI and Docker schema2, the headers of HEAD, and
 * skopeo (a standard client) inspecting and listing it.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RegistryClient } from '../../lib/oci/client.ts';
import { sha256Digest } from '../../lib/oci/digest.ts';
import type { Backend } from '../../harness/backend/index.ts';
import { publishedBackend, REPO } from './backend-fixture.ts';

const run = promisify(execFile);
const OCI = 'application/vnd.oci.image.manifest.v1+json';
const DOCKER = 'application/vnd.docker.distribution.manifest.v2+json';

/**
 * The headers of the lab operator, once the backend checks credentials (operatorHeaders()); none
 * while it is anonymous. Looked up loosely, so this test runs against either.
 */
function operatorHeaders(backend: Backend): Record<string, string> {
  return (backend as unknown as { operatorHeaders?: () => Record<string, string> }).operatorHeaders?.() ?? {};
}

function asOperator(backend: Backend): typeof fetch {
  return (input, init = {}) =>
    fetch(input, { ...init, headers: { ...operatorHeaders(backend), ...(init.headers as Record<string, string>) } });
}

t.test('tag list and catalog, with n/last pagination and a Link header', async (t) => {
  const { backend } = await publishedBackend(t);
  const get = asOperator(backend);
  const base = backend.urls.primaryRegistry;
  const all = await get(`${base}/v2/${REPO}/tags/list`);
  t.equal(all.status, 200);
  t.equal(all.headers.get('docker-distribution-api-version'), 'registry/2.0');
  t.same(await all.json(), { name: REPO, tags: ['2.101.0', '2.102.0'] });

  const first = await get(`${base}/v2/${REPO}/tags/list?n=1`);
  t.same(await first.json(), { name: REPO, tags: ['2.101.0'] });
  t.equal(first.headers.get('link'), `</v2/${REPO}/tags/list?n=1&last=2.101.0>; rel="next"`);
  const second = await get(`${base}/v2/${REPO}/tags/list?n=1&last=2.101.0`);
  t.same(await second.json(), { name: REPO, tags: ['2.102.0'] });
  t.equal(second.headers.get('link'), null, 'no next page after the last tag');
  const bad = await get(`${base}/v2/${REPO}/tags/list?n=x`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { errors: [{ code: 'PAGINATION_NUMBER_INVALID' }] });
  const unknown = await get(`${base}/v2/huplab/nope/tags/list`);
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { errors: [{ code: 'NAME_UNKNOWN' }] });

  const catalog = await get(`${base}/v2/_catalog`);
  t.same(await catalog.json(), { repositories: [REPO] });
  const empty = await get(`${base}/v2/_catalog?n=1&last=${encodeURIComponent(REPO)}`);
  t.same(await empty.json(), { repositories: [] });

  const client = new RegistryClient(base, { retries: 0, headers: operatorHeaders(backend) });
  t.same(await client.listTags(REPO), ['2.101.0', '2.102.0'], 'the client lists them too');
});

t.test('Accept: OCI clients get OCI, Docker-only clients the Docker form, others MANIFEST_UNKNOWN', async (t) => {
  const { backend, r102 } = await publishedBackend(t);
  const get = asOperator(backend);
  const url = `${backend.urls.primaryRegistry}/v2/${REPO}/manifests/2.102.0`;

  for (const accept of [OCI, `${DOCKER}, ${OCI}`, '*/*', undefined]) {
    const res = await get(url, accept ? { headers: { Accept: accept } } : {});
    t.equal(res.headers.get('content-type'), OCI, `Accept ${accept ?? '(none)'}: OCI`);
    t.equal(res.headers.get('docker-content-digest'), r102.manifest.digest);
  }

  const res = await get(url, { headers: { Accept: DOCKER } });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), DOCKER);
  const body = Buffer.from(await res.arrayBuffer());
  const dockerDigest = sha256Digest(body);
  t.equal(res.headers.get('docker-content-digest'), dockerDigest, 'the digest of the bytes sent');
  t.equal(res.headers.get('content-length'), String(body.length));
  t.not(dockerDigest, r102.manifest.digest, 'another manifest, so another digest');
  const m = JSON.parse(body.toString('utf8')) as {
    mediaType: string;
    config: { mediaType: string; digest: string };
    layers: Array<{ mediaType: string; digest: string; size: number }>;
  };
  t.equal(m.mediaType, DOCKER);
  t.equal(m.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  t.same(
    m.layers.map((l) => [l.mediaType, l.digest, l.size]),
    [['application/vnd.docker.image.rootfs.diff.tar.gzip', r102.layer.digest, r102.layer.size]],
    'same blobs under Docker media types',
  );

  const head = await get(url, { method: 'HEAD', headers: { Accept: DOCKER } });
  t.equal(head.status, 200);
  t.equal(head.headers.get('docker-content-digest'), dockerDigest, 'HEAD names the same digest');
  t.equal(head.headers.get('content-length'), String(body.length), 'and the length of the GET body');

  const byDigest = await get(`${backend.urls.primaryRegistry}/v2/${REPO}/manifests/${dockerDigest}`, {
    headers: { Accept: DOCKER },
  });
  t.equal(byDigest.status, 200, 'the Docker form is addressable by its digest');
  t.ok(Buffer.from(await byDigest.arrayBuffer()).equals(body));

  const ociByDigestAsDocker = await get(
    `${backend.urls.primaryRegistry}/v2/${REPO}/manifests/${r102.manifest.digest}`,
    { headers: { Accept: DOCKER } },
  );
  t.equal(ociByDigestAsDocker.status, 404, 'a digest names bytes: no conversion');
  t.match(await ociByDigestAsDocker.json(), { errors: [{ code: 'MANIFEST_UNKNOWN' }] });

  const listOnly = await get(url, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
  t.equal(listOnly.status, 404);
  t.match(await listOnly.json(), {
    errors: [{ code: 'MANIFEST_UNKNOWN', message: /accept header does not support OCI manifests/ }],
  });
  const headMissing = await get(`${backend.urls.primaryRegistry}/v2/${REPO}/manifests/9.9.9`, { method: 'HEAD' });
  t.equal(headMissing.status, 404);
});

t.test('an image with OCI-only layers has no Docker form', async (t) => {
  const { backend } = await publishedBackend(t);
  const get = asOperator(backend);
  const dir = t.testdir();
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer, mediaType: string) => {
    const digest = sha256Digest(data);
    writeFileSync(join(blobs, digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const config = put(Buffer.from('{"config":{"Labels":{}}}'), 'application/vnd.oci.image.config.v1+json');
  const layer = put(Buffer.from('zstd bytes'), 'application/vnd.oci.image.layer.v1.tar+zstd');
  const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI, config, layers: [layer] })), OCI);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [manifest] }));
  await backend.primary.addHostapp({ repository: 'huplab/zstd', tag: '1.0.0', layoutDir: dir });

  const url = `${backend.urls.primaryRegistry}/v2/huplab/zstd/manifests/1.0.0`;
  const res = await get(url, { headers: { Accept: DOCKER } });
  t.equal(res.status, 404);
  t.match(await res.json(), { errors: [{ code: 'MANIFEST_UNKNOWN', message: /has no Docker schema2 form/ }] });
  const oci = await get(url, { headers: { Accept: `${OCI}, ${DOCKER}` } });
  t.equal(oci.status, 200);
  t.equal(oci.headers.get('docker-content-digest'), manifest.digest);
  t.same(await (await get(`${backend.urls.primaryRegistry}/v2/_catalog`)).json(), {
    repositories: ['huplab/generic-amd64', 'huplab/zstd'],
  });
});

/**
 * skopeo's credentials for the backend's registry: none while it is anonymous; the operator token
 * once the backend checks credentials (sent as a bearer token: the backend's challenge names no
 * token service for skopeo to ask).
 */
async function skopeoCreds(backend: Backend): Promise<string[]> {
  const ping = await fetch(`${backend.urls.primaryRegistry}/v2/`);
  if (ping.status !== 401) return [];
  const authorization = Object.entries(operatorHeaders(backend)).find(
    ([k]) => k.toLowerCase() === 'authorization',
  )?.[1];
  const token = /^Bearer\s+(\S+)/i.exec(authorization ?? '')?.[1];
  if (token) return ['--registry-token', token];
  throw new Error('the backend registry asks for credentials: tell skopeoCreds() in this test where they are');
}

const haveSkopeo = spawnSync('skopeo', ['--version']).status === 0;

t.test(
  'skopeo inspects and lists the built-in registry',
  { skip: haveSkopeo ? false : 'skopeo is not installed (scripts/bootstrap.sh installs it)' },
  async (t) => {
    const { backend, r101, r102 } = await publishedBackend(t);
    const host = backend.urls.primaryRegistry.replace(/^http:\/\//, '');
    const creds = await skopeoCreds(backend);
    const env = { ...process.env, HOME: t.testdir() };
    const inspect = await run(
      'skopeo',
      ['inspect', '--tls-verify=false', ...creds, `docker://${host}/${REPO}:2.102.0`],
      {
        env,
        timeout: 60_000,
      },
    );
    const info = JSON.parse(inspect.stdout) as {
      Digest: string;
      Labels: Record<string, string>;
      Layers: string[];
      RepoTags: string[];
    };
    t.equal(info.Digest, r102.manifest.digest, 'skopeo sees the OCI manifest digest');
    t.equal(info.Labels['io.balena.image.version'], '2.102.0', 'and reads the config blob');
    t.same(info.Layers, [r102.layer.digest]);
    t.same(info.RepoTags, ['2.101.0', '2.102.0']);

    const list = await run('skopeo', ['list-tags', '--tls-verify=false', ...creds, `docker://${host}/${REPO}`], {
      env,
      timeout: 60_000,
    });
    t.same(JSON.parse(list.stdout), { Repository: `${host}/${REPO}`, Tags: ['2.101.0', '2.102.0'] });

    const raw = await run(
      'skopeo',
      ['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${host}/${REPO}:2.101.0`],
      { env, timeout: 60_000 },
    );
    t.equal(sha256Digest(Buffer.from(raw.stdout)), r101.manifest.digest, '--raw: the bytes');
  },
);
