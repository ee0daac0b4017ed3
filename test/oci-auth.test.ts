/**
 * The OCI client against small registries of the test's own: the token flow (anonymous and with
 * credentials), Basic challenges, wrong credentials, blob redirects to another host, and an https
 * registry whose CA is given as caCertificate.
 */
import { labCertificates } from '../suites/reference-registry.ts';
import t from 'tap';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseChallenges, parseCredentials } from '../lib/oci/auth.ts';
import { OCI_MANIFEST_MEDIA_TYPE, RegistryClient } from '../lib/oci/client.ts';
import { sha256Digest } from '../lib/oci/digest.ts';
import { errorDetail } from '../lib/oci/failure.ts';
import { isHuplabError } from '../lib/errors.ts';

const REPO = 'huplab/test';
const LAYER = Buffer.from('layer bytes '.repeat(1000));
const LAYER_DIGEST = sha256Digest(LAYER);
const CONFIG = Buffer.from('{"config":{}}');
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256Digest(CONFIG),
      size: CONFIG.length,
    },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: LAYER_DIGEST, size: LAYER.length }],
  }),
);

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

async function serve(
  t: { teardown(fn: () => unknown): void },
  handler: Handler,
  tls?: { key: string; cert: string },
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    handler(req, res, url);
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, seen };
}

function ociError(res: http.ServerResponse, status: number, code: string, message: string, extra = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...extra });
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}

/** Registry content behind whatever authorization check `allowed` makes. */
function registry(
  allowed: (authorization: string | undefined) => boolean,
  challenge: string,
  opts: { blobRedirect?: string } = {},
): Handler {
  return (req, res, url) => {
    if (!allowed(req.headers.authorization)) {
      ociError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'WWW-Authenticate': challenge });
      return;
    }
    if (url.pathname === '/v2/') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
    } else if (url.pathname === `/v2/${REPO}/manifests/1.0`) {
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST_MEDIA_TYPE, 'Docker-Content-Digest': sha256Digest(MANIFEST) });
      res.end(MANIFEST);
    } else if (url.pathname === `/v2/${REPO}/blobs/${LAYER_DIGEST}`) {
      if (opts.blobRedirect) {
        res.writeHead(307, { Location: `${opts.blobRedirect}/layer?X-Amz-Signature=secret` });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Length': LAYER.length });
      res.end(LAYER);
    } else if (url.pathname === `/v2/${REPO}/tags/list`) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: REPO, tags: ['1.0'] }));
    } else {
      ociError(res, 404, 'NOT_FOUND', 'no such thing');
    }
  };
}

/** A token service: a token per scope, to anyone or only to alice:secret. */
function tokenService(onlyFor?: string): Handler {
  return (req, res, url) => {
    if (onlyFor && req.headers.authorization !== `Basic ${Buffer.from(onlyFor).toString('base64')}`) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `tok-${url.searchParams.getAll('scope').join('+') || 'none'}`, expires_in: 300 }));
  };
}

t.test('WWW-Authenticate and --creds parsing', async (t) => {
  t.same(
    parseChallenges(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
    [
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      },
    ],
  );
  t.same(parseChallenges(['Basic realm="Registry Realm"', 'Bearer realm=http://x/t']), [
    { scheme: 'basic', params: { realm: 'Registry Realm' } },
    { scheme: 'bearer', params: { realm: 'http://x/t' } },
  ]);
  t.same(parseChallenges(undefined), []);
  t.same(parseCredentials('alice:se:cret'), { username: 'alice', password: 'se:cret' });
  t.same(parseCredentials('opaque-token'), { token: 'opaque-token' });
});

t.test('token flow, anonymous: the realm gives a pull token, the request is repeated with it', async (t) => {
  const auth = await serve(t, tokenService());
  const scope = `repository:${REPO}:pull`;
  const reg = await serve(
    t,
    registry(
      (a) => a === `Bearer tok-${scope}`,
      `Bearer realm="${auth.url}/token",service="test-registry",scope="${scope}"`,
    ),
  );
  const client = new RegistryClient(reg.url, { retries: 0 });
  const m = await client.getManifest(REPO, '1.0');
  t.equal(m.digest, sha256Digest(MANIFEST));
  const dest = join(t.testdir(), 'layer');
  await client.fetchBlob(REPO, LAYER_DIGEST, dest, { expectedSize: LAYER.length });
  t.ok(readFileSync(dest).equals(LAYER));
  t.same(await client.listTags(REPO), ['1.0']);
  t.same(
    auth.seen.map((s) => [s.url, s.authorization ?? null]),
    [[`/token?service=test-registry&scope=${encodeURIComponent(scope)}`, null]],
    'one token request, anonymous, for the scope the registry named',
  );
  t.same(
    reg.seen.map((s) => s.authorization ?? null),
    [null, `Bearer tok-${scope}`, `Bearer tok-${scope}`, `Bearer tok-${scope}`],
    'only the first request went without the token',
  );
});

