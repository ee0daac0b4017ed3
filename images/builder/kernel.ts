import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';

/** An unpacked Debian kernel package: the image and its modules tree. */
export interface KernelTree {
  release: string;
  vmlinuz: string;
  modulesDir: string;
  /** Device trees of the package (arm64): /usr/lib/linux-image-<release>/<vendor>/<board>.dtb. */
  dtbDir: string;
}

export async function findKernel(extracted: string): Promise<KernelTree> {
  const boot = await readdir(join(extracted, 'boot'));
  const image = boot.find((f) => f.startsWith('vmlinuz-') || f.startsWith('vmlinux-'));
  if (!image) throw new HuplabError('kernel-invalid', `no kernel image in the kernel package (${extracted}/boot)`);
  const release = image.replace(/^vmlinu[zx]-/, '');
  return {
    release,
    vmlinuz: join(extracted, 'boot', image),
    modulesDir: join(extracted, 'lib', 'modules', release),
    dtbDir: join(extracted, 'usr', 'lib', `linux-image-${release}`),
  };
}

const normalise = (name: string) => name.replace(/-/g, '_');

/**
 * The given modules and everything they depend on, in load order (dependencies first), as paths
 * relative to the modules tree. Debian ships no modules.dep in the package, so the dependencies
 * are read from each module with modinfo.
 */
export async function moduleLoadOrder(
  kernel: KernelTree,
  wanted: string[],
): Promise<Array<{ name: string; path: string }>> {
  const index = new Map<string, string>();
  for (const entry of await readdir(kernel.modulesDir, { recursive: true })) {
    const m = /([^/]+)\.ko$/.exec(entry);
    if (m) index.set(normalise(m[1]!), entry);
  }
  const order: Array<{ name: string; path: string }> = [];
  const seen = new Set<string>();
  const visit = async (raw: string, chain: string[]) => {
    const name = normalise(raw);
    if (seen.has(name)) return;
    if (chain.includes(name))
      throw new HuplabError('kernel-invalid', `module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const path = index.get(name);
    if (!path) {
      // Built into this kernel (e.g. ext4), so there is nothing to load; only a wanted module
      // that is neither a file nor built in is an error.
      if (await isBuiltin(kernel, name)) {
        seen.add(name);
        return;
      }
      throw new HuplabError('kernel-module-missing', `kernel ${kernel.release} has no module "${raw}"`, {
        hint: 'fix kernel.modules in the device profile',
      });
    }
    const { stdout } = await execa('modinfo', ['-F', 'depends', join(kernel.modulesDir, path)]);
    for (const dep of stdout.trim().split(',').filter(Boolean)) await visit(dep, [...chain, name]);
    seen.add(name);
    order.push({ name, path });
  };
  for (const w of wanted) await visit(w, []);
  return order;
}

async function isBuiltin(kernel: KernelTree, name: string): Promise<boolean> {
  try {
    const builtin = await readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8');
    return builtin.split('\n').some((l) => normalise(l.replace(/^.*\//, '').replace(/\.ko$/, '')) === name);
  } catch {
    return false;
  }
}
