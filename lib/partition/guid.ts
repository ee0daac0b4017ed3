/**
 * GUIDs as GPT stores them. Images must be reproducible (cached by content hash), so every GUID
 * we write is derived from a seed instead of drawn at random.
 */
import { createHash } from 'node:crypto';
import { HuplabError } from '../errors.ts';

const GUID_RE = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/i;

/**
 * A version-4-shaped GUID from sha256(seed): tools that look at the variant and version bits see
 * an ordinary random GUID, but the same seed always gives the same GUID.
 */
export function guidFromSeed(seed: string): string {
  const b = createHash('sha256').update(seed, 'utf8').digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * On disk the first three fields are little-endian and the last two are bytes in order, so
 * C12A7328-F81F-11D2-... is stored as 28 73 2A C1 1F F8 D2 11 ...
 */
export function guidToBytes(guid: string): Buffer {
  if (!GUID_RE.test(guid)) {
    throw new HuplabError('guid-invalid', `not a GUID: ${JSON.stringify(guid)}`, {
      hint: 'use the form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX',
    });
  }
  const hex = guid.replace(/-/g, '');
  const canonical = Buffer.from(hex, 'hex');
  const out = Buffer.from(canonical);
  out.writeUInt32LE(canonical.readUInt32BE(0), 0);
  out.writeUInt16LE(canonical.readUInt16BE(4), 4);
  out.writeUInt16LE(canonical.readUInt16BE(6), 6);
  return out;
}

export function guidFromBytes(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const canonical = Buffer.from(b);
  canonical.writeUInt32BE(b.readUInt32LE(0), 0);
  canonical.writeUInt16BE(b.readUInt16LE(4), 4);
  canonical.writeUInt16BE(b.readUInt16LE(6), 6);
  const hex = canonical.toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
