import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { labDir } from '../lib/paths.ts';
import { ensureLabKey, type LabKey } from './ssh/keys.ts';

/** A lab: a folder with its own SSH key and its devices. Never shares a key with another lab. */
export interface Lab {
  dir: string;
  key: LabKey;
}

export function openLab(dir: string = labDir()): Lab {
  const abs = resolve(dir);
  mkdirSync(abs, { recursive: true, mode: 0o700 });
  return { dir: abs, key: ensureLabKey(abs) };
}