t.test('token flow with credentials: Basic to the realm, Bearer to the registry', async (t) => {
  const auth = await serve(t, tokenService('alice:secret'));
  const reg = await serve(
    t,
    registry(
      (a) => a === `Bearer tok-repository:${REPO}:pull`,
      `Bearer realm="${auth.url}/token",service="test-registry",scope="repository:${REPO}:pull"`,
    ),
  );
  const client = new RegistryClient(reg.url, { retries: 0, credentials: { username: 'alice', password: 'secret' } });
  t.equal((await client.getManifest(REPO, '1.0')).digest, sha256Digest(MANIFEST));
  t.equal(auth.seen[0]?.authorization, `Basic ${Buffer.from('alice:secret').toString('base64')}`);

  const wrong = new RegistryClient(reg.url, { retries: 0, credentials: { username: 'alice', password: 'nope' } });
  const err = await wrong.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unauthorized'), String(err));
  const line = (err as { oneLine(): string }).oneLine();
  t.equal(
    line,
    `registry ${reg.url}: the token service ${auth.url}/token refused a token for user "alice" for repository:${REPO}:pull: 401 UNAUTHORIZED: invalid username or password (check the registry credentials)`,
  );
  t.notMatch(line, /nope/, 'the password is not in the message');

  const anonymous = new RegistryClient(reg.url, { retries: 0 });
  const anonErr = await anonymous.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.ok(isHuplabError(anonErr, 'unauthorized'));
  t.match((anonErr as Error).message, /refused a token anonymously/);
});

t.test('Basic challenge: credentials sent after the 401; wrong or none is one line', async (t) => {
  const good = `Basic ${Buffer.from('bob:pw').toString('base64')}`;
  const reg = await serve(
    t,
    registry((a) => a === good, 'Basic realm="Registry Realm"'),
  );
  const client = new RegistryClient(reg.url, { retries: 0, credentials: { username: 'bob', password: 'pw' } });
  await client.pingRegistry();
  t.equal((await client.getManifest(REPO, '1.0')).digest, sha256Digest(MANIFEST));
  t.same(
    reg.seen.map((s) => s.authorization ?? null),
    [null, good, good],
    'one challenge, then Basic on every request',
  );

  const wrong = new RegistryClient(reg.url, { retries: 0, credentials: { username: 'bob', password: 'bad' } });
  const err = await wrong.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unauthorized'));
  t.equal(
    (err as { oneLine(): string }).oneLine(),
    `registry ${reg.url}: GET /v2/${REPO}/manifests/1.0 answered 401 with the credentials given: UNAUTHORIZED: authentication required (check the registry credentials)`,
  );
  const none = new RegistryClient(reg.url, { retries: 0 });
  const noneErr = await none.fetchBlob(REPO, LAYER_DIGEST, join(t.testdir(), 'x')).catch((e: unknown) => e);
  t.ok(isHuplabError(noneErr, 'unauthorized'));
  t.match((noneErr as Error).message, /answered 401 without credentials: UNAUTHORIZED/);
});

t.test('a blob redirected to another host is followed without the Authorization header', async (t) => {
  const cdn = await serve(t, (_req, res, url) => {
    if (url.pathname !== '/layer') return ociError(res, 404, 'NOT_FOUND', 'no');
    res.writeHead(200, { 'Content-Length': LAYER.length });
    res.end(LAYER);
  });
  // Another origin: "localhost" instead of 127.0.0.1, so the port alone does not make it differ.
  const cdnUrl = cdn.url.replace('127.0.0.1', 'localhost');
  const token = 'Bearer opaque-api-key';
  const reg = await serve(
    t,
    registry((a) => a === token, 'Bearer realm="huplab"', { blobRedirect: cdnUrl }),
  );
  const client = new RegistryClient(reg.url, { retries: 0, credentials: { token: 'opaque-api-key' } });
  const dest = join(t.testdir(), 'layer');
  const got = await client.fetchBlob(REPO, LAYER_DIGEST, dest, { expectedSize: LAYER.length });
  t.equal(got.digest, LAYER_DIGEST);
  t.ok(readFileSync(dest).equals(LAYER));
  t.same(
    reg.seen.map((s) => s.authorization),
    [token],
    'the registry got the token',
  );
  t.same(
    cdn.seen.map((s) => [s.url, s.authorization ?? null]),
    [['/layer?X-Amz-Signature=secret', null]],
    'the CDN did not',
  );

  // The same registry refuses another token in one line, without asking a token service.
  const wrong = new RegistryClient(reg.url, { retries: 0, credentials: { token: 'stale-key' } });
  const err401 = await wrong.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err401, 'unauthorized'), String(err401));
  t.match((err401 as Error).message, /answered 401 with the credentials given: UNAUTHORIZED/);
  const viaHeaders = new RegistryClient(reg.url, { retries: 0, headers: { Authorization: 'Bearer stale-key' } });
  const err401c = await viaHeaders.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.match((err401c as Error).message, /answered 401 with the credentials given/, 'an Authorization header counts');
  const userOnly = new RegistryClient(reg.url, { retries: 0, credentials: { username: 'a', password: 'b' } });
  const err401b = await userOnly.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.match((err401b as Error).message, /answered 401 with the credentials given/, 'no realm URL: nothing to ask');

  // A CDN's failure is one line without its HTML page.
  const broken = await serve(t, (_req, res) => {
    res.writeHead(403, { 'Content-Type': 'text/html' });
    res.end('<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1></body></html>');
  });
  const reg2 = await serve(
    t,
    registry(() => true, '', { blobRedirect: broken.url }),
  );
  const err = await new RegistryClient(reg2.url, { retries: 0 })
    .fetchBlob(REPO, LAYER_DIGEST, join(t.testdir(), 'y'))
    .catch((e: unknown) => e);
  t.ok(isHuplabError(err));
  t.notMatch((err as Error).message, /<|\n/);
  t.match((err as Error).message, /answered 403.*an HTML page titled "403 Forbidden"/);
  t.equal(
    errorDetail(Buffer.from('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Expired</Message></Error>')),
    'AccessDenied: Expired',
  );
});

