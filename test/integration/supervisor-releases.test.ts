/**
 * Supervisor releases end to end on the host: two releases built for amd64 into OCI image
 * layouts (valid, labelled, reproducible: a rebuild in an empty cache gives the same digest),
 * published by a started backend, listed by its API for the operator and for a device, pulled
 * back with huplab's RegistryClient (manifest and layer checked against their digests), and
 * read by skopeo, a standard client.
 */
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildSupervisor, type SupervisorBuild } from '../../images/builder/supervisor-build.ts';
import { loadSupervisorRelease } from '../../images/supervisor-recipe.ts';
import { startBackend } from '../../harness/backend/index.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { RegistryClient } from '../../lib/oci/client.ts';
import { sha256Digest } from '../../lib/oci/digest.ts';
import { readImageLayout } from '../../lib/oci/layout.ts';
import { fileDigest } from './backend-fixture.ts';

const run = promisify(execFile);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'huplab/supervisor-amd64';
const VERSIONS = ['16.9.0', '17.0.0'] as const;

/** Builds with HUPLAB_CACHE pointing at `cache` for the length of the call. */
async function buildIn(cache: string, version: string): Promise<SupervisorBuild> {
  const prev = process.env.HUPLAB_CACHE;
  process.env.HUPLAB_CACHE = cache;
  try {
    return await buildSupervisor(await loadSupervisorRelease(version), 'amd64');
  } finally {
    if (prev === undefined) delete process.env.HUPLAB_CACHE;
    else process.env.HUPLAB_CACHE = prev;
  }
}

const caches = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'huplab-supervisor-cache-')));
t.teardown(() => {
  for (const c of caches) rmSync(c, { recursive: true, force: true });
});

let built: Promise<Map<string, SupervisorBuild>> | undefined;
function builds(): Promise<Map<string, SupervisorBuild>> {
  // One after the other: buildIn points HUPLAB_CACHE at the cache for the length of a build.
  built ??= (async () => {
    const out = new Map<string, SupervisorBuild>();
    for (const v of VERSIONS) out.set(v, await buildIn(caches[0]!, v));
    return out;
  })();
  return built;
}

function configOf(b: SupervisorBuild): {
  architecture: string;
  os: string;
  created: string;
  config: { Labels: Record<string, string> };
} {
  const blob = (d: string) => readFileSync(join(b.image.dir, 'blobs', 'sha256', d.slice(7)));
  const manifest = JSON.parse(blob(b.image.manifest.digest).toString('utf8')) as { config: { digest: string } };
  return JSON.parse(blob(manifest.config.digest).toString('utf8'));
}

t.test('each release builds into a valid, labelled OCI layout; a rebuild gives the same digest', async (t) => {
  const all = await builds();
  for (const version of VERSIONS) {
    const b = all.get(version)!;
    t.equal(b.cached, false, `${version}: built`);
    const layout = await readImageLayout({ layoutDir: b.image.dir, manifestTypes: [OCI_MANIFEST], what: 'supervisor' });
    t.equal(layout.manifestDescriptor.digest, b.image.manifest.digest, `${version}: the layout's one manifest`);
    t.same(
      layout.layers.map((l) => l.digest),
      [b.image.layer.digest],
      'one layer',
    );
    t.equal(
      await fileDigest(layout.blobPath(b.image.layer.digest)),
      b.image.layer.digest,
      'the layer hashes to its name',
    );
    const config = configOf(b);
    t.match(config, { architecture: 'amd64', os: 'linux', created: (await loadSupervisorRelease(version)).date });
    t.match(config.config.Labels, {
      'io.balena.supervisor.version': version,
      'io.balena.supervisor.arch': 'amd64',
      'io.balena.supervisor.min-os-version': '2.12.0',
    });

    // The layer: the agent with its version baked in, its release record, its changelog.
    const dir = t.testdir();
    const listing = await run('tar', ['-tvzf', layout.blobPath(b.image.layer.digest)]);
    const date = (await loadSupervisorRelease(version)).date.slice(0, 10);
    for (const f of ['CHANGELOG.md', 'supervisor-release.json', 'supervisor.mjs'])
      t.match(
        listing.stdout,
        new RegExp(`^-rw-r--r-- 0/0 +\\d+ ${date} 00:00 \\./${f.replace('.', '\\.')}$`, 'm'),
        `${f}: mode 0644, owner 0, the release date`,
      );
    await run('tar', ['-xzf', layout.blobPath(b.image.layer.digest), '-C', dir]);
    const code = readFileSync(join(dir, 'supervisor.mjs'), 'utf8');
    t.ok(code.includes(JSON.stringify(version)), `${version} is baked into the agent`);
    t.notMatch(code, /HUPLAB_SUPERVISOR_VERSION/, 'no define left unreplaced');
    t.same(JSON.parse(readFileSync(join(dir, 'supervisor-release.json'), 'utf8')), {
      version,
      date: (await loadSupervisorRelease(version)).date,
      arch: 'amd64',
      minOsVersion: '2.12.0',
    });

    const again = await buildIn(caches[0]!, version);
    t.equal(again.cached, true, `${version}: the second build is a cache hit`);
    const fresh = await buildIn(caches[1]!, version);
    t.equal(fresh.cached, false, `${version}: rebuilt from nothing in another cache`);
    t.equal(fresh.key, b.key, 'same key');
    t.equal(fresh.image.manifest.digest, b.image.manifest.digest, `${version}: same digest`);
    t.equal(fresh.image.layer.digest, b.image.layer.digest, 'same layer');
  }
  t.not(all.get('16.9.0')!.image.manifest.digest, all.get('17.0.0')!.image.manifest.digest, 'two releases, two images');
});

