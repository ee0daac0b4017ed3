/**
 * The boot partition of a resinOS 1.x update, as the field's resinhup wrote it: every boot file
 * of the new OS is copied, except the ignored ones (what a user may have edited, config.json, the
 * bootloader's env); a text file that changes is first saved beside itself as `<name>.hup.old`,
 * so an operator's edits can be found again. The plan is pure; `applyBootMerge` writes it, each
 * file atomically on the FAT partition. The field left a half-updated boot partition behind a
 * failed update; here `recordBootUndo` keeps what a merge will overwrite, so a failure after it
 * puts back every byte (`undoBootMerge`): no new file, no `.hup.old` of a run that did not happen.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { atomicCopyFile, atomicWriteFile } from '../../lib/fat/atomic-write.ts';
import { HUP_OLD_SUFFIX, ONEX_BOOT_IGNORED } from '../../lib/contract/onex.ts';

export interface BootMergePlan {
  /** New or changed files to write, as absolute paths on the boot partition. */
  copy: string[];
  /** Changed text files whose current content is saved as `<path>.hup.old` first. */
  saveOld: string[];
  /** Files of the new OS the update does not write (ONEX_BOOT_IGNORED). */
  ignored: string[];
  /** Files already as the new OS has them. */
  unchanged: string[];
}

/** Text, as resinhup judged it: no NUL byte (the boot partition's binaries all have some). */
export function isText(data: Buffer): boolean {
  return !data.subarray(0, 64 * 1024).includes(0);
}

/**
 * What the update does with each of the new OS's boot files (`incoming`, by absolute path on the
 * partition), given what the partition has now (`current`; undefined when the file is absent).
 */
export function planBootMerge(
  incoming: ReadonlyMap<string, Buffer>,
  current: (path: string) => Buffer | undefined,
  ignored: readonly string[] = ONEX_BOOT_IGNORED,
): BootMergePlan {
  const plan: BootMergePlan = { copy: [], saveOld: [], ignored: [], unchanged: [] };
  for (const path of [...incoming.keys()].sort()) {
    if (ignored.includes(path)) {
      plan.ignored.push(path);
      continue;
    }
    const now = current(path);
    const next = incoming.get(path)!;
    if (now?.equals(next)) {
      plan.unchanged.push(path);
      continue;
    }
    if (now !== undefined && isText(now)) plan.saveOld.push(path);
    plan.copy.push(path);
  }
  return plan;
}

/** The files under `dir`, by absolute path from it, with their bytes. */
export function readTree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const rel of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const p = join(dir, rel);
    if (statSync(p).isFile()) out.set(`/${rel}`, readFileSync(p));
  }
  return out;
}

/** Writes a plan: the `.hup.old` copies first, then the new files, each write atomic. */
export async function applyBootMerge(
  plan: BootMergePlan,
  from: string,
  bootMount: string,
  log: (m: string) => void,
): Promise<void> {
  for (const p of plan.saveOld) {
    await atomicCopyFile(join(bootMount, p), join(bootMount, `${p}${HUP_OLD_SUFFIX}`));
    log(`boot file ${p} changed: the old one kept as ${p}${HUP_OLD_SUFFIX}`);
  }
  for (const p of plan.copy) {
    const dest = join(bootMount, p);
    if (!existsSync(dirname(dest))) mkdirSync(dirname(dest), { recursive: true });
    await atomicCopyFile(join(from, p), dest);
    log(`boot file ${p} written`);
  }
}

/** What a merge overwrites or creates, by absolute path on the partition: the bytes before, or undefined (absent). */
export type BootUndo = Map<string, Buffer | undefined>;

/** Reads what applying `plan` on `bootMount` will replace: each written file and each `.hup.old` copy. */
export function recordBootUndo(plan: BootMergePlan, bootMount: string): BootUndo {
  const undo: BootUndo = new Map();
  const keep = (p: string) => {
    const abs = join(bootMount, p);
    undo.set(p, existsSync(abs) ? readFileSync(abs) : undefined);
  };
  // The written files first: undone in this order, the operator's old text is back before its copy goes.
  for (const p of plan.copy) keep(p);
  for (const p of plan.saveOld) keep(`${p}${HUP_OLD_SUFFIX}`);
  return undo;
}

/** Puts the partition back as `recordBootUndo` found it: old bytes rewritten atomically, new files removed. */
export async function undoBootMerge(undo: BootUndo, bootMount: string, log: (m: string) => void): Promise<void> {
  for (const [p, before] of undo) {
    const abs = join(bootMount, p);
    if (before === undefined) {
      if (!existsSync(abs)) continue;
      rmSync(abs, { force: true });
      log(`boot file ${p} removed`);
    } else if (!existsSync(abs) || !readFileSync(abs).equals(before)) {
      await atomicWriteFile(abs, before);
      log(`boot file ${p} restored`);
    }
  }
}