t.test('too many redirects is one line', async (t) => {
  const loop = await serve(t, (_req, res, url) => {
    res.writeHead(302, { Location: url.pathname });
    res.end();
  });
  const err = await new RegistryClient(loop.url, { retries: 0 })
    .fetchBlob(REPO, LAYER_DIGEST, join(t.testdir(), 'z'))
    .catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unreachable'));
  t.match((err as Error).message, /more than 5 redirects/);
});

t.test('https registry with its own CA, given as caCertificate', async (t) => {
  const dir = t.testdir();
  const certs = labCertificates(dir);
  const ca = certs.caPem;
  const reg = await serve(
    t,
    registry(() => true, ''),
    {
      key: readFileSync(certs.key, 'utf8'),
      cert: readFileSync(certs.certificate, 'utf8'),
    },
  );
  const trusting = new RegistryClient(reg.url, { retries: 0, caCertificate: ca });
  t.equal((await trusting.getManifest(REPO, '1.0')).digest, sha256Digest(MANIFEST));
  const dest = join(dir, 'layer');
  await trusting.fetchBlob(REPO, LAYER_DIGEST, dest);
  t.ok(readFileSync(dest).equals(LAYER));

  const plain = new RegistryClient(reg.url, { retries: 0 });
  const err = await plain.getManifest(REPO, '1.0').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unreachable'), String(err));
  t.match((err as Error).message, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|self[- ]signed|unable to verify/i);
});

t.test('an expired token is replaced at the realm, mid-download', async (t) => {
  let generation = 1;
  let issued = 0;
  const auth = await serve(t, (_req, res) => {
    issued++;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ access_token: `gen-${generation}` }));
  });
  const reg = await serve(
    t,
    registry((a) => a === `Bearer gen-${generation}`, `Bearer realm="${auth.url}/token",service="s"`),
  );
  const client = new RegistryClient(reg.url, { retries: 0 });
  await client.getManifest(REPO, '1.0');
  generation = 2; // the registry now refuses gen-1, as it would an expired token
  const dest = join(t.testdir(), 'layer');
  await client.fetchBlob(REPO, LAYER_DIGEST, dest, { expectedSize: LAYER.length });
  t.ok(readFileSync(dest).equals(LAYER));
  t.equal(issued, 2, 'one token per generation');
  t.same(
    auth.seen.map((s) => new URL(s.url, 'http://x').searchParams.get('scope')),
    [`repository:${REPO}:pull`, `repository:${REPO}:pull`],
    'the scope comes from the client when the challenge names none',
  );
});

t.test('a redirect within the registry keeps the Authorization header', async (t) => {
  const token = 'Bearer key';
  const reg = await serve(t, (req, res, url) => {
    if (req.headers.authorization !== token) return ociError(res, 401, 'UNAUTHORIZED', 'no', {});
    if (url.pathname === `/v2/${REPO}/blobs/${LAYER_DIGEST}`) {
      res.writeHead(302, { Location: '/storage/layer' });
      return res.end();
    }
    res.writeHead(200, { 'Content-Length': LAYER.length });
    res.end(LAYER);
  });
  const client = new RegistryClient(reg.url, { retries: 0, credentials: { token: 'key' } });
  await client.fetchBlob(REPO, LAYER_DIGEST, join(t.testdir(), 'layer'));
  t.same(
    reg.seen.map((s) => [s.url, s.authorization]),
    [
      [`/v2/${REPO}/blobs/${LAYER_DIGEST}`, token],
      ['/storage/layer', token],
    ],
  );
});
