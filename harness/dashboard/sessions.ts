/**
 * The dashboard's event-stream sessions. A browser's EventSource cannot send an Authorization
 * header, so the page, holding the operator token, asks POST /v1/dashboard/session for a cookie:
 * a fresh random id (never the token), HttpOnly, SameSite=Strict, sent only to /v1/events, good
 * for SESSION_SECONDS to open a stream. Kept in memory: a restarted server forgets them and the
 * page asks again.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { DASHBOARD_PATHS, SESSION_COOKIE, SESSION_SECONDS } from './wire.ts';

export class Sessions {
  private readonly live = new Map<string, number>();

  constructor(
    private readonly seconds = SESSION_SECONDS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session, as the Set-Cookie header that carries it. */
  create(): string {
    this.prune();
    const id = randomBytes(32).toString('hex');
    this.live.set(id, this.now() + this.seconds * 1000);
    return `${SESSION_COOKIE}=${id}; Path=${DASHBOARD_PATHS.events}; Max-Age=${this.seconds}; HttpOnly; SameSite=Strict`;
  }

  /** Whether the Cookie header carries a session that has not expired. */
  valid(cookieHeader: string | undefined): boolean {
    const given = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!given || !/^[0-9a-f]{64}$/.test(given)) return false;
    const probe = Buffer.from(given);
    let found = false;
    const now = this.now();
    for (const [id, expires] of this.live) if (timingSafeEqual(Buffer.from(id), probe) && expires > now) found = true;
    return found;
  }

  private prune(): void {
    const now = this.now();
    for (const [id, expires] of this.live) if (expires <= now) this.live.delete(id);
  }
}

/** One cookie's value from a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
