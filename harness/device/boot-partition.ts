import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { decodeGrubenv, encodeGrubenv } from '../../lib/grubenv.ts';
import { readPartitions } from '../../lib/partition/index.ts';

/**
 * Files on the boot partition of a disk image, read and written from the host with mtools at the
 * partition's offset: no root, no loop device, and the VM must be off (or not yet started).
 */
export class BootPartition {
  private constructor(private readonly target: string) {}

  static async open(diskPath: string): Promise<BootPartition> {
    const parts = await readPartitions(diskPath);
    const boot = parts.find((p) => p.label === 'resin-boot' || p.name === 'resin-boot') ?? parts[0];
    if (!boot) throw new HuplabError('disk-invalid', `${diskPath} has no partitions`, { hint: 'rebuild or re-flash the device' });
    return new BootPartition(`${diskPath}@@${boot.startBytes}`);
  }

  async read(path: string): Promise<Buffer> {
    const r = await execa('mtype', ['-i', this.target, `::${path}`], { encoding: 'buffer', reject: false, env: { MTOOLS_SKIP_CHECK: '1' } });
    if (r.exitCode !== 0) throw new HuplabError('boot-file-missing', `cannot read ${path} from the boot partition: ${Buffer.from(r.stderr).toString().trim()}`);
    return Buffer.from(r.stdout);
  }

  async write(path: string, data: Buffer | string): Promise<void> {
    const r = await execa('mcopy', ['-o', '-i', this.target, '-', `::${path}`], { input: data, reject: false, env: { MTOOLS_SKIP_CHECK: '1' } });
    if (r.exitCode !== 0) throw new HuplabError('boot-write-failed', `cannot write ${path} on the boot partition: ${r.stderr.trim()}`);
  }

  async readGrubenv(path = '/EFI/BOOT/grubenv'): Promise<Record<string, string>> {
    return decodeGrubenv(await this.read(path));
  }

  /** Changes some boot env variables, keeping the others, as `grub-editenv set` would. */
  async updateGrubenv(vars: Record<string, string>, path = '/EFI/BOOT/grubenv'): Promise<Record<string, string>> {
    const next = { ...(await this.readGrubenv(path)), ...vars };
    await this.write(path, encodeGrubenv(next));
    return next;
  }
}
