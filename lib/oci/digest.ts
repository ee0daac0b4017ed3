/**
 * OCI content digests. Only sha256 is accepted: it is what every hostapp here is addressed by,
 * and refusing other algorithms keeps "verified" meaning one thing.
 */
import { createHash } from 'node:crypto';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return SHA256.test(value);
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A digest shortened for messages: enough to tell two apart, short enough for one line. */
export function shortDigest(digest: string): string {
  return digest.startsWith('sha256:') ? `sha256:${digest.slice(7, 19)}` : digest;
}
