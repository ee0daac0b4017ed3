import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';

/**
 * The only file operations the atomic FAT write may use. FAT has no hard links, no permission
 * bits, no symlinks and compares names without case; keeping the algorithm to this interface
 * keeps it honest about that, and lets the tests run it against a real FAT image through
 * mtools as well as against a mounted directory.
 */
export interface FatFs {
  /** Creates or truncates `path` and writes every chunk; durable (fsync) when it resolves. */
  writeFile(path: string, chunks: AsyncIterable<Buffer>): Promise<void>;
  read(path: string): AsyncIterable<Buffer>;
  /** Replaces `to` if it exists. */
  rename(from: string, to: string): Promise<void>;
  /** A missing file is not an error. */
  unlink(path: string): Promise<void>;
  /** Names of the files in `dir` (not directories). */
  list(dir: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number; mtimeMs: number } | undefined>;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string): Promise<void>;
}

/** The mounted filesystem, as the device uses it. */
export const nodeFatFs: FatFs = {
  async writeFile(path, chunks) {
    const fh = await open(path, 'w');
    try {
      for await (const chunk of chunks) {
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  read: (path) => createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>,
  rename: (from, to) => rename(from, to),
  unlink: (path) => rm(path, { force: true }),
  async list(dir) {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  },
  async stat(path) {
    const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    return st && { size: st.size, mtimeMs: st.mtimeMs };
  },
  async syncDir(dir) {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } catch (err) {
      // Some filesystems cannot fsync a directory; their entries are then as durable as it gets.
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
    } finally {
      await fh.close();
    }
  },
};
