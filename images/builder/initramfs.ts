import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { deviceFilesDir } from '../../lib/paths.ts';
import { moduleLoadOrder, type KernelTree } from './kernel.ts';
import { normaliseTimes } from './reproducible.ts';

/**
 * Builds the initramfs: static busybox, the kernel modules the root and the network need (in
 * dependency order) and our /init, packed as a reproducible newc cpio, gzip-compressed.
 */
export async function buildInitramfs(opts: {
  kernel: KernelTree;
  modules: string[];
  busybox: string;
  workDir: string;
  output: string;
  epoch: number;
}): Promise<{ modules: string[] }> {
  const root = join(opts.workDir, 'initramfs');
  for (const d of ['bin', 'etc', 'lib/modules', 'dev', 'proc', 'sys', 'newroot'])
    await mkdir(join(root, d), { recursive: true });
  await copyFile(opts.busybox, join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await copyFile(join(deviceFilesDir, 'initramfs', 'init'), join(root, 'init'));
  await chmod(join(root, 'init'), 0o755);
  const order = await moduleLoadOrder(opts.kernel, opts.modules);
  for (const m of order)
    await copyFile(join(opts.kernel.modulesDir, m.path), join(root, 'lib', 'modules', `${m.name}.ko`));
  await writeFile(join(root, 'etc', 'modules.order'), `${order.map((m) => m.name).join('\n')}\n`);
  await normaliseTimes(root, opts.epoch);
  await execa(
    'sh',
    ['-c', `find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 --quiet | gzip -9 -n > "$OUT"`],
    {
      cwd: root,
      env: { OUT: opts.output },
    },
  );
  return { modules: order.map((m) => m.name) };
}
