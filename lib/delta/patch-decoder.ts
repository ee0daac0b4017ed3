import type { FileHandle } from 'node:fs/promises';
import type { ByteReader } from './byte-reader.ts';
import { unzigzag } from './varint.ts';

/**
 * Device side of the binary patch codec. A patch rebuilds one file of known size from an old
 * file and the patch stream, a sequence of operations:
 *
 *   varint copy, varint extra, varint zigzag(seek)
 *   copy bytes   each added (modulo 256) to the old file's byte at the old position, which
 *                then advances by copy
 *   extra bytes  written as they are
 *   then the old position moves by seek (it may go back)
 *
 * until `size` bytes are out. The old position starts at 0 and must stay within the old file.
 *
 * Memory: the old file is read with positioned reads, PIECE bytes at a time, and the patch is
 * consumed as it arrives; nothing is sized by the file.
 */

/** Most bytes held at once (an old piece and its difference bytes). */
export const PIECE = 1 << 20;

export async function* decodePatch(opts: {
  patch: ByteReader;
  old: FileHandle;
  oldSize: number;
  size: number;
  corrupt: (what: string) => Error;
}): AsyncGenerator<Buffer> {
  const { patch, old, oldSize, size, corrupt } = opts;
  let out = 0;
  let oldPos = 0;
  const varint = async (what: string) => {
    try {
      return await patch.varint();
    } catch (err) {
      if (err instanceof RangeError) throw corrupt(`bad ${what}`);
      throw err;
    }
  };
  while (out < size) {
    const copy = await varint('copy length');
    const extra = await varint('extra length');
    const seek = unzigzag(await varint('seek'));
    if (copy + extra === 0 && seek === 0) throw corrupt('empty operation');
    if (copy > size - out || extra > size - out - copy) throw corrupt('operation writes past the end of the file');
    if (copy > oldSize - oldPos) throw corrupt('copy reads past the end of the old file');
    for (let done = 0; done < copy; ) {
      const take = Math.min(PIECE, copy - done);
      const buf = Buffer.allocUnsafe(take);
      for (let got = 0; got < take; ) {
        const { bytesRead } = await old.read(buf, got, take - got, oldPos + done + got);
        if (bytesRead === 0) throw corrupt('the old file ended early');
        got += bytesRead;
      }
      for (let got = 0; got < take; ) {
        const diff = await patch.some(take - got);
        for (let i = 0; i < diff.length; i++) buf[got + i] = (buf[got + i]! + diff[i]!) & 0xff;
        got += diff.length;
      }
      done += take;
      yield buf;
    }
    oldPos += copy;
    out += copy;
    for (let done = 0; done < extra; ) {
      // A copy: the reader's view is only valid until its next call.
      const piece = Buffer.from(await patch.some(Math.min(PIECE, extra - done)));
      done += piece.length;
      yield piece;
    }
    out += extra;
    oldPos += seek;
    if (oldPos < 0 || oldPos > oldSize) throw corrupt('seek leaves the old file');
  }
}
