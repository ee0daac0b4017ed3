/**
 * The resinOS 1.x updates' checks, made before anything is written: the fingerprint check of the
 * read-write root and the boot partition (1.x -> 1.x; the field's resinhup), and the compressed
 * size of /data against the room on the spare root (1.x -> 2.x; measured first, where the field
 * found out by failing halfway). Each refuses with a HuplabError whose code is one of
 * ONEX_REFUSALS, the device unchanged.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { FINGERPRINT_FILES, fingerprintTree, modifiedFiles, parseFingerprint } from '../../lib/fingerprint.ts';
import { dataOverLimitMessage, fingerprintFailedLine, ONEX_REFUSALS } from '../../lib/contract/onex.ts';

export interface FingerprintResult {
  /** Files checked on the root and on the boot partition. */
  checked: { root: number; boot: number };
  /** Listed files whose md5 differs, as absolute paths on the device (boot files under `bootMount`). */
  modified: string[];
}

/**
 * Checks the root mounted at `root` and the boot partition mounted at `boot` against their
 * fingerprint files; `log` gets one field line per modified file. Refuses when a file differs
 * or a fingerprint file is missing.
 */
export function checkFingerprints(opts: {
  root: string;
  boot: string;
  bootMount?: string;
  log?: (line: string) => void;
}): FingerprintResult {
  const bootMount = opts.bootMount ?? '/mnt/boot';
  const read = (dir: string, file: string, what: string) => {
    const path = join(dir, file);
    if (!existsSync(path))
      throw new HuplabError(ONEX_REFUSALS.noFingerprint, `the ${what} has no fingerprint file ${file}`, {
        hint: 'this 1.x image cannot be checked; reflash it',
      });
    return parseFingerprint(readFileSync(path, 'utf8'));
  };
  const rootWant = read(opts.root, FINGERPRINT_FILES.root, 'root');
  const bootWant = read(opts.boot, FINGERPRINT_FILES.boot, 'boot partition');
  const rootHave = fingerprintTree(opts.root, 'root');
  const bootHave = fingerprintTree(opts.boot, 'boot');
  const modified = [
    ...modifiedFiles(rootWant, rootHave),
    ...modifiedFiles(bootWant, bootHave).map((p) => `${bootMount}${p}`),
  ];
  for (const m of modified) opts.log?.(fingerprintFailedLine(m));
  if (modified.length > 0) {
    throw new HuplabError(
      ONEX_REFUSALS.rootModified,
      `${modified.length} file(s) of the OS were modified: ${modified.join(', ')}; nothing was changed`,
      { hint: 'restore the files named (or reflash the device); the update only replaces an unmodified OS' },
    );
  }
  return { checked: { root: rootWant.size, boot: bootWant.size }, modified };
}

/**
 * The size of `dir` as the backup writes it (`tar -czf`, as the field's script), counted as it
 * streams: nothing is written anywhere.
 */
export function compressedSize(dir: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-czf', '-', '-C', dirname(dir), basename(dir)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    tar.stdout.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    tar.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    tar.on('error', reject);
    tar.on('close', (code) => {
      if (code === 0) resolve(bytes);
      else
        reject(
          new HuplabError(
            'command-failed',
            `tar -czf of ${dir} failed (${code}): ${stderr.trim().split('\n').at(-1) ?? ''}`,
          ),
        );
    });
  });
}

/** Refuses, before anything is touched, a /data whose compressed backup would not fit. */
export async function checkDataBackup(dir: string, limit: number): Promise<{ bytes: number; limit: number }> {
  const bytes = await compressedSize(dir);
  if (bytes > limit) {
    throw new HuplabError(ONEX_REFUSALS.dataOverLimit, dataOverLimitMessage(bytes, limit), {
      hint: 'remove data of the application under /mnt/data/resin-data until it fits, then update again',
    });
  }
  return { bytes, limit };
}
