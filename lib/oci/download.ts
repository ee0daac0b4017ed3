/**
 * Verified, resumable download of one content-addressed file (a registry blob, a delta).
 *
 * The bytes go to a temporary file next to the destination while their sha256 is computed; the
 * file is renamed into place only when the digest matches, so `destPath` either holds the right
 * content or nothing. A connection that drops mid-body is resumed with a Range request: the hash
 * state carries over because bytes are only ever appended in order.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { HuplabError } from '../errors.ts';
import { isDigest, shortDigest } from './digest.ts';
import { statusError, unreachable, type RequestContext } from './failure.ts';
import type { LabHostConfig } from '../contract/lab-host.ts';
import {
  describeNetworkError,
  httpRequestFollowing,
  isTransient,
  NetworkError,
  readBody,
  type HttpExchange,
} from './http.ts';

export interface DownloadOptions {
  url: URL;
  digest: string;
  destPath: string;
  /** Who serves it, for messages: "registry http://10.0.2.100:40123". */
  source: string;
  /** What it is, for messages: "blob sha256:0123abcd… of huplab/generic-amd64". */
  what: string;
  timeoutMs: number;
  /** Further attempts after the first, each resuming where the last one stopped. */
  retries: number;
  retryDelayMs: number;
  headers?: Record<string, string>;
  /** CA certificate (PEM) trusted for https besides the system's roots. */
  ca?: string;
  /** An emulated device's way to the lab host (lib/contract/lab-host.ts). */
  labHost?: LabHostConfig;
  onRequest?: (url: URL) => void;
  /**
   * Called on a 401 with the answer's WWW-Authenticate: headers to repeat the request with
   * (they replace `headers`), or undefined to give up. Without it, a 401 is a failure.
   */
  onUnauthorized?(wwwAuthenticate: string | string[] | undefined): Promise<Record<string, string> | undefined>;
  /** Turns a 401/403 that onUnauthorized could not get past into the error to throw. */
  unauthorizedError?(ctx: RequestContext, status: number, body: Buffer): HuplabError;
  expectedSize?: number;
  onProgress?(bytes: number, total: number | undefined): void;
  /** Every body byte received, including those of attempts later discarded: what the link carried. */
  onBytes?(n: number): void;
}

export interface DownloadResult {
  path: string;
  digest: string;
  size: number;
  attempts: number;
  /** How many times the download continued with a Range request. */
  resumes: number;
}

interface Progress {
  hash: Hash;
  received: number;
  total: number | undefined;
}

