/**
 * Client for the OCI distribution API (the subset an OS update needs: ping, manifest, blob).
 *
 * It runs on the host (tests, harness) and on the device (bundled into the updater with esbuild),
 * so it uses node: built-ins only. Every failure is a one-line HuplabError naming the registry and
 * the request; every byte received is counted for the update reports.
 */
import type { LabHostConfig } from '../contract/lab-host.ts';
import { HuplabError } from '../errors.ts';
import { isDigest, sha256Digest, shortDigest } from './digest.ts';
import { downloadVerified, type DownloadResult } from './download.ts';
import { RegistryAuth, type RegistryCredentials } from './auth.ts';
import { authError, statusError, unreachable, type RequestContext } from './failure.ts';
import { httpRequestFollowing, isTransient, NetworkError, readBody } from './http.ts';

export type { RegistryCredentials } from './auth.ts';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const DOCKER_MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: OciDescriptor;
  layers: OciDescriptor[];
  annotations?: Record<string, string>;
}

export interface ManifestResult {
  manifest: OciManifest;
  /** sha256 of `bytes`, computed here, never taken from the server's word. */
  digest: string;
  bytes: Buffer;
  mediaType: string;
}

export interface RegistryClientOptions {
  /** Idle timeout per request: how long without any bytes before giving up (default 30 s). */
  timeoutMs?: number;
  /** Further attempts after a network failure, a 5xx or a body cut short (default 3). */
  retries?: number;
  /** Pause before attempt n is n times this (default 250 ms). */
  retryDelayMs?: number;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /**
   * Used when the registry asks (401): user and password for Basic challenges and for the
   * token service of Bearer challenges; a token is sent as `Bearer` from the first request.
   */
  credentials?: RegistryCredentials;
  /** CA certificate (PEM text) trusted for an https registry, besides the system's roots. */
  caCertificate?: string;
  /**
   * On an emulated device: the lab host's loopback ports it reaches, and where (config.json's
   * labHost), for a registry, token service or blob store the lab named as 127.0.0.1.
   */
  labHost?: LabHostConfig;
  /** Told of every request (token service and redirects included): who this client talks to. */
  onRequest?: (url: URL) => void;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => import('node:stream').Readable);
  /** Scope to ask a token service for when the challenge names none, e.g. repository:x:pull. */
  scope?: string;
  /** Statuses that are an answer rather than a failure (default: 200). */
  ok?: number[];
  /** Follow redirects (GET and HEAD only; default true for them). */
  follow?: boolean;
  /** Retry network failures and 5xx (default: true for GET and HEAD). */
  retry?: boolean;
}

