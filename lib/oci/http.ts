/**
 * The one HTTP primitive the OCI client needs, on node:http/node:https only (the client runs on
 * the device too, bundled without npm packages). It resolves once the response headers are in and
 * leaves the body stream to the caller, because blobs are streamed to disk, never buffered.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Idle time allowed without any bytes moving (headers or body), not a total deadline. */
  timeoutMs: number;
}

export interface HttpExchange {
  res: http.IncomingMessage;
  /** True when the idle timeout ended the exchange; the resulting error alone does not say so. */
  timedOut(): boolean;
}

/** Error from the network layer, tagged so callers can tell "no answer" from "bad answer". */
export class NetworkError extends Error {
  readonly code: string;
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NetworkError';
    this.code = code;
  }
}

export function httpRequest(url: URL, opts: HttpRequestOptions): Promise<HttpExchange> {
  const mod = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!mod) return Promise.reject(new NetworkError(`unsupported URL scheme ${url.protocol}`, 'EPROTO'));
  return new Promise((resolve, reject) => {
    let timedOut = false;
    // agent: false gives each exchange its own connection: a pooled keep-alive socket that the
    // server already closed would turn into spurious resets, which would count against retries.
    const req = mod.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      resolve({ res, timedOut: () => timedOut });
    });
    req.setTimeout(opts.timeoutMs, () => {
      timedOut = true;
      req.destroy(new NetworkError(`no data for ${opts.timeoutMs} ms`, 'ETIMEDOUT'));
    });
    req.on('error', (err) =>
      reject(timedOut ? new NetworkError(`no data for ${opts.timeoutMs} ms`, 'ETIMEDOUT', { cause: err }) : err),
    );
    req.end();
  });
}

/** Reads a whole (small) body, refusing more than `limit` bytes so a bad server cannot exhaust memory. */
export async function readBody(res: http.IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new NetworkError(`body larger than ${limit} bytes`, 'E2BIG');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A Node network error in words, e.g. "connection refused (ECONNREFUSED)". */
export function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EPIPE: 'connection closed',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'name lookup failed',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
  };
  if (err instanceof NetworkError) return `${err.message} (${err.code})`;
  if (e.code && words[e.code]) return `${words[e.code]} (${e.code})`;
  return e.code ? `${e.message ?? 'error'} (${e.code})` : (e.message ?? String(err));
}

/** Errors worth another attempt: the network failed, not the server's judgement. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    code !== undefined &&
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'ECONNABORTED',
    ].includes(code)
  );
}