export async function downloadVerified(opts: DownloadOptions): Promise<DownloadResult> {
  if (!isDigest(opts.digest)) {
    throw new HuplabError(
      'digest-invalid',
      `${opts.source}: "${opts.digest}" is not a sha256 digest (sha256:<64 hex digits>)`,
    );
  }
  const ctx: RequestContext = { source: opts.source, method: 'GET', path: opts.url.pathname + opts.url.search };
  const tmp = `${opts.destPath}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w');
  let kept = false;
  try {
    const p: Progress = { hash: createHash('sha256'), received: 0, total: opts.expectedSize };
    let attempts = 0;
    let resumes = 0;
    let authRounds = 0;
    let current = opts;
    for (;;) {
      attempts++;
      const resuming = p.received > 0;
      const outcome = await attempt(current, ctx, fh, p, resuming, attempts);
      if (outcome === 'complete') break;
      if ('challenge' in outcome) {
        // Not a failed attempt: the registry asked for credentials (or a fresh token).
        const headers = authRounds < 2 ? await opts.onUnauthorized?.(outcome.challenge) : undefined;
        if (!headers) throw outcome.error;
        authRounds++;
        attempts--;
        current = { ...opts, headers };
        continue;
      }
      // The attempt failed in a way another attempt may fix (network, 5xx, short body).
      if (attempts > opts.retries) throw outcome.error;
      if (p.received > 0) resumes++;
      await sleep(opts.retryDelayMs * attempts);
    }
    const digest = `sha256:${p.hash.digest('hex')}`;
    if (digest !== opts.digest) {
      throw new HuplabError(
        'digest-mismatch',
        `${opts.source}: ${opts.what} hashes to ${shortDigest(digest)} over ${p.received} bytes, not to the digest asked for; nothing was kept`,
        {
          hint: 'the server or the network corrupted it; try another source',
        },
      );
    }
    // fsync before the rename: on a device a power cut right after must not leave a named but empty file.
    await fh.sync();
    await fh.close();
    await rename(tmp, opts.destPath);
    kept = true;
    return { path: opts.destPath, digest, size: p.received, attempts, resumes };
  } finally {
    if (!kept) {
      await fh.close().catch(() => {});
      await unlink(tmp).catch(() => {});
    }
  }
}

type Outcome = 'complete' | { error: HuplabError } | { error: HuplabError; challenge: string | string[] | undefined };

/** One request: either the body completes, or a retryable failure is returned, or it throws. */
async function attempt(
  opts: DownloadOptions,
  ctx: RequestContext,
  fh: FileHandle,
  p: Progress,
  resuming: boolean,
  attempts: number,
): Promise<Outcome> {
  // identity: a transparently compressed body would not hash to the blob's digest.
  const headers: Record<string, string> = { ...opts.headers, 'Accept-Encoding': 'identity' };
  if (resuming) headers.Range = `bytes=${p.received}-`;
  let ex: HttpExchange;
  try {
    ex = await httpRequestFollowing(opts.url, {
      headers,
      timeoutMs: opts.timeoutMs,
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.labHost ? { labHost: opts.labHost } : {}),
      ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    });
  } catch (err) {
    if (!isTransient(err)) throw unreachable(ctx, err, attempts);
    return { error: p.received > 0 ? truncated(opts, p, attempts, err) : unreachable(ctx, err, attempts) };
  }
  const { res } = ex;
  const status = res.statusCode ?? 0;
  if (status === 206 && resuming) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || range.start !== p.received) {
      res.destroy();
      throw new HuplabError(
        'http-error',
        `${ctx.source}: ${ctx.method} ${ctx.path} answered a range starting at ${range?.start ?? '?'} when asked for ${p.received}`,
      );
    }
    if (range.total !== undefined) checkSize(opts, p, range.total);
  } else if (status === 200) {
    if (resuming) {
      // The server ignored Range: start over rather than append a second copy.
      await fh.truncate(0);
      p.hash = createHash('sha256');
      p.received = 0;
    }
    const length = Number(res.headers['content-length']);
    if (res.headers['content-length'] !== undefined && Number.isFinite(length)) checkSize(opts, p, length);
  } else {
    const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
    if ((status === 401 || status === 403) && opts.unauthorizedError) {
      const error = opts.unauthorizedError(ctx, status, body);
      if (status === 401 && opts.onUnauthorized) return { error, challenge: res.headers['www-authenticate'] };
      throw error;
    }
    const error = statusError(ctx, status, body, attempts);
    if (status >= 500) return { error };
    throw error;
  }

  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (p.total !== undefined && p.received + chunk.length > p.total) {
        res.destroy();
        throw new HuplabError(
          'blob-size-mismatch',
          `${opts.source}: ${opts.what} is longer than the ${p.total} bytes announced; nothing was kept`,
        );
      }
      p.hash.update(chunk);
      await writeAt(opts, fh, chunk, p.received);
      p.received += chunk.length;
      opts.onBytes?.(chunk.length);
      opts.onProgress?.(p.received, p.total);
    }
  } catch (err) {
    if (err instanceof HuplabError) throw err;
    const why = ex.timedOut() ? new NetworkError(`no data for ${opts.timeoutMs} ms`, 'ETIMEDOUT') : err;
    if (isTransient(err) || ex.timedOut()) return { error: truncated(opts, p, attempts, why) };
    throw unreachable(ctx, err, attempts);
  }
  // A body that ended "cleanly" but short is a truncation too (a proxy, a length-less response).
  if (p.total !== undefined && p.received < p.total)
    return { error: truncated(opts, p, attempts, new Error('body ended early')) };
  return 'complete';
}

function checkSize(opts: DownloadOptions, p: Progress, total: number): void {
  if (p.total !== undefined && p.total !== total) {
    throw new HuplabError(
      'blob-size-mismatch',
      `${opts.source}: ${opts.what} is announced as ${total} bytes, expected ${p.total}; nothing was kept`,
      {
        hint: 'the server holds different content under this digest',
      },
    );
  }
  p.total = total;
}

async function writeAt(opts: DownloadOptions, fh: FileHandle, chunk: Buffer, position: number): Promise<void> {
  try {
    await fh.write(chunk, 0, chunk.length, position);
  } catch (err) {
    throw new HuplabError(
      'download-write-failed',
      `cannot write ${opts.what} to ${opts.destPath}: ${(err as Error).message}`,
      {
        hint: 'check free space and permissions there',
        cause: err,
      },
    );
  }
}

function truncated(opts: DownloadOptions, p: Progress, attempts: number, why: unknown): HuplabError {
  const of = p.total !== undefined ? ` of ${p.total}` : '';
  return new HuplabError(
    'blob-truncated',
    `${opts.source}: ${opts.what} ended after ${p.received}${of} bytes (${attempts} attempt${attempts > 1 ? 's' : ''}, last: ${describeNetworkError(why)}); nothing was kept`,
    {
      hint: 'the connection keeps dropping; try another source',
    },
  );
}

/** `bytes <start>-<end>/<total|*>` */
export function parseContentRange(
  header: string | undefined,
): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), ...(m[3] === '*' ? {} : { total: Number(m[3]) }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
