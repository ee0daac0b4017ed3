/**
 * Who may talk to the backend: the lab operator (the harness itself) with the lab's token, and
 * each device with its own API key from its config.json. Everything else gets 401. Keys are
 * compared in constant time. Registries accept the credential as Bearer, or as the password of
 * Basic (what OCI clients send).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type Principal = { kind: 'operator' } | { kind: 'device'; uuid: string };

/** A fresh random secret (256 bits, hex). */
export function newSecret(): string {
  return randomBytes(32).toString('hex');
}

/** The credential an Authorization header carries (Bearer token, or Basic's password). */
export function credentialOf(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1];
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}

// Equal-length digests, so that neither content nor length leaks through timing.
const digest = (s: string) => createHash('sha256').update(s).digest();

function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export class LabAuth {
  readonly operatorToken: string;
  private readonly deviceKeys = new Map<string, string>();

  constructor(operatorToken: string = newSecret()) {
    this.operatorToken = operatorToken;
  }

  /** Gives the device a fresh key (or registers the one it has) and returns it. */
  registerDevice(uuid: string, key: string = newSecret()): string {
    this.deviceKeys.set(uuid, key);
    return key;
  }

  /** Who the header authenticates, or undefined. Every key is compared, matched or not. */
  authenticate(header: string | string[] | undefined): Principal | undefined {
    const given = credentialOf(header);
    if (!given) return undefined;
    let found: Principal | undefined = same(given, this.operatorToken) ? { kind: 'operator' } : undefined;
    for (const [uuid, key] of this.deviceKeys) {
      if (same(given, key) && !found) found = { kind: 'device', uuid };
    }
    return found;
  }

  /** Headers the harness's own requests carry. */
  operatorHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.operatorToken}` };
  }
}