export interface SendResult {
  status: number;
  bytes: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export interface FetchBlobOptions {
  onProgress?(bytes: number, total: number | undefined): void;
  /** Size from the manifest's descriptor; a server announcing another size is refused up front. */
  expectedSize?: number;
}

export type FetchBlobResult = DownloadResult;

const MANIFEST_LIMIT = 4 * 1024 * 1024;
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export class RegistryClient {
  /** Without a trailing slash, e.g. "http://10.0.2.100:40123". */
  readonly baseUrl: string;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly headers: Record<string, string>;
  private readonly ca: string | undefined;
  private readonly labHost: LabHostConfig | undefined;
  private readonly onRequest: ((url: URL) => void) | undefined;
  private readonly auth: RegistryAuth;
  private readonly perUrl = new Map<string, number>();
  private total = 0;

  constructor(baseUrl: string, opts: RegistryClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new HuplabError('registry-url-invalid', `registry URL "${baseUrl}" is not a URL`, {
        hint: 'use e.g. http://127.0.0.1:5000',
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HuplabError('registry-url-invalid', `registry URL "${baseUrl}" is not http(s)`, {
        hint: 'use e.g. http://127.0.0.1:5000',
      });
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.base = new URL(`${this.baseUrl}/`);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 3;
    this.retryDelayMs = opts.retryDelayMs ?? 250;
    this.headers = { ...opts.headers };
    this.ca = opts.caCertificate;
    this.labHost = opts.labHost;
    this.onRequest = opts.onRequest;
    this.auth = new RegistryAuth({
      source: `registry ${this.baseUrl}`,
      timeoutMs: this.timeoutMs,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      ...(opts.caCertificate ? { ca: opts.caCertificate } : {}),
      ...(opts.labHost ? { labHost: opts.labHost } : {}),
      ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    });
  }

  /** Body bytes received from this registry, all requests and attempts included. */
  get bytesDownloaded(): number {
    return this.total;
  }

  /** Body bytes received per request URL. */
  bytesByUrl(): Record<string, number> {
    return Object.fromEntries(this.perUrl);
  }

  /** GET /v2/: resolves when the registry answers 200. */
  async pingRegistry(): Promise<void> {
    await this.small('v2/', {});
  }

  /** Manifest by tag or by digest; with a digest, the bytes must hash to it. */
  async getManifest(repo: string, reference: string): Promise<ManifestResult> {
    checkName(this.baseUrl, repo);
    const byDigest = reference.startsWith('sha256:');
    if (byDigest ? !isDigest(reference) : !TAG.test(reference)) {
      throw new HuplabError(
        'reference-invalid',
        `registry ${this.baseUrl}: "${reference}" is neither a tag nor a sha256 digest`,
      );
    }
    const path = `v2/${repo}/manifests/${reference}`;
    const { bytes, headers } = await this.small(
      path,
      { Accept: `${OCI_MANIFEST_MEDIA_TYPE}, ${DOCKER_MANIFEST_MEDIA_TYPE}` },
      pullScope(repo),
    );
    const digest = sha256Digest(bytes);
    const what = `manifest ${repo}:${reference}`;
    const announced = headers['docker-content-digest'];
    if (byDigest && digest !== reference) {
      throw new HuplabError(
        'digest-mismatch',
        `registry ${this.baseUrl}: ${what} hashes to ${shortDigest(digest)}, not to the digest asked for`,
        {
          hint: 'the registry or the network corrupted it; try another registry',
        },
      );
    }
    if (typeof announced === 'string' && isDigest(announced) && announced !== digest) {
      throw new HuplabError(
        'digest-mismatch',
        `registry ${this.baseUrl}: ${what} hashes to ${shortDigest(digest)} but the registry says ${shortDigest(announced)}`,
        {
          hint: 'the registry or the network corrupted it; try another registry',
        },
      );
    }
    const contentType = String(headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const manifest = parseManifest(this.baseUrl, what, bytes, contentType);
    return { manifest, digest, bytes, mediaType: manifest.mediaType ?? contentType };
  }

  /** Streams a blob to `destPath`, verified against `digest`; see downloadVerified. */
  async fetchBlob(
    repo: string,
    digest: string,
    destPath: string,
    opts: FetchBlobOptions = {},
  ): Promise<FetchBlobResult> {
    checkName(this.baseUrl, repo);
    const url = new URL(`v2/${repo}/blobs/${digest}`, this.base);
    const key = url.href;
    return downloadVerified({
      url,
      digest,
      destPath,
      source: `registry ${this.baseUrl}`,
      what: `blob ${shortDigest(digest)} of ${repo}`,
      timeoutMs: this.timeoutMs,
      retries: this.retries,
      retryDelayMs: this.retryDelayMs,
      headers: { ...this.headers, ...this.auth.header() },
      ...(this.ca ? { ca: this.ca } : {}),
      ...(this.labHost ? { labHost: this.labHost } : {}),
      ...(this.onRequest ? { onRequest: this.onRequest } : {}),
      onUnauthorized: async (challenge) =>
        (await this.auth.answer(challenge, pullScope(repo))) ? { ...this.headers, ...this.auth.header() } : undefined,
      unauthorizedError: (ctx, status, body) => authError(ctx, status, body, this.sendsCredentials()),
      ...(opts.expectedSize !== undefined ? { expectedSize: opts.expectedSize } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      onBytes: (n) => this.count(key, n),
    });
  }

  /** Credentials given as options, or an Authorization header among the extra headers. */
  private sendsCredentials(): boolean {
    return this.auth.hasCredentials || Object.keys(this.headers).some((k) => k.toLowerCase() === 'authorization');
  }

  private count(url: string, n: number): void {
    this.total += n;
    this.perUrl.set(url, (this.perUrl.get(url) ?? 0) + n);
  }

  /** Tags of a repository (GET /v2/<name>/tags/list), following `Link` pagination. */
  async listTags(repo: string): Promise<string[]> {
    checkName(this.baseUrl, repo);
    const tags: string[] = [];
    let path = `v2/${repo}/tags/list`;
    for (let pages = 0; pages < 1000; pages++) {
      const { bytes, headers } = await this.small(path, { Accept: 'application/json' }, pullScope(repo));
      let page: { tags?: unknown };
      try {
        page = JSON.parse(bytes.toString('utf8')) as { tags?: unknown };
      } catch {
        throw new HuplabError('http-error', `registry ${this.baseUrl}: the tag list of ${repo} is not JSON`);
      }
      if (Array.isArray(page.tags)) tags.push(...page.tags.filter((x): x is string => typeof x === 'string'));
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(String(headers.link ?? ''))?.[1];
      if (!next) break;
      const url = new URL(next, this.base);
      path = `${url.pathname.replace(/^\//, '')}${url.search}`;
    }
    return tags;
  }

  /**
   * One request to the registry, authenticated as it asks: on a 401 the client answers the
   * challenge (see RegistryAuth) and repeats the request; network failures and 5xx are retried
   * for GET and HEAD. A status not in `ok` is a one-line HuplabError. The body is read whole:
   * this is for manifests, lists and uploads, not for blobs (fetchBlob streams those).
   */
  async send(path: string, opts: SendOptions = {}): Promise<SendResult> {
    const method = opts.method ?? 'GET';
    const idempotent = method === 'GET' || method === 'HEAD';
    const url = new URL(path, this.base);
    const ctx: RequestContext = {
      source: `registry ${this.baseUrl}`,
      method,
      path: url.pathname + (url.search && !url.searchParams.has('_state') ? url.search : ''),
    };
    const ok = opts.ok ?? [200];
    const retries = (opts.retry ?? idempotent) ? this.retries : 0;
    let authRounds = 0;
    for (let attempts = 1; ; attempts++) {
      let failure: HuplabError;
      let timedOut = () => false;
      try {
        const ex = await httpRequestFollowing(url, {
          method,
          headers: { ...this.headers, ...this.auth.header(), ...opts.headers },
          timeoutMs: this.timeoutMs,
          maxRedirects: (opts.follow ?? idempotent) ? 5 : 0,
          ...(this.ca ? { ca: this.ca } : {}),
          ...(this.labHost ? { labHost: this.labHost } : {}),
          ...(this.onRequest ? { onRequest: this.onRequest } : {}),
          ...(opts.body ? { body: opts.body } : {}),
        });
        timedOut = ex.timedOut;
        const { res } = ex;
        const bytes = await readBody(res, MANIFEST_LIMIT);
        this.count(url.href, bytes.length);
        const status = res.statusCode ?? 0;
        if (ok.includes(status)) return { status, bytes, headers: res.headers };
        if (status === 401 && authRounds < 2 && (await this.auth.answer(res.headers['www-authenticate'], opts.scope))) {
          authRounds++;
          attempts--;
          continue;
        }
        if (status === 401 || status === 403) throw authError(ctx, status, bytes, this.sendsCredentials());
        failure = statusError(ctx, status, bytes, attempts);
        if (status < 500) throw failure;
      } catch (err) {
        if (err instanceof HuplabError) throw err;
        if ((err as { code?: string }).code === 'E2BIG') {
          throw new HuplabError(
            'manifest-invalid',
            `${ctx.source}: ${method} ${ctx.path} answered more than ${MANIFEST_LIMIT} bytes, too large for a manifest`,
          );
        }
        // A timeout mid-body surfaces as a reset; say what really happened.
        const why = timedOut() ? new NetworkError(`no data for ${this.timeoutMs} ms`, 'ETIMEDOUT') : err;
        if (!isTransient(why)) throw unreachable(ctx, why, attempts);
        failure = unreachable(ctx, why, attempts);
      }
      if (attempts > retries) throw failure;
      await new Promise((r) => setTimeout(r, this.retryDelayMs * attempts));
    }
  }

  /** A GET with a small body, retried on network failures and 5xx. */
  private async small(
    path: string,
    headers: Record<string, string>,
    scope?: string,
  ): Promise<{ bytes: Buffer; headers: Record<string, string | string[] | undefined> }> {
    return this.send(path, { headers, ...(scope ? { scope } : {}) });
  }
}

function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

function checkName(baseUrl: string, repo: string): void {
  if (!NAME.test(repo)) {
    throw new HuplabError(
      'reference-invalid',
      `registry ${baseUrl}: "${repo}" is not a repository name (lower case, e.g. huplab/generic-amd64)`,
    );
  }
}

function parseManifest(baseUrl: string, what: string, bytes: Buffer, contentType: string): OciManifest {
  const bad = (why: string) => new HuplabError('manifest-invalid', `registry ${baseUrl}: ${what} ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('is not JSON');
  }
  const m = json as Partial<OciManifest>;
  const mediaType = m.mediaType ?? contentType;
  if (mediaType !== OCI_MANIFEST_MEDIA_TYPE && mediaType !== DOCKER_MANIFEST_MEDIA_TYPE) {
    throw bad(`has media type "${mediaType || 'none'}", not an image manifest`);
  }
  if (m.schemaVersion !== 2) throw bad(`has schemaVersion ${String(m.schemaVersion)}, expected 2`);
  const okDescriptor = (d: unknown): d is OciDescriptor => {
    const x = d as Partial<OciDescriptor> | null;
    return (
      !!x &&
      typeof x.digest === 'string' &&
      isDigest(x.digest) &&
      typeof x.size === 'number' &&
      typeof x.mediaType === 'string'
    );
  };
  if (!okDescriptor(m.config)) throw bad('has no valid config descriptor');
  if (!Array.isArray(m.layers) || !m.layers.every(okDescriptor)) throw bad('has invalid layer descriptors');
  return m as OciManifest;
}
