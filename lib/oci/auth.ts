/**
 * Registry authentication as the distribution spec and Docker's token flow define it:
 *
 * - a registry answers 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."`;
 *   the client asks the realm for a token (anonymously, or with Basic credentials when it has
 *   some) and repeats the request with `Authorization: Bearer <token>`;
 * - or it answers `WWW-Authenticate: Basic realm="..."`, and the client repeats the request with
 *   the Basic credentials it was given;
 * - a token given up front (`credentials.token`) is sent as a Bearer token from the first request.
 *
 * Credentials are an input (options of the client), never read from files or the environment
 * here: the same code runs on the device, where the updater decides what to pass.
 */
import { HuplabError } from '../errors.ts';
import { errorDetail } from './failure.ts';
import type { LabHostConfig } from '../contract/lab-host.ts';
import { describeNetworkError, httpRequestFollowing, readBody } from './http.ts';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token to send as is (a pre-issued registry token, an API key). */
  token?: string;
}

export interface Challenge {
  /** Lower case: "bearer", "basic", ... */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses WWW-Authenticate (RFC 9110 11.6.1): one or more challenges, each a scheme followed by
 * comma-separated auth-params whose values may be quoted strings (with commas inside).
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const out: Challenge[] = [];
  // A bare token starts a challenge (its scheme); `name=value` is a parameter of the last one.
  const re = /([\w!#$%&'*+.^`|~-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*))?/g;
  for (const m of text.matchAll(re)) {
    if (m[2] === undefined) {
      out.push({ scheme: m[1]!.toLowerCase(), params: {} });
    } else if (out.length > 0) {
      const raw = m[2];
      const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
      out[out.length - 1]!.params[m[1]!.toLowerCase()] = value;
    }
  }
  return out;
}

export interface AuthOptions {
  /** "registry http://..." for messages. */
  source: string;
  credentials?: RegistryCredentials;
  ca?: string;
  labHost?: LabHostConfig;
  onRequest?: (url: URL) => void;
  timeoutMs: number;
}

/**
 * The authorization state of one client: what to send, and how to get something better when the
 * registry says 401. Tokens are kept per scope, so a push (pull,push) and a pull of another
 * repository each ask the realm once.
 */
export class RegistryAuth {
  private readonly tokens = new Map<string, string>();
  private current: string | undefined;

  constructor(private readonly opts: AuthOptions) {
    const token = opts.credentials?.token;
    if (token) this.current = `Bearer ${token}`;
  }

  /** The Authorization header to send now, if any. */
  header(): Record<string, string> {
    return this.current ? { Authorization: this.current } : {};
  }

  /** Whether credentials (user/password or token) were given: for the wording of errors. */
  get hasCredentials(): boolean {
    const c = this.opts.credentials;
    return !!(c?.token || c?.username || c?.password);
  }

  /**
   * After a 401: works out a new Authorization from the challenge. Returns true when there is
   * one worth a retry (different from what was just refused), false when there is nothing more
   * to try; throws a one-line error when the token service itself fails.
   */
  async answer(wwwAuthenticate: string | string[] | undefined, scopeHint?: string): Promise<boolean> {
    const refused = this.current;
    const challenges = parseChallenges(wwwAuthenticate);
    // A realm that is not a URL (`Bearer realm="huplab"`) names no token service: the registry
    // wants a bearer token of its own, which only credentials.token can be.
    const bearer = challenges.find((c) => c.scheme === 'bearer' && isHttpUrl(c.params.realm));
    const plainBearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const c = this.opts.credentials;
    let next: string | undefined;
    if (bearer) {
      const scope = bearer.params.scope ?? scopeHint ?? '';
      const key = `${bearer.params.realm} ${bearer.params.service ?? ''} ${scope}`;
      const known = this.tokens.get(key);
      if (known && `Bearer ${known}` !== refused) next = `Bearer ${known}`;
      else {
        const token = await this.fetchToken(bearer.params.realm!, bearer.params.service, scope);
        this.tokens.set(key, token);
        next = `Bearer ${token}`;
      }
    } else if (basic && (c?.username !== undefined || c?.password !== undefined)) {
      next = basicHeader(c);
    } else if (plainBearer && c?.token) {
      next = `Bearer ${c.token}`;
    }
    if (!next || next === refused) return false;
    this.current = next;
    return true;
  }

  /** GET <realm>?service=...&scope=..., with Basic credentials when given; the answer's token. */
  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new HuplabError('auth-failed', `${this.opts.source}: the token service "${realm}" it names is not a URL`);
    }
    if (service) url.searchParams.set('service', service);
    for (const s of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    const c = this.opts.credentials;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (c?.username !== undefined || c?.password !== undefined) headers.Authorization = basicHeader(c);
    else if (c?.token) headers.Authorization = `Bearer ${c.token}`;
    const who = `token service ${url.origin}${url.pathname}`;
    const as = c?.username !== undefined ? ` for user "${c.username}"` : ' anonymously';
    let status: number;
    let body: Buffer;
    try {
      const { res } = await httpRequestFollowing(url, {
        headers,
        timeoutMs: this.opts.timeoutMs,
        ...(this.opts.ca ? { ca: this.opts.ca } : {}),
        ...(this.opts.labHost ? { labHost: this.opts.labHost } : {}),
        ...(this.opts.onRequest ? { onRequest: this.opts.onRequest } : {}),
      });
      status = res.statusCode ?? 0;
      body = await readBody(res, 1024 * 1024);
    } catch (err) {
      throw new HuplabError(
        'auth-failed',
        `${this.opts.source}: asking the ${who} for a token${as} failed: ${describeNetworkError(err)}`,
        { hint: 'check that the token service is reachable from here', cause: err },
      );
    }
    if (status !== 200) {
      const detail = errorDetail(body);
      throw new HuplabError(
        status === 401 || status === 403 ? 'unauthorized' : 'auth-failed',
        `${this.opts.source}: the ${who} refused a token${as} for ${scope || 'the registry'}: ${status}${detail ? ` ${detail}` : ''}`,
        { hint: c?.username !== undefined ? 'check the registry credentials' : 'this registry needs credentials' },
      );
    }
    let token: unknown;
    try {
      const json = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = json.token ?? json.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || !token) {
      throw new HuplabError('auth-failed', `${this.opts.source}: the ${who} answered 200 without a token`);
    }
    return token;
  }
}

function isHttpUrl(value: string | undefined): value is string {
  return !!value && /^https?:\/\/[^\s]+$/i.test(value);
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

/**
 * `user:password` as a command line gives it (the first colon splits; the password may hold
 * more), or a bare token when there is no colon.
 */
export function parseCredentials(text: string): RegistryCredentials {
  const i = text.indexOf(':');
  if (i < 0) return { token: text };
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}
