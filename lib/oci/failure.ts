/**
 * How the OCI client words its failures: one line that names the server, the request and what
 * went wrong, with a stable code per kind so the updater can decide (e.g. fall back to the next
 * registry on 'unreachable' but not retry a 'digest-mismatch' against the same server).
 */
import { HuplabError } from '../errors.ts';
import { describeNetworkError } from './http.ts';

export interface RequestContext {
  /** Who was asked, e.g. "registry http://10.0.2.100:40123". */
  source: string;
  method: string;
  /** Path and query of the request, for the message. */
  path: string;
}

/** The server could not be reached or the connection failed before an answer. */
export function unreachable(ctx: RequestContext, err: unknown, attempts: number): HuplabError {
  return new HuplabError(
    'unreachable',
    `${ctx.source}: ${ctx.method} ${ctx.path} failed${tries(attempts)}: ${describeNetworkError(err)}`,
    {
      hint: 'check that the server is up and reachable from here',
      cause: err,
    },
  );
}

/** The server answered with a status that is not a success. */
export function statusError(ctx: RequestContext, status: number, body: Buffer, attempts = 1): HuplabError {
  const code = status === 404 ? 'not-found' : status === 401 || status === 403 ? 'unauthorized' : 'http-error';
  const detail = errorDetail(body);
  return new HuplabError(
    code,
    `${ctx.source}: ${ctx.method} ${ctx.path} answered ${status}${tries(attempts)}${detail ? `: ${detail}` : ''}`,
    {
      ...(code === 'unauthorized' ? { hint: 'check the API key or registry credentials' } : {}),
    },
  );
}

/**
 * A 401/403 that authentication could not get past: says whether credentials were sent, and
 * what to do about it.
 */
export function authError(ctx: RequestContext, status: number, body: Buffer, credentials: boolean): HuplabError {
  const detail = errorDetail(body);
  return new HuplabError(
    'unauthorized',
    `${ctx.source}: ${ctx.method} ${ctx.path} answered ${status} ${credentials ? 'with the credentials given' : 'without credentials'}${detail ? `: ${detail}` : ''}`,
    {
      hint: credentials
        ? 'check the registry credentials'
        : 'this registry needs credentials (e.g. --creds user:password)',
    },
  );
}

/**
 * The useful part of an error body: OCI registries send `{errors:[{code,message}]}`, the huplab
 * API `{error}`; anything else is shown shortened.
 */
export function errorDetail(body: Buffer): string {
  const text = body.toString('utf8').trim();
  if (!text) return '';
  // A proxy's or CDN's error page: its title at most, never the markup.
  if (/^<(?:!doctype|html|\?xml|head|body)/i.test(text)) {
    const title = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.replace(/\s+/g, ' ').trim();
    if (/^<\?xml/i.test(text)) {
      // S3-style XML errors: <Error><Code>AccessDenied</Code><Message>...</Message></Error>
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
      const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
      if (code || message) return [code, message].filter(Boolean).join(': ').slice(0, 160);
    }
    return title ? `an HTML page titled "${title.slice(0, 100)}"` : 'an HTML page';
  }
  try {
    const json = JSON.parse(text) as {
      errors?: Array<{ code?: string; message?: string }>;
      error?: unknown;
      message?: unknown;
    };
    if (Array.isArray(json.errors) && json.errors.length > 0) {
      return json.errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    }
    if (typeof json.error === 'string') return json.error;
    if (typeof json.message === 'string') return json.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  const line = text.replace(/\s+/g, ' ');
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}

function tries(attempts: number): string {
  return attempts > 1 ? ` after ${attempts} attempts` : '';
}
