/**
 * The checks step's registry question (updater/common/registry.ts): is the target image in a
 * registry config.json names? Asked of real HTTP registries in this process: one that has the
 * image, one that answers 404 MANIFEST_UNKNOWN as the reference registry does, one that is not
 * there at all, and one that wants credentials.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import t, { type Test } from 'tap';
import { parseImageMissing } from '../lib/contract/index.ts';
import { isHuplabError } from '../lib/errors.ts';
import { sha256Digest } from '../lib/oci/digest.ts';
import type { DeviceConfig } from '../updater/common/config.ts';
import { findTargetImage, registriesOf, registryClient } from '../updater/common/registry.ts';

const REPO = 'huplab/generic-amd64';
const LAYER = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${'1'.repeat(64)}`,
  size: 1234,
};
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'2'.repeat(64)}`, size: 10 },
    layers: [LAYER],
  }),
);
const DIGEST = sha256Digest(MANIFEST);
const IMAGE = { repository: REPO, manifestDigest: DIGEST };

interface Seen {
  url: string;
  authorization: string | undefined;
}

/**
 * A registry holding `manifests` (digest -> bytes) for REPO; `auth`, when given, is the only
 * Authorization it accepts (401 with a Basic challenge otherwise).
 */
async function registry(
  t: Test,
  manifests: Map<string, Buffer>,
  auth?: string,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const error = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ errors: [{ code, message }] }));
    };
    if (auth && req.headers.authorization !== auth)
      return error(401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="test"' });
    const m = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(req.url ?? '');
    const bytes = m && m[1] === REPO ? manifests.get(m[2]!) : undefined;
    if (!bytes) return error(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    res.writeHead(200, {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      'docker-content-digest': sha256Digest(bytes),
      'content-length': String(bytes.length),
    });
    res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

/** A URL nothing listens on: a server started and closed again. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

const config = (over: Partial<DeviceConfig>): DeviceConfig => ({
  uuid: 'c0ffee',
  deviceType: 'generic-amd64',
  deviceApiKey: 'device-key',
  ...over,
});

function check(cfg: DeviceConfig, lines: string[] = []) {
  return findTargetImage({
    registries: registriesOf(cfg),
    image: IMAGE,
    client: (reg) => registryClient(cfg, reg, { timeoutMs: 5_000, retries: 1, retryDelayMs: 10 }),
    log: (m) => lines.push(m),
  });
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (isHuplabError(err, 'image-unavailable')) return err.oneLine();
    throw err;
  }
  throw new Error('the check accepted an image no registry has');
}

t.test('the primary has the image: found there, the fallback not asked, the device key sent', async (t) => {
  const primary = await registry(t, new Map([[DIGEST, MANIFEST]]));
  const fallback = await registry(t, new Map([[DIGEST, MANIFEST]]));
  const lines: string[] = [];
  const found = await check(config({ registryEndpoint: primary.url, fallbackRegistryEndpoint: fallback.url }), lines);
  t.same(found, { registry: primary.url, layers: 1, bytes: LAYER.size });
  t.same(
    primary.seen.map((s) => s.url),
    [`/v2/${REPO}/manifests/${DIGEST}`],
    'the manifest by its digest',
  );
  t.equal(primary.seen[0]!.authorization, 'Bearer device-key');
  t.same(fallback.seen, [], 'the fallback is not asked');
  t.same(lines, []);
});

t.test('no registry has it (404 MANIFEST_UNKNOWN): refused, naming each registry and its answer', async (t) => {
  const primary = await registry(t, new Map());
  const fallback = await registry(t, new Map([[`sha256:${'3'.repeat(64)}`, MANIFEST]]));
  const lines: string[] = [];
  const why = await refusal(
    check(config({ registryEndpoint: primary.url, fallbackRegistryEndpoint: fallback.url }), lines),
  );
  t.notMatch(why, /\n/, 'one line');
  t.same(
    parseImageMissing(why).map((m) => [m.registry, m.image, m.answer]),
    [
      [primary.url, `${REPO}@${DIGEST}`, '404 MANIFEST_UNKNOWN: manifest unknown'],
      [fallback.url, `${REPO}@${DIGEST}`, '404 MANIFEST_UNKNOWN: manifest unknown'],
    ],
  );
  t.equal(fallback.seen.length, 1, 'the fallback was asked');
  t.match(lines.join('\n'), /has no .*asking the fallback registry/);
});

t.test('the primary is unreachable and the fallback has it: found at the fallback, the log says why', async (t) => {
  const dead = await deadUrl();
  const fallback = await registry(t, new Map([[DIGEST, MANIFEST]]));
  const lines: string[] = [];
  const found = await check(config({ registryEndpoint: dead, fallbackRegistryEndpoint: fallback.url }), lines);
  t.equal(found.registry, fallback.url);
  t.match(lines[0], `registry ${dead} did not answer for ${REPO}@${DIGEST}: unreachable: connection refused`);
  t.match(lines[0], /asking the fallback registry$/);
  t.match(lines[1], `the fallback registry ${fallback.url} has ${REPO}@`);
});

t.test('the primary has not got it and the fallback has: found at the fallback', async (t) => {
  const primary = await registry(t, new Map());
  const fallback = await registry(t, new Map([[DIGEST, MANIFEST]]));
  const found = await check(config({ registryEndpoint: primary.url, fallbackRegistryEndpoint: fallback.url }));
  t.equal(found.registry, fallback.url);
});

t.test('both unreachable: refused, each named as unreachable; no registry at all: refused too', async (t) => {
  const [a, b] = [await deadUrl(), await deadUrl()];
  const why = await refusal(check(config({ registryEndpoint: a, fallbackRegistryEndpoint: b })));
  t.match(why, `registry ${a} did not answer for ${REPO}@${DIGEST}: unreachable: connection refused (ECONNREFUSED)`);
  t.match(why, `registry ${b} did not answer for`);
  t.same(parseImageMissing(why), [], 'not said to be missing: nobody answered');
  await t.rejects(check(config({})), { code: 'config-invalid', message: /names no registry/ });
});

t.test('a registry that serves other bytes under the digest does not count as having it', async (t) => {
  const wrong = Buffer.from(MANIFEST.toString('utf8').replace('1234', '1235'));
  const primary = await registry(t, new Map([[DIGEST, wrong]]));
  const why = await refusal(check(config({ registryEndpoint: primary.url })));
  t.match(why, `registry ${primary.url} did not answer for ${REPO}@${DIGEST}: `);
  t.match(why, /hashes to/);
});

t.test("config.json's registry credentials answer the registry's challenge instead of the device key", async (t) => {
  const basic = `Basic ${Buffer.from('lab:secret').toString('base64')}`;
  const primary = await registry(t, new Map([[DIGEST, MANIFEST]]), basic);
  const found = await check(
    config({ registryEndpoint: primary.url, registryCredentials: { username: 'lab', password: 'secret' } }),
  );
  t.equal(found.registry, primary.url);
  t.equal(primary.seen.at(-1)!.authorization, basic);
  // Without them, the registry's answer is the reason.
  const why = await refusal(check(config({ registryEndpoint: primary.url })));
  t.match(why, `registry ${primary.url} did not answer for ${REPO}@${DIGEST}: 401`);
  t.match(why, /UNAUTHORIZED/);
});
