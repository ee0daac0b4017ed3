import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { labDir } from '../lib/paths.ts';
import { ensureLabKey, type LabKey } from './ssh/keys.ts';

/** A lab: a folder with its own SSH key, operator token and devices. Never shares either with another lab. */
export interface Lab {
  dir: string;
  key: LabKey;
  /** The secret the harness's own calls to the lab backend carry (the backend's operator). */
  operatorToken: string;
}

export function openLab(dir: string = labDir()): Lab {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  return { dir: abs, key: ensureLabKey(abs), operatorToken: ensureOperatorToken(abs) };
}

/** The lab's operator token, made on first use: <lab>/operator-token, mode 0600. */
export function ensureOperatorToken(dir: string): string {
  const file = join(dir, 'operator-token');
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}
