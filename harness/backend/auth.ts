/**
 * Who may talk to the backend: the lab operator (the harness itself) with the lab's token, and
 * each device with its own API key from its config.json. Everything else gets 401. Keys are
 * compared in constant time, and only their sha256 is kept: a lab server's database
 * (DeviceKeyStore) holds digests, never keys. Registries accept the credential as Bearer, or as the password of
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

/** A key's sha256: what is kept and compared. Equal-length digests leak neither content nor length through timing. */
export const keyDigest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Where device key digests outlive the process (the lab server's database). */
export interface DeviceKeyStore {
  /** Every device's key digest, read once when the backend starts. */
  load(): Iterable<{ uuid: string; sha256: Buffer }>;
  save(uuid: string, sha256: Buffer): void;
}

export class LabAuth {
  readonly operatorToken: string;
  private readonly operatorDigest: Buffer;
  private readonly deviceKeys = new Map<string, Buffer>();
  private readonly store: DeviceKeyStore | undefined;

  constructor(operatorToken: string = newSecret(), store?: DeviceKeyStore) {
    this.operatorToken = operatorToken;
    this.operatorDigest = keyDigest(operatorToken);
    this.store = store;
    for (const k of store?.load() ?? []) this.deviceKeys.set(k.uuid, Buffer.from(k.sha256));
  }

  /** Gives the device a fresh key (or registers the one it has) and returns it. */
  registerDevice(uuid: string, key: string = newSecret()): string {
    const sha256 = keyDigest(key);
    this.store?.save(uuid, sha256);
    this.deviceKeys.set(uuid, sha256);
    return key;
  }

  /** Who the header authenticates, or undefined. Every key is compared, matched or not. */
  authenticate(header: string | string[] | undefined): Principal | undefined {
    const given = credentialOf(header);
    if (!given) return undefined;
    const d = keyDigest(given);
    let found: Principal | undefined = timingSafeEqual(d, this.operatorDigest) ? { kind: 'operator' } : undefined;
    for (const [uuid, sha256] of this.deviceKeys) {
      if (timingSafeEqual(d, sha256) && !found) found = { kind: 'device', uuid };
    }
    return found;
  }

  /** Headers the harness's own requests carry. */
  operatorHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.operatorToken}` };
  }
}
