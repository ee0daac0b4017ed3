/**
 * The resinOS 1.x roots: which one runs (resin-root, partition 2, or resin-updt, partition 3) and
 * which is the spare the update writes, and what the new root takes over from the running one
 * (the field's quirks and kept files).
 */
import { existsSync, lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LAYOUT_1X, rootLabels } from '../../lib/partition/resin-1x.ts';
import { ONEX_KEPT_PATHS, ONEX_QUIRKS } from '../../lib/contract/onex.ts';
import { chooseRoots, deviceForLabel, mountedRootDevice, type Roots, type RootSlot } from '../common/partitions.ts';
import { run } from '../common/run.ts';

/** The running and the spare root; the spare is found by position (a fresh one has no label yet). */
export function findOnexRoots(): Roots {
  const labels = rootLabels(LAYOUT_1X);
  const resolve = (d: string | undefined) => (d ? realpathSync(d) : undefined);
  return chooseRoots(mountedRootDevice(), {
    A: resolve(deviceForLabel(labels.A)),
    B: resolve(deviceForLabel(labels.B)),
  });
}

/** The filesystem label of a root slot on the 1.x line: resin-root (A) or resin-updt (B). */
export function onexRootLabel(slot: RootSlot): string {
  return rootLabels(LAYOUT_1X)[slot];
}

/**
 * Copies `paths` of the running root (`from`) over the new one (`to`) as they are (files,
 * folders, links), replacing what the new OS has there; paths the running root lacks are left as
 * the new OS has them. Returns the paths copied.
 */
export function carryOver(from: string, to: string, paths: readonly string[]): string[] {
  const copied: string[] = [];
  for (const p of paths) {
    const src = join(from, p);
    let present = false;
    try {
      lstatSync(src);
      present = true;
    } catch {
      present = false;
    }
    if (!present) continue;
    const dest = join(to, p);
    if (!existsSync(dirname(dest))) mkdirSync(dirname(dest), { recursive: true });
    run('rm', ['-rf', dest]);
    run('cp', ['-a', src, dest]);
    copied.push(p);
  }
  return copied;
}

/** The quirks, then the kept files: what the new root takes over. */
export function keepFiles(from: string, to: string): { quirks: string[]; kept: string[] } {
  return { quirks: carryOver(from, to, ONEX_QUIRKS), kept: carryOver(from, to, ONEX_KEPT_PATHS) };
}
