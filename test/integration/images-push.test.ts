/**
 * `huplab images push` against the reference registry (Debian's docker-registry, the CNCF
 * distribution registry), started on a free loopback port with its storage in the test's
 * directory: anonymous, with htpasswd (Basic) auth, and with token auth (a token service of the
 * test's own signing JWTs with a certificate the registry trusts). The hostapp is pulled back with
 * huplab's own client and must have the digests of the release build.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHuplabError } from '../../lib/errors.ts';
import { RegistryClient, type RegistryClientOptions } from '../../lib/oci/client.ts';
import { releases } from './backend-fixture.ts';
import {
  haveDockerRegistry,
  labCertificates,
  startDockerRegistry,
  startTokenService,
  tokenIssuerCertificate,
} from '../../suites/reference-registry.ts';

// The first test builds the release when the cache does not have it yet; four registries and
// eight CLI runs take about 20 s on an idle two-core host, several times that on a busy one.
t.setTimeout(900_000);

const bin = join(import.meta.dirname, '..', '..', 'bin', 'huplab');
const REPO = 'huplab/generic-amd64';

const noRegistry = haveDockerRegistry() ? false : 'docker-registry is not installed (scripts/bootstrap.sh installs it)';

/** The reference registry, stopped at the test's end. */
async function startRegistry(
  t: Test,
  dir: string,
  auth = '',
  tls?: { certificate: string; key: string },
): Promise<string> {
  const registry = await startDockerRegistry(dir, auth, tls);
  t.teardown(registry.stop);
  return registry.url;
}

