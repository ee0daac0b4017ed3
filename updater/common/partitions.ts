import { readFileSync, realpathSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import { run } from './run.ts';

export type RootSlot = 'A' | 'B';

export interface Roots {
  active: { slot: RootSlot; device: string };
  inactive: { slot: RootSlot; device: string };
}

/** The device behind a filesystem label (busybox findfs), or undefined. */
export function deviceForLabel(label: string): string | undefined {
  const r = run('findfs', [`LABEL=${label}`], { allowFail: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The device mounted at / (the root the bootloader booted). */
export function mountedRootDevice(): string {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '));
  const dev = mounts.filter((m) => m[1] === '/' && m[0]?.startsWith('/dev/')).at(-1)?.[0];
  if (!dev) throw new HuplabError('root-unknown', 'cannot tell which device is mounted at /');
  return realpathSync(dev);
}

/**
 * Active and inactive roots, found by comparing the labelled partitions with the mounted root,
 * as hostapp-update does. The inactive one is found by its partition position, not its
 * filesystem label: a spare root that was never written (or was wiped) has no label yet.
 */
export function findRoots(): Roots {
  const resolve = (d: string | undefined) => (d ? realpathSync(d) : undefined);
  return chooseRoots(mountedRootDevice(), {
    A: resolve(deviceForLabel('resin-rootA')),
    B: resolve(deviceForLabel('resin-rootB')),
  });
}

/** The decision itself, apart from the system calls, so that it can be tested on the host. */
export function chooseRoots(mounted: string, labelled: { A?: string | undefined; B?: string | undefined }): Roots {
  let active: RootSlot;
  if (labelled.A === mounted) active = 'A';
  else if (labelled.B === mounted) active = 'B';
  else
    throw new HuplabError(
      'root-unknown',
      `the mounted root ${mounted} is neither resin-rootA (${labelled.A ?? 'none'}) nor resin-rootB (${labelled.B ?? 'none'})`,
    );
  // rootA is the partition right after resin-boot and rootB the one after it, on GPT and MBR.
  const m = /^(.*?)(p?)(\d+)$/.exec(mounted);
  if (!m) throw new HuplabError('root-unknown', `cannot read a partition number from ${mounted}`);
  const [, base, sep, num] = m;
  const inactiveNo = active === 'A' ? Number(num) + 1 : Number(num) - 1;
  const inactiveDev = `${base}${sep}${inactiveNo}`;
  const other = active === 'A' ? labelled.B : labelled.A;
  if (inactiveDev === mounted || (other !== undefined && other !== inactiveDev)) {
    throw new HuplabError(
      'root-unknown',
      `the spare root is ambiguous (position says ${inactiveDev}, label says ${other}); refusing to update`,
    );
  }
  return {
    active: { slot: active, device: mounted },
    inactive: { slot: active === 'A' ? 'B' : 'A', device: inactiveDev },
  };
}