t.test('published by the backend: listed at the API, pulled back verified, read by skopeo', async (t) => {
  const all = await builds();
  const backend = await startBackend();
  t.teardown(() => backend.stop());
  for (const v of VERSIONS) {
    const b = all.get(v)!;
    const record = await backend.publishSupervisor({
      version: v,
      arch: 'amd64',
      imageDir: b.image.dir,
      manifestDigest: b.image.manifest.digest,
    });
    t.same(record, {
      version: v,
      arch: 'amd64',
      minOsVersion: '2.12.0',
      image: { repository: REPO, tag: v, manifestDigest: b.image.manifest.digest },
    });
  }

  // A wrong image never gets the tag: 16.9.0's layout published as 16.9.1 is refused.
  const wrong = await backend
    .publishSupervisor({
      version: '16.9.1',
      arch: 'amd64',
      imageDir: all.get('16.9.0')!.image.dir,
      manifestDigest: all.get('16.9.0')!.image.manifest.digest,
    })
    .catch((e: unknown) => e);
  t.ok(isHuplabError(wrong, 'supervisor-invalid'));
  if (isHuplabError(wrong))
    t.match(wrong.oneLine(), /its io\.balena\.supervisor\.version label is "16\.9\.0", not "16\.9\.1"/);
  const wrongArch = await backend
    .publishSupervisor({
      version: '16.9.0',
      arch: 'arm64',
      imageDir: all.get('16.9.0')!.image.dir,
      manifestDigest: all.get('16.9.0')!.image.manifest.digest,
    })
    .catch((e: unknown) => e);
  t.ok(isHuplabError(wrongArch, 'supervisor-invalid'), 'an amd64 image is not published as arm64');
  t.notOk(backend.primary.repositories().includes('huplab/supervisor-arm64'), 'and no repository was made for it');

  // The API, for the operator and for any device; nobody else.
  const api = backend.urls.api;
  const expected = VERSIONS.map((v) => ({
    version: v,
    arch: 'amd64',
    minOsVersion: '2.12.0',
    image: { repository: REPO, tag: v, manifestDigest: all.get(v)!.image.manifest.digest },
  }));
  const deviceKey = backend.registerDevice('0123456789abcdef');
  for (const [who, headers] of [
    ['operator', backend.operatorHeaders()],
    ['device', { authorization: `Bearer ${deviceKey}` }],
  ] as const) {
    const res = await fetch(`${api}/v1/supervisor-releases`, { headers });
    t.equal(res.status, 200, `${who}: 200`);
    t.same(await res.json(), { supervisorReleases: expected }, `${who}: both releases, oldest first`);
  }
  t.equal((await fetch(`${api}/v1/supervisor-releases`)).status, 401, 'no credentials: 401');
  const op = backend.operatorHeaders();
  t.same(await (await fetch(`${api}/v1/supervisor-releases?arch=amd64`, { headers: op })).json(), {
    supervisorReleases: expected,
  });
  t.same(await (await fetch(`${api}/v1/supervisor-releases?arch=arm64`, { headers: op })).json(), {
    supervisorReleases: [],
  });
  const badArch = await fetch(`${api}/v1/supervisor-releases?arch=riscv64`, { headers: op });
  t.equal(badArch.status, 400);
  t.match(await badArch.json(), { error: /"riscv64" is not a CPU architecture/ });
  const one = await fetch(`${api}/v1/supervisor-releases/17.0.0?arch=amd64`, { headers: op });
  t.same(await one.json(), expected[1]);
  const missing = await fetch(`${api}/v1/supervisor-releases/18.0.0?arch=amd64`, { headers: op });
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: 'supervisor 18.0.0 is not published for amd64 (published: 16.9.0, 17.0.0)' });

  // Pulled back as a device would: by tag, then the layer by digest, each checked.
  const b17 = all.get('17.0.0')!;
  for (const [registry, credentials] of [
    [backend.urls.primaryRegistry, { token: backend.auth.operatorToken }],
    [backend.urls.fallbackRegistry, { token: deviceKey }],
  ] as const) {
    const client = new RegistryClient(registry, { retries: 0, credentials });
    t.same(await client.listTags(REPO), ['16.9.0', '17.0.0']);
    const m = await client.getManifest(REPO, '17.0.0');
    t.equal(m.digest, b17.image.manifest.digest, `${registry}: the manifest's digest is the build's`);
    t.equal(sha256Digest(m.bytes), b17.image.manifest.digest);
    const byDigest = await client.getManifest(REPO, b17.image.manifest.digest);
    t.ok(byDigest.bytes.equals(m.bytes), 'and by digest');
    t.same(
      m.manifest.layers.map((l) => l.digest),
      [b17.image.layer.digest],
    );
    const dest = join(t.testdir(), 'layer');
    const got = await client.fetchBlob(REPO, b17.image.layer.digest, dest);
    t.equal(got.digest, b17.image.layer.digest, 'the layer arrives verified');
    t.equal(await fileDigest(dest), b17.image.layer.digest, 'its bytes hash to its digest');
  }

  // skopeo, a standard client, with the operator token (the challenge names no token service).
  const haveSkopeo = spawnSync('skopeo', ['--version']).status === 0;
  if (!haveSkopeo) {
    t.fail('skopeo is not installed (scripts/bootstrap.sh installs it)');
    return;
  }
  const host = backend.urls.primaryRegistry.replace(/^http:\/\//, '');
  const env = { ...process.env, HOME: t.testdir() };
  const creds = ['--registry-token', backend.auth.operatorToken];
  const inspect = await run('skopeo', ['inspect', '--tls-verify=false', ...creds, `docker://${host}/${REPO}:17.0.0`], {
    env,
    timeout: 60_000,
  });
  const info = JSON.parse(inspect.stdout) as {
    Digest: string;
    Architecture: string;
    Labels: Record<string, string>;
    Layers: string[];
    RepoTags: string[];
  };
  t.equal(info.Digest, b17.image.manifest.digest, 'skopeo sees the build digest');
  t.equal(info.Architecture, 'amd64');
  t.equal(info.Labels['io.balena.supervisor.version'], '17.0.0', 'and reads the config blob');
  t.same(info.Layers, [b17.image.layer.digest]);
  t.same(info.RepoTags, ['16.9.0', '17.0.0']);
  const raw = await run(
    'skopeo',
    ['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${host}/${REPO}:16.9.0`],
    {
      env,
      timeout: 60_000,
    },
  );
  t.equal(sha256Digest(Buffer.from(raw.stdout)), all.get('16.9.0')!.image.manifest.digest, '--raw: the bytes');
  // Without credentials the registry answers its 401 challenge, which skopeo cannot meet.
  const refused = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/${REPO}:17.0.0`], {
    env,
    timeout: 60_000,
  }).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  t.ok(refused && refused.code !== 0, 'no credentials, no image');
  t.match(
    refused?.stderr ?? '',
    /scope=repository%3Ahuplab%2Fsupervisor-amd64%3Apull|401|unauthorized/i,
    'refused at the challenge',
  );
});