/** The CLI as a user runs it; asynchronous, so servers of this process (the token service) answer meanwhile. */
async function huplab(args: string[], env: Record<string, string> = {}) {
  const child = spawn(bin, args, {
    env: { ...process.env, HUPLAB_QUIET: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const status = await new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const errLines = stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
  return { status, stdout, stderr, errLines };
}

/** Pulls manifest, config and layer back with huplab's client: every digest must be the build's. */
async function pullBack(t: Test, url: string, opts: RegistryClientOptions = {}): Promise<void> {
  // Not t.testdir(): a second call would wipe the registry's storage made by the first.
  const dir = mkdtempSync(join(tmpdir(), 'huplab-pull-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { r102 } = await releases();
  const client = new RegistryClient(url, { retries: 0, ...opts });
  const m = await client.getManifest(REPO, '2.102.0');
  t.equal(m.digest, r102.manifest.digest, 'the registry serves the manifest digest of the release build');
  t.ok(m.bytes.equals(readFileSync(join(r102.dir, 'blobs', 'sha256', r102.manifest.digest.slice(7)))), 'same bytes');
  for (const d of [m.manifest.config, ...m.manifest.layers]) {
    const got = await client.fetchBlob(REPO, d.digest, join(dir, d.digest.slice(7)), { expectedSize: d.size });
    t.equal(got.digest, d.digest, `blob ${d.digest.slice(0, 19)} verified`);
  }
  t.equal(m.manifest.layers[0]!.digest, r102.layer.digest);
}

t.test('push to an anonymous registry; pulled back, digests unchanged', { skip: noRegistry }, async (t) => {
  const { r102 } = await releases();
  const url = await startRegistry(t, t.testdir());
  const args = ['images', 'push', '--release', '2.102.0', '--device', 'generic-amd64', '--registry', url, '--json'];
  const first = await huplab(args);
  t.equal(first.status, 0, first.stderr);
  const result = JSON.parse(first.stdout) as {
    digest: string;
    repository: string;
    reference: string;
    blobs: Array<{ pushed: boolean }>;
  };
  t.equal(result.digest, r102.manifest.digest, 'printed digest is the release build manifest');
  t.equal(result.repository, REPO);
  t.equal(result.reference, `${url.slice(7)}/${REPO}@${r102.manifest.digest}`);
  t.same(
    result.blobs.map((b) => b.pushed),
    [true, true],
    'layer and config sent',
  );
  await pullBack(t, url);

  const again = await huplab(args);
  t.equal(again.status, 0, again.stderr);
  t.same(
    (JSON.parse(again.stdout) as { blobs: Array<{ pushed: boolean }> }).blobs.map((b) => b.pushed),
    [false, false],
    'a second push sends no blob again',
  );
  const human = await huplab(args.slice(0, -1));
  t.match(
    human.stdout,
    new RegExp(`^pushed 127\\.0\\.0\\.1:\\d+/${REPO}:2\\.102\\.0\\ndigest ${r102.manifest.digest}\\n`),
  );
});

t.test(
  'htpasswd (Basic) registry: push and pull with credentials, one line without',
  { skip: noRegistry },
  async (t) => {
    const dir = t.testdir();
    // docker-registry accepts bcrypt only; perl's crypt() is glibc's, which makes bcrypt ($2b$).
    const hash = spawnSync(
      'perl',
      ['-e', 'print crypt($ARGV[0], "\\$2b\\$05\\$" . $ARGV[1])', 's3cret', 'abcdefghijklmnopqrstuu'],
      {
        encoding: 'utf8',
      },
    ).stdout;
    t.match(hash, /^\$2b\$05\$/, 'bcrypt hash made');
    writeFileSync(join(dir, 'htpasswd'), `alice:${hash}\n`);
    const url = await startRegistry(
      t,
      dir,
      ['auth:', '  htpasswd:', '    realm: huplab-test', `    path: ${join(dir, 'htpasswd')}`].join('\n'),
    );
    const push = ['images', 'push', '--release', '2.102.0', '--device', 'generic-amd64', '--registry', url];
    const denied = await huplab(push);
    t.equal(denied.status, 1);
    t.equal(denied.errLines.length, 1, 'one error line');
    t.match(
      denied.errLines[0],
      /registry http:\/\/127\.0\.0\.1:\d+: GET \/v2\/ answered 401 without credentials: UNAUTHORIZED/,
    );

    const pushed = await huplab([...push, '--creds', 'alice:s3cret']);
    t.equal(pushed.status, 0, pushed.stderr);
    const viaEnv = await huplab(push, { HUPLAB_REGISTRY_CREDS: 'alice:s3cret' });
    t.equal(viaEnv.status, 0, 'credentials from HUPLAB_REGISTRY_CREDS');
    await pullBack(t, url, { credentials: { username: 'alice', password: 's3cret' } });

    const anonymous = await new RegistryClient(url, { retries: 0 })
      .getManifest(REPO, '2.102.0')
      .catch((e: unknown) => e);
    t.ok(isHuplabError(anonymous, 'unauthorized'));
    t.equal(
      (anonymous as { oneLine(): string }).oneLine(),
      `registry ${url}: GET /v2/${REPO}/manifests/2.102.0 answered 401 without credentials: UNAUTHORIZED: authentication required (this registry needs credentials (e.g. --creds user:password))`,
    );
    const wrong = await new RegistryClient(url, { retries: 0, credentials: { username: 'alice', password: 'nope' } })
      .getManifest(REPO, '2.102.0')
      .catch((e: unknown) => e);
    t.ok(isHuplabError(wrong, 'unauthorized'));
    t.match((wrong as Error).message, /answered 401 with the credentials given: UNAUTHORIZED/);
    t.notMatch((wrong as Error).message, /\n/);
  },
);

t.test('token-auth registry: Bearer tokens from the realm, with credentials only', { skip: noRegistry }, async (t) => {
  const dir = t.testdir();
  const cert = tokenIssuerCertificate(dir);
  const service = 'huplab-test-registry';
  const issuer = 'huplab-test-issuer';
  const tokens = await startTokenService({
    key: cert.key,
    certPem: cert.certPem,
    service,
    issuer,
    user: 'alice',
    password: 's3cret',
  });
  t.teardown(tokens.stop);
  const url = await startRegistry(
    t,
    dir,
    [
      'auth:',
      '  token:',
      `    realm: ${tokens.url}`,
      `    service: ${service}`,
      `    issuer: ${issuer}`,
      `    rootcertbundle: ${cert.certFile}`,
    ].join('\n'),
  );
  const push = ['images', 'push', '--release', '2.102.0', '--device', 'generic-amd64', '--registry', url];
  const pushed = await huplab([...push, '--creds', 'alice:s3cret']);
  t.equal(pushed.status, 0, pushed.stderr);
  t.ok(
    // The registry names the actions in either order.
    tokens.requests.some((r) => /^basic repository:[^:]+:(pull,push|push,pull)$/.test(r)),
    `a push token was asked for with credentials: ${tokens.requests.join(' | ')}`,
  );
  await pullBack(t, url, { credentials: { username: 'alice', password: 's3cret' } });

  const wrong = await huplab([...push, '--creds', 'alice:wrong']);
  t.equal(wrong.status, 1);
  t.same(wrong.errLines, [
    `huplab: error: registry ${url}: the token service ${tokens.url} refused a token for user "alice" for the registry: 401 UNAUTHORIZED: credentials required (check the registry credentials)`,
  ]);

  const anonymous = await new RegistryClient(url, { retries: 0 }).getManifest(REPO, '2.102.0').catch((e: unknown) => e);
  t.ok(isHuplabError(anonymous, 'unauthorized'));
  t.equal(
    (anonymous as { oneLine(): string }).oneLine(),
    `registry ${url}: the token service ${tokens.url} refused a token anonymously for repository:${REPO}:pull: 401 UNAUTHORIZED: credentials required (this registry needs credentials)`,
  );
});

t.test(
  'https registry with a CA of its own: --ca-cert for the push, caCertificate for the pull',
  { skip: noRegistry },
  async (t) => {
    const dir = t.testdir();
    const certs = labCertificates(dir);
    const url = await startRegistry(t, dir, '', { certificate: certs.certificate, key: certs.key });
    const push = ['images', 'push', '--release', '2.102.0', '--device', 'generic-amd64', '--registry', url];

    const untrusted = await huplab(push);
    t.equal(untrusted.status, 1);
    t.equal(untrusted.errLines.length, 1, 'one error line');
    t.match(
      untrusted.errLines[0],
      /registry https:\/\/127\.0\.0\.1:\d+: GET \/v2\/ failed: .*(self[- ]signed|unable to verify|UNABLE_TO_VERIFY)/i,
    );

    const pushed = await huplab([...push, '--ca-cert', join(dir, 'ca.pem')]);
    t.equal(pushed.status, 0, pushed.stderr);
    await pullBack(t, url, { caCertificate: certs.caPem });
  },
);
