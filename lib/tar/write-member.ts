import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, lchown, lutimes, open, utimes } from 'node:fs/promises';

/**
 * Creating members with their metadata, shared by the tar extractor and the delta applier.
 * `owner` says whether uid/gid are applied: only root can, and the updater runs as root.
 */
export interface MemberMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  owner: boolean;
}

export const IS_ROOT = process.getuid?.() === 0;

/**
 * Creates `abs` (which must not exist) from `chunks` and applies the metadata through the open
 * descriptor. With `verify`, hashes what it writes (sha256 in the result) and stops once more
 * than `verify.maxBytes` arrived, so a wrong source cannot fill the disk.
 */
export async function writeMember(
  abs: string,
  chunks: AsyncIterable<Buffer>,
  meta: MemberMeta,
  verify?: { maxBytes: number },
): Promise<{ bytes: number; sha256?: string }> {
  // O_EXCL|O_NOFOLLOW: never write through whatever might sit at the path.
  const fh = await open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  const h = verify ? createHash('sha256') : undefined;
  const maxBytes = verify?.maxBytes ?? Infinity;
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      bytes += chunk.length;
      h?.update(chunk);
      if (bytes > maxBytes) break;
      // A write may be short (e.g. the disk fills up): go on until all of it is written or
      // the next write reports why not.
      for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    // chown before chmod: a change of owner clears setuid/setgid.
    if (meta.owner) await fh.chown(meta.uid, meta.gid);
    await fh.chmod(meta.mode);
    await fh.utimes(meta.mtime, meta.mtime);
  } finally {
    await fh.close();
  }
  return h ? { bytes, sha256: h.digest('hex') } : { bytes };
}

export async function applyDirMeta(abs: string, meta: MemberMeta): Promise<void> {
  if (meta.owner) await chown(abs, meta.uid, meta.gid);
  await chmod(abs, meta.mode);
  await utimes(abs, meta.mtime, meta.mtime);
}

export async function applySymlinkMeta(abs: string, meta: MemberMeta): Promise<void> {
  if (meta.owner) await lchown(abs, meta.uid, meta.gid);
  await lutimes(abs, meta.mtime, meta.mtime);
}
