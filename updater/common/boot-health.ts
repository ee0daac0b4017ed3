import { existsSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import { bootEnvWriteOrder, decodeBootEnv, encodeBootEnv, type BootEnvFiles } from '../../lib/bootenv/index.ts';
import {
  bootEnvTarget,
  dropInterruptedBootEnvWrites,
  readBootEnvFiles,
  writeBootEnvFiles,
  type BootEnv,
  type BootEnvOptions,
} from './bootenv.ts';
import { deviceForLabel } from './partitions.ts';
import { run } from './run.ts';

/**
 * The boot partition is checked before an update writes to it. A damaged FAT that is written to
 * can lose the files the running OS boots from (a new file allocated on clusters another file
 * still uses), so a filesystem error is repaired first (fsck.fat, unmounted) or the update is
 * refused; a garbled bootloader env is rewritten from what is known for certain: the root this OS
 * runs from, nothing pending.
 */

const FSCK = ['/sbin/fsck.fat', '/usr/sbin/fsck.fat'];

function fsckPath(): string | undefined {
  return FSCK.find((p) => existsSync(p));
}

/**
 * What fsck.fat's report says is wrong, folded to one line. Not findings: the dirty bit (the
 * kernel sets it on every mounted FAT, so a check of the mounted boot partition always sees it)
 * and the codepage notices of a system without iconv modules (the device has none).
 */
const NOT_FINDINGS = [
  /^fsck\.fat \d/,
  /^Leaving filesystem/,
  /\b\d+ files, \d+\/\d+ clusters$/,
  /^Dirty bit is set/,
  /^Automatically removing dirty bit/,
  /^Cannot initialize conversion from/,
  /^Using internal CP\d+ conversion table/,
];

export function findings(out: string): string {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !NOT_FINDINGS.some((re) => re.test(l)))
    .slice(0, 4)
    .join('; ');
}

/** fsck.fat -n: its exit status alone would count the dirty bit of a mounted filesystem. */
export function fsckFindings(fsck: string, device: string): string {
  const r = run(fsck, ['-n', device], { allowFail: true });
  if (r.code === 0) return '';
  return findings(r.stdout + r.stderr) || (r.code > 1 ? `fsck.fat exit ${r.code}: ${r.stderr.trim()}` : '');
}

export interface BootPartitionCheck {
  device: string;
  repaired: boolean;
  findings: string;
}

export function checkBootFilesystem(log: (m: string) => void, mountpoint = '/mnt/boot'): BootPartitionCheck {
  const device = deviceForLabel('resin-boot');
  if (!device)
    throw new HuplabError('boot-partition-missing', 'no partition labelled resin-boot', {
      hint: 'the boot partition is damaged; re-flash the device',
    });
  const fsck = fsckPath();
  if (!fsck) {
    log('fsck.fat is not in this OS: the boot partition is not checked');
    return { device, repaired: false, findings: '' };
  }
  run('sync', []);
  const found = fsckFindings(fsck, device);
  if (!found) return { device, repaired: false, findings: '' };
  log(`boot partition ${device} has filesystem errors: ${found}; repairing it unmounted`);
  // The repair needs the filesystem unmounted; it is mounted again whatever happens.
  const umount = run('umount', [mountpoint], { allowFail: true });
  if (umount.code !== 0)
    throw new HuplabError(
      'boot-partition-damaged',
      `boot partition ${device} has filesystem errors (${found}) and cannot be unmounted to repair it: ${umount.stderr.trim()}`,
      { hint: 'reboot the device (the boot check repairs it) and retry' },
    );
  let repair: ReturnType<typeof run>;
  try {
    repair = run(fsck, ['-a', '-w', device], { allowFail: true });
  } finally {
    run('mount', ['-t', 'vfat', '-o', 'rw,noatime,flush', device, mountpoint]);
  }
  const left = fsckFindings(fsck, device);
  if (left) {
    throw new HuplabError(
      'boot-partition-damaged',
      `boot partition ${device} still has filesystem errors after fsck.fat -a (${left}); nothing was written`,
      { hint: 're-flash the boot partition or repair it by hand' },
    );
  }
  log(`boot partition repaired (fsck.fat -a exit ${repair.code}): ${findings(repair.stdout) || 'clean now'}`);
  return { device, repaired: true, findings: found };
}

/**
 * Reads the bootloader env; when it cannot be read (garbled, truncated, missing, naming a
 * partition that is neither root, or a garbled boot counter) both files are rewritten for the
 * root this OS runs from with nothing pending, which is the only state known to be true. The env
 * file's other variables are kept when that file itself still parses.
 *
 * On uefi-launcher devices a missing count file is also recreated (bootcount=0): GRUB cannot
 * create it, so without it the new root's boots would never be counted and never fall back.
 */
export async function checkBootEnv(
  activeSlot: string,
  log: (m: string) => void,
  opts: BootEnvOptions = {},
): Promise<{ env: BootEnv; repaired: boolean }> {
  const t = bootEnvTarget(opts);
  let files: BootEnvFiles | undefined;
  let current: BootEnv | undefined;
  let why = '';
  try {
    files = readBootEnvFiles(t);
    current = decodeBootEnv(t.desc, files);
  } catch (err) {
    why = err instanceof HuplabError ? err.oneLine() : (err as Error).message;
  }
  if (files && current) {
    if (t.desc.kind === 'uefi-launcher' && files.count === undefined) {
      await dropInterruptedBootEnvWrites(t);
      await writeBootEnvFiles(t, { count: encodeBootEnv(t.desc, current, files).count }, ['count']);
      run('sync', []);
      log(
        `boot counter ${t.count} was missing (the launcher cannot create it); created with bootcount=${current.bootcount}`,
      );
      return { env: current, repaired: true };
    }
    return { env: current, repaired: false };
  }
  const env = { resin_root_part: activeSlot, upgrade_available: '0', bootcount: '0' };
  let fresh: BootEnvFiles;
  try {
    fresh = encodeBootEnv(t.desc, env, { env: files?.env });
  } catch {
    fresh = encodeBootEnv(t.desc, env);
  }
  await dropInterruptedBootEnvWrites(t);
  await writeBootEnvFiles(t, fresh, bootEnvWriteOrder(t.desc, undefined, env));
  run('sync', []);
  const where = [t.env, t.count].filter(Boolean).join(' + ');
  log(
    `bootloader env ${where} was unreadable (${why}); rewritten for the running root: resin_root_part=${activeSlot} upgrade_available=0 bootcount=0`,
  );
  return { env, repaired: true };
}
