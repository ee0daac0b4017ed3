/**
 * Trust on first use for device host keys. The first key a device presents is recorded (as an
 * OpenSSH-style SHA256 fingerprint); any later different key is refused, because the harness must
 * not silently talk to a different machine than the one it booted (a re-flashed device, a stale
 * port forward now pointing at another VM).
 *
 * File format, one entry a line: `<alias> SHA256:<base64>`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { HuplabError } from '../../lib/errors.ts';

export function fingerprint(hostKey: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(hostKey).digest('base64').replace(/=+$/, '')}`;
}

export function readKnownHosts(file: string): Map<string, string> {
  const map = new Map<string, string>();
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return map;
  }
  for (const line of text.split('\n')) {
    const [alias, fp] = line.trim().split(/\s+/);
    if (alias && fp && !alias.startsWith('#')) map.set(alias, fp);
  }
  return map;
}

/**
 * Checks `hostKey` for `alias`: records it on first use, returns normally when it matches and
 * throws 'ssh-hostkey-changed' when it does not.
 */
export function verifyHostKey(file: string, alias: string, hostKey: Buffer): void {
  const fp = fingerprint(hostKey);
  const known = readKnownHosts(file).get(alias);
  if (known === fp) return;
  if (known !== undefined) {
    throw new HuplabError('ssh-hostkey-changed', `host key of ${alias} changed: expected ${known}, got ${fp}`, {
      hint: `the device was re-flashed? delete ${file} to trust the new key`,
    });
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, `${alias} ${fp}\n`, { mode: 0o600 });
}
