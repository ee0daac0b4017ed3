import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import {
  bootEnvWriteOrder,
  decodeBootEnv,
  encodeBootEnv,
  mergeBootEnv,
  type BootEnvFiles,
  type BootloaderDescription,
  type LogicalBootEnv,
} from '../../lib/bootenv/index.ts';
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
    if (!boot)
      throw new HuplabError('disk-invalid', `${diskPath} has no partitions`, {
        hint: 'rebuild or re-flash the device',
      });
    return new BootPartition(`${diskPath}@@${boot.startBytes}`);
  }

  /** The exact bytes (execa would strip a text file's final newline by default). */
  async read(path: string): Promise<Buffer> {
    const r = await this.mtype(path);
    if (r.data === undefined)
      throw new HuplabError('boot-file-missing', `cannot read ${path} from the boot partition: ${r.why}`);
    return r.data;
  }

  /** Like read, but a file that does not exist is undefined (a U-Boot counter before any boot). */
  async readIfExists(path: string): Promise<Buffer | undefined> {
    const r = await this.mtype(path);
    if (r.data !== undefined || /not found/i.test(r.why)) return r.data;
    throw new HuplabError('boot-file-missing', `cannot read ${path} from the boot partition: ${r.why}`);
  }

  private async mtype(path: string): Promise<{ data?: Buffer; why: string }> {
    const r = await execa('mtype', ['-i', this.target, `::${path}`], {
      encoding: 'buffer',
      reject: false,
      stripFinalNewline: false,
      env: { MTOOLS_SKIP_CHECK: '1' },
    });
    return r.exitCode === 0
      ? { data: Buffer.from(r.stdout), why: '' }
      : { why: Buffer.from(r.stderr).toString().trim() };
  }

  async write(path: string, data: Buffer | string): Promise<void> {
    const r = await execa('mcopy', ['-o', '-i', this.target, '-', `::${path}`], {
      input: data,
      reject: false,
      env: { MTOOLS_SKIP_CHECK: '1' },
    });
    if (r.exitCode !== 0)
      throw new HuplabError('boot-write-failed', `cannot write ${path} on the boot partition: ${r.stderr.trim()}`);
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

  /** The bootloader's files as they are on the partition (the count file may be missing). */
  async readBootEnvFiles(desc: BootloaderDescription): Promise<BootEnvFiles> {
    const files: BootEnvFiles = { env: await this.read(desc.envFile) };
    const count = desc.countFile === undefined ? undefined : await this.readIfExists(desc.countFile);
    if (count !== undefined) files.count = count;
    return files;
  }

  /** The logical env (resin_root_part A|B) of any bootloader kind; see lib/bootenv/. */
  async readBootEnv(desc: BootloaderDescription): Promise<LogicalBootEnv> {
    return decodeBootEnv(desc, await this.readBootEnvFiles(desc));
  }

  /**
   * Changes some logical variables, keeping the others, in the files of any bootloader kind, in
   * the same order as the updater (the VM is off, but a test may cut between the writes).
   */
  async updateBootEnv(desc: BootloaderDescription, vars: LogicalBootEnv): Promise<Record<string, string>> {
    const files = await this.readBootEnvFiles(desc);
    const previous = decodeBootEnv(desc, files);
    const next = mergeBootEnv(previous, vars);
    const out = encodeBootEnv(desc, next, files);
    for (const role of bootEnvWriteOrder(desc, previous, next)) {
      const path = role === 'env' ? desc.envFile : desc.countFile;
      const data = out[role];
      if (path !== undefined && data !== undefined) await this.write(path, data);
    }
    return next;
  }
}
