/**
 * A lab registry as labs run them, for the suites and the tests: Debian's docker-registry (the
 * CNCF distribution registry) with token authentication served by a token service of our own,
 * behind a front that sends blob downloads to a separate blob store with a 307, as registries
 * backed by S3 or a CDN do. Every server listens on 127.0.0.1 and stops with `stop()`; the
 * registry also stops when this process dies without calling it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes, sign } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { join } from 'node:path';

export interface Running {
  url: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function haveDockerRegistry(): boolean {
  return spawnSync('docker-registry', ['--version']).status === 0;
}

/**
 * docker-registry on a free port with `auth` (YAML lines, indented as under the top level), over
 * https when `tls` names a certificate and key. Its storage is `<dir>/data`.
 */
export async function startDockerRegistry(
  dir: string,
  auth = '',
  tls?: { certificate: string; key: string },
): Promise<Running & { port: number; storage: string }> {
  const port = await freePort();
  const config = join(dir, 'config.yml');
  const storage = join(dir, 'data');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(tls ? ['  tls:', `    certificate: ${tls.certificate}`, `    key: ${tls.key}`] : []),
      auth,
    ].join('\n'),
  );
  // Through a small shell that also stops the registry when this process dies without stop()
  // (a test runner's timeout kills it): no registry outlives its test.
  const watchdog = [
    'docker-registry serve "$1" & r=$!',
    "trap 'kill $r 2>/dev/null; wait $r; exit 0' TERM INT",
    'while kill -0 "$2" 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done',
    'kill $r 2>/dev/null; wait $r',
  ].join('\n');
  const child: ChildProcess = spawn('sh', ['-c', watchdog, 'sh', config, String(process.pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = () =>
    new Promise<void>((r) => {
      if (child.exitCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((r) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        r(true);
      });
      socket.on('error', () => r(false));
    });
    if (ok) return { url, port, storage, stop };
    if (child.exitCode !== null || i > 100) {
      await stop();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function openssl(dir: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

/** A self-signed certificate `<name>.pem` and its key `<name>.key` in `dir` (openssl). */
function selfSigned(dir: string, name: string, subject: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    subject,
  );
}

/** A self-signed certificate and key for a token issuer, in `dir`. */
export function tokenIssuerCertificate(dir: string): { key: string; certPem: string; certFile: string } {
  selfSigned(dir, 'token', '/CN=huplab token issuer');
  const certFile = join(dir, 'token.pem');
  return { key: readFileSync(join(dir, 'token.key'), 'utf8'), certPem: readFileSync(certFile, 'utf8'), certFile };
}

/**
 * A lab CA of its own and a server certificate it signed for 127.0.0.1, in `dir`: an https
 * registry that only a client given the CA trusts.
 */
export function labCertificates(dir: string): { caPem: string; certificate: string; key: string } {
  selfSigned(dir, 'ca', '/CN=huplab lab CA');
  openssl(
    dir,
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  return {
    caPem: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    certificate: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
  };
}

/**
 * A registry token service: RS256 JWTs signed with `key` (its certificate in x5c), granting the
 * asked scopes to `user`:`password` (Basic) and nothing to anyone else. `requests` records each
 * request as "basic <scopes>" or "anonymous <scopes>".
 */
export async function startTokenService(opts: {
  key: string;
  certPem: string;
  service: string;
  issuer: string;
  user: string;
  password: string;
}): Promise<Running & { requests: string[] }> {
  const requests: string[] = [];
  const der = opts.certPem.replace(/-----[^-]+-----|\s/g, '');
  const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const expected = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${req.headers.authorization ? 'basic' : 'anonymous'} ${url.searchParams.getAll('scope').join(' ')}`);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = url.searchParams.getAll('scope').flatMap((s) => {
      const [type, name, actions] = s.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const input = `${b64url({ typ: 'JWT', alg: 'RS256', x5c: [der] })}.${b64url({
      iss: opts.issuer,
      sub: opts.user,
      aud: opts.service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString('hex'),
      access,
    })}`;
    const signature = sign('sha256', Buffer.from(input), opts.key).toString('base64url');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${signature}`, expires_in: 300 }));
  });
  const url = await listen(server);
  return { url: `${url}/token`, requests, stop: () => close(server) };
}

/**
 * A front for `registry` as a CDN-backed registry answers: every request passed through, but a
 * blob GET answered with a 307 to a signed URL of a separate blob store, which serves the blob
 * from the registry's storage. `seen` records each request to the front and the store as
 * "front|store <method> <path> <authorization or ->".
 */
export async function startRedirectingFront(registry: {
  url: string;
  storage: string;
}): Promise<Running & { store: string; seen: string[] }> {
  const seen: string[] = [];
  const secret = randomBytes(16);
  const signature = (digest: string) => createHmac('sha256', secret).update(digest).digest('hex');
  const target = new URL(registry.url);

  const store = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(`store ${req.method} ${url.pathname} ${req.headers.authorization ?? '-'}`);
    const digest = url.pathname.replace(/^\/blobs\//, '');
    const hex = digest.replace(/^sha256:/, '');
    const file = join(registry.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    if (url.searchParams.get('sig') !== signature(digest) || !/^[0-9a-f]{64}$/.test(hex) || !existsSync(file)) {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  const storeUrl = await listen(store);

  const front = http.createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(`front ${req.method} ${path.replace(/\?.*/, '')} ${req.headers.authorization ?? '-'}`);
    const blob = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path.replace(/\?.*/, ''));
    if (req.method === 'GET' && blob && req.headers.authorization) {
      // As S3 behind a registry: the registry has authorised the client; the store trusts the signature.
      const digest = blob[1]!;
      res.writeHead(307, { Location: `${storeUrl}/blobs/${digest}?sig=${signature(digest)}` });
      res.end();
      return;
    }
    const up = http.request(
      { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  const url = await listen(front);
  return {
    url,
    store: storeUrl,
    seen,
    stop: async () => {
      await close(front);
      await close(store);
    },
  };
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: http.Server): Promise<void> {
  return new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
}
