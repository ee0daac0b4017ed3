import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { atomicCopyFile, repairInterrupted } from '../../lib/fat/atomic-write.ts';
import { BOOT_FILES_DIR, BOOTLOADER_ENV_FILES, COPY_IF_ABSENT, KEPT_BACK } from '../../lib/boot-files.ts';

export { BOOT_FILES_DIR, COPY_IF_ABSENT, KEPT_BACK };

/** Free space that must remain on the boot partition after the copy, as in the field. */
const MIN_FREE_AFTER = 512 * 1024;

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();
}

export interface BootFilesPlan {
  copy: string[];
  keptBack: string[];
  bytes: number;
}

/** What a copy would do, and whether it fits: the dry run that precedes any write. */
export function planBootFiles(fromRoot: string, bootMount = '/mnt/boot'): BootFilesPlan {
  const src = join(fromRoot, BOOT_FILES_DIR);
  if (!existsSync(src))
    throw new HuplabError('bootfiles-missing', `${src} does not exist: the new OS ships no boot files`);
  const copy: string[] = [];
  const keptBack: string[] = [];
  let bytes = 0;
  for (const rel of listFiles(src)) {
    const abs = `/${rel}`;
    const keep = KEPT_BACK.includes(abs) || (COPY_IF_ABSENT.includes(abs) && existsSync(join(bootMount, rel)));
    if (keep) {
      keptBack.push(abs);
      continue;
    }
    copy.push(abs);
    const old = join(bootMount, rel);
    bytes += statSync(join(src, rel)).size - (existsSync(old) ? statSync(old).size : 0);
  }
  const fs = statfsSync(bootMount);
  const free = fs.bavail * fs.bsize;
  // The atomic copy holds two extra copies of the largest file for a moment.
  const largest = Math.max(0, ...copy.map((p) => statSync(join(src, p)).size));
  if (free - bytes - 2 * largest < MIN_FREE_AFTER) {
    throw new HuplabError(
      'bootfiles-no-space',
      `the boot partition has ${free} bytes free; the new boot files need ${bytes + 2 * largest} and 512 KiB must remain`,
      {
        hint: 'remove stray files from /mnt/boot',
      },
    );
  }
  return { copy, keptBack, bytes };
}

/** Copies an OS's boot files onto the boot partition, file by file, each write atomic. */
export async function installBootFiles(
  fromRoot: string,
  bootMount = '/mnt/boot',
  log: (m: string) => void = () => {},
): Promise<BootFilesPlan> {
  // Interrupted atomic writes of an earlier run are completed or dropped first, so that the
  // comparison below sees whole files.
  for (const dir of new Set([
    bootMount,
    ...listFiles(join(fromRoot, BOOT_FILES_DIR)).map((p) => dirname(join(bootMount, p))),
  ])) {
    // The bootloader's env is not finished behind its back: see BOOTLOADER_ENV_FILES.
    if (existsSync(dir)) await repairInterrupted(dir, { keepInPlace: BOOTLOADER_ENV_FILES.map((p) => basename(p)) });
  }
  const plan = planBootFiles(fromRoot, bootMount);
  const src = join(fromRoot, BOOT_FILES_DIR);
  for (const p of plan.copy) {
    const dest = join(bootMount, p);
    const same = existsSync(dest) && readFileSync(dest).equals(readFileSync(join(src, p)));
    if (same) continue;
    mkdirSync(dirname(dest), { recursive: true });
    await atomicCopyFile(join(src, p), dest);
    log(`boot file ${relative(bootMount, dest)} updated`);
  }
  return plan;
}
