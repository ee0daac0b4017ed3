/**
 * Shared by the backend tests: real hostapp builds of 2.101.0 and 2.102.0 (cached by the
 * builder) and a backend with both published. Not a test file itself (no .test.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../../images/builder/index.ts';
import type { HostappArtifact } from '../../images/builder/hostapp.ts';
import { startBackend, type Backend } from '../../harness/backend/index.ts';
import type { ApiOptions } from '../../harness/backend/api.ts';

export const DEVICE = 'generic-amd64';
export const REPO = `huplab/${DEVICE}`;

export interface Releases {
  r101: HostappArtifact;
  r102: HostappArtifact;
}

let cached: Promise<Releases> | undefined;

/** Both hostapps; the build runs once per process, and one process at a time (see buildLocked). */
export function releases(): Promise<Releases> {
  cached ??= buildLocked(async () => ({
    r101: (await buildImage({ device: DEVICE, release: '2.101.0' })).releaseBuilds[0]!.hostapp,
    r102: (await buildImage({ device: DEVICE, release: '2.102.0' })).releaseBuilds[0]!.hostapp,
  }));
  return cached;
}

/**
 * tap runs the backend test files in parallel; after a source change every one of them would
 * start the same cold build (~25 s each on two busy cores). One at a time, the later ones find
 * the builder's cache filled.
 */
async function buildLocked<T>(fn: () => Promise<T>): Promise<T> {
  const lock = join(tmpdir(), 'huplab-backend-test-build.lock');
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a killed run must not block for ever.
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 5 * 60_000) await rmdir(lock).catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(lock).catch(() => {});
  }
}

/** A backend with both releases published to both registries, stopped at the end of the test. */
export async function publishedBackend(
  t: { teardown(fn: () => unknown): void },
  opts: ApiOptions = {},
): Promise<{ backend: Backend } & Releases> {
  const rel = await releases();
  const backend = await startBackend(opts);
  t.teardown(() => backend.stop());
  for (const [version, h] of [
    ['2.101.0', rel.r101],
    ['2.102.0', rel.r102],
  ] as const) {
    await backend.publishRelease({
      deviceType: DEVICE,
      arch: 'amd64',
      version,
      hostappDir: h.dir,
      manifestDigest: h.manifest.digest,
    });
  }
  return { backend, ...rel };
}

/** sha256 of a file, computed independently of the code under test. */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function blobPath(h: HostappArtifact, digest: string): string {
  return join(h.dir, 'blobs', 'sha256', digest.slice(7));
}

/** fetch with the lab operator token: what the harness's own calls send. */
export function asOperator(backend: Backend): typeof fetch {
  return (input, init = {}) =>
    globalThis.fetch(input, {
      ...init,
      headers: { ...backend.operatorHeaders(), ...(init.headers as Record<string, string>) },
    });
}
