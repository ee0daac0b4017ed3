import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HuplabError } from '../../lib/errors.ts';

/**
 * Downloads a URL to a file and checks it against a sha256 digest before it is kept; a mismatch
 * or a short body leaves nothing behind. For blobs that do not come from a registry (deltas).
 */
export async function downloadVerified(url: string, digest: string, dest: string, opts: { timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<number> {
  const tmp = `${dest}.partial`;
  const res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000), headers: opts.headers ?? {} });
  if (!res.ok || !res.body) throw new HuplabError('download-failed', `GET ${url} answered ${res.status}`);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(
      Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
      new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); bytes += chunk.length; cb(null, chunk); } }),
      createWriteStream(tmp),
    );
  } catch (err) {
    await rm(tmp, { force: true });
    throw new HuplabError('download-failed', `download of ${url} broke off after ${bytes} bytes: ${(err as Error).message}`);
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== digest) {
    await rm(tmp, { force: true });
    throw new HuplabError('digest-mismatch', `${url}: got ${got}, expected ${digest}`);
  }
  await rename(tmp, dest);
  return bytes;
}
