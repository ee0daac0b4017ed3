import { execa } from 'execa';

/**
 * Sets every file's and directory's modification time to the release date, so that the bytes of
 * the root filesystem, the hostapp layer and the initramfs depend on the inputs only.
 */
export async function normaliseTimes(dir: string, epoch: number): Promise<void> {
  await execa('find', [dir, '-exec', 'touch', '-h', '-d', `@${epoch}`, '{}', '+']);
}
