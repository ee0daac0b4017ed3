/**
 * How the OCI client words its failures: one line that names the server, the request and what
 * went wrong, with a stable code per kind so the updater can decide (e.g. fall back to the next
 * registry on 'unreachable' but not retry a 'digest-mismatch' against the same server).
 */
import { HuplabError } from '../errors.ts';
import { describeNetworkError } from './http.ts';

export interface RequestContext {
  /** Who was asked, e.g. "registry http://10.0.2.2:40123". */
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
 * The useful part of an error body: OCI registries send `{errors:[{code,message}]}`, the huplab
 * API `{error}`; anything else is shown shortened.
 */
export function errorDetail(body: Buffer): string {
  const text = body.toString('utf8').trim();
  if (!text) return '';
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
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

function tries(attempts: number): string {
  return attempts > 1 ? ` after ${attempts} attempts` : '';
}
