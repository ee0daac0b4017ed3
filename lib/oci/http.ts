/**
 * The one HTTP primitive the OCI client needs, on node:http/node:https only (the client runs on
 * the device too, bundled without npm packages). It resolves once the response headers are in and
 * leaves the body stream to the caller, because blobs are streamed to disk, never buffered.
 */
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { checkServerIdentity, rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import { type LabHostConfig, labHostRoute } from '../contract/lab-host.ts';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Idle time allowed without any bytes moving (headers or body), not a total deadline. */
  timeoutMs: number;
  /**
   * A CA certificate (PEM) trusted for https in addition to the system's roots, e.g. a lab
   * registry's own CA; the public roots stay trusted so a redirect to a CDN still works.
   */
  ca?: string;
  /** Request body: bytes, or a function opening a fresh stream (a retry needs a new one). */
  body?: Buffer | (() => Readable);
  /** An emulated device's way to the lab host's loopback (lib/contract/lab-host.ts). */
  labHost?: LabHostConfig;
  /** Told of every request before it is sent (redirects included): who a client talks to. */
  onRequest?: (url: URL) => void;
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
    const tls = url.protocol === 'https:' && opts.ca ? { ca: [...rootCertificates, opts.ca] } : {};
    opts.onRequest?.(url);
    const route = labHostRoute(url, opts.labHost);
    // Routed: the connection goes to the lab host's address, the request still to the host the
    // URL names (Host header, TLS server name, certificate checked against that name).
    const target = route
      ? {
          host: route.host,
          port: route.port,
          path: `${url.pathname}${url.search}`,
          headers: { host: url.host, ...opts.headers },
          ...(isIP(url.hostname.replace(/^\[|\]$/g, '')) ? {} : { servername: url.hostname }),
          checkServerIdentity: (_host: string, cert: import('node:tls').PeerCertificate) =>
            checkServerIdentity(url.hostname, cert),
        }
      : { headers: opts.headers };
    const onResponse = (res: http.IncomingMessage) => resolve({ res, timedOut: () => timedOut });
    const common = { method: opts.method ?? 'GET', agent: false as const, ...tls };
    const req = route
      ? mod.request({ protocol: url.protocol, ...common, ...target }, onResponse)
      : mod.request(url, { ...common, ...target }, onResponse);
    req.setTimeout(opts.timeoutMs, () => {
      timedOut = true;
      req.destroy(new NetworkError(`no data for ${opts.timeoutMs} ms`, 'ETIMEDOUT'));
    });
    req.on('error', (err) =>
      reject(timedOut ? new NetworkError(`no data for ${opts.timeoutMs} ms`, 'ETIMEDOUT', { cause: err }) : err),
    );
    if (opts.body === undefined) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else {
      const source = opts.body();
      source.on('error', (err) => req.destroy(err));
      source.pipe(req);
    }
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface FollowedExchange extends HttpExchange {
  /** Where the answer finally came from (the last Location followed). */
  url: URL;
  redirects: number;
}

/**
 * A GET or HEAD that follows redirects (a registry sending blobs to S3 or a CDN answers 307 or
 * 302 with a signed URL), at most `maxRedirects` of them. Credentials meant for the registry are
 * not sent to another host: Authorization is dropped as soon as a Location leaves the origin
 * of the first request.
 */
export async function httpRequestFollowing(
  url: URL,
  opts: HttpRequestOptions & { maxRedirects?: number },
): Promise<FollowedExchange> {
  const max = opts.maxRedirects ?? 5;
  let current = url;
  let headers = { ...opts.headers };
  for (let redirects = 0; ; redirects++) {
    const ex = await httpRequest(current, { ...opts, headers });
    const status = ex.res.statusCode ?? 0;
    const location = ex.res.headers.location;
    if (!REDIRECTS.has(status) || !location || max === 0) return { ...ex, url: current, redirects };
    ex.res.resume();
    if (redirects >= max)
      throw new NetworkError(`more than ${max} redirects, last to ${redact(location)}`, 'EREDIRECT');
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new NetworkError(`redirect to "${redact(location)}", not a URL`, 'EREDIRECT');
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new NetworkError(`redirect to a ${next.protocol} URL`, 'EREDIRECT');
    }
    if (next.origin !== url.origin) headers = withoutAuthorization(headers);
    current = next;
  }
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

/** A URL for a message: without its query, which for a signed CDN URL holds the signature. */
export function redact(location: string): string {
  return location.replace(/\?.*$/, '?…').slice(0, 200);
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
