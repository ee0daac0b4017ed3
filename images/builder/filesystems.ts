import { rm } from 'node:fs/promises';
import { execa } from 'execa';

/** Runs a command as if root when we are not, so that files in the image are owned by root. */
function asRoot(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? [cmd, args] : ['fakeroot', [cmd, ...args]];
}

/**
 * An ext4 filesystem image filled from a directory, with no root and no loop device. The UUID,
 * the directory hash seed and the superblock times are fixed, so equal inputs give equal bytes.
 */
export async function makeExt4(opts: {
  dir?: string;
  output: string;
  label: string;
  sizeMiB: number;
  uuid: string;
  epoch: number;
}): Promise<void> {
  await rm(opts.output, { force: true });
  const args = [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-b',
    '4096',
    '-L',
    opts.label,
    '-U',
    opts.uuid,
    '-E',
    `hash_seed=${opts.uuid},root_owner=0:0,lazy_itable_init=1`,
    '-m',
    '0',
  ];
  if (opts.dir) args.push('-d', opts.dir);
  args.push(opts.output, `${opts.sizeMiB}M`);
  const [cmd, argv] = asRoot('mke2fs', args);
  await execa(cmd, argv, { env: { E2FSPROGS_FAKE_TIME: String(opts.epoch) } });
}

/** A FAT filesystem image (FAT16 below 256 MiB, as the balenaOS boot partition) filled with mtools. */
export async function makeVfat(opts: {
  dir: string;
  output: string;
  label: string;
  sizeMiB: number;
  volumeId: string;
  epoch: number;
}): Promise<void> {
  await rm(opts.output, { force: true });
  const fat = opts.sizeMiB < 256 ? '16' : '32';
  await execa(
    'mkfs.vfat',
    ['-C', '--invariant', '-F', fat, '-n', opts.label, '-i', opts.volumeId, opts.output, String(opts.sizeMiB * 1024)],
    {
      env: { SOURCE_DATE_EPOCH: String(opts.epoch) },
    },
  );
  await execa('sh', ['-c', 'mcopy -s -p -m -Q -i "$IMG" "$DIR"/* ::/'], {
    env: { IMG: opts.output, DIR: opts.dir, MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(opts.epoch) },
  });
}
