import { basename } from 'node:path';
import type { TarEntryHeader } from './entry.ts';
import { BLOCK, encodeHeader, OCTAL_MAX, padding, splitName } from './header.ts';
import { encodePax } from './pax.ts';

/** A member to write; `body` must yield exactly `size` bytes (files only). */
export interface TarWriteEntry extends TarEntryHeader {
  body?: Buffer | AsyncIterable<Buffer>;
}

const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', directory: '5' } as const;

/**
 * Serialises members as a POSIX (pax) tar: plain ustar headers when everything fits, a pax
 * extended header before a member when a path, link target, owner name or number does not.
 * Yields the archive as chunks, so it plugs into `pipeline(writeTar(...), gzip, file)`.
 */
export async function* writeTar(
  entries: Iterable<TarWriteEntry> | AsyncIterable<TarWriteEntry>,
): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    const size = e.type === 'file' ? e.size : 0;
    const path = e.type === 'directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const pax: Record<string, string> = {};
    let split = splitName(path);
    if (!split) {
      pax.path = path;
      split = { prefix: '', name: asciiPrefix(path, 100) };
    }
    let linkname = e.linkname ?? '';
    if (Buffer.byteLength(linkname) !== linkname.length || linkname.length > 100) {
      pax.linkpath = linkname;
      linkname = asciiPrefix(linkname, 100);
    }
    const numbers = { uid: e.uid, gid: e.gid, size } as const;
    for (const [k, v] of Object.entries(numbers)) if (v > OCTAL_MAX[k as keyof typeof numbers]) pax[k] = String(v);
    const mtime = Math.floor(e.mtime);
    if (mtime !== e.mtime || mtime < 0 || mtime > OCTAL_MAX.mtime) pax.mtime = String(e.mtime);
    for (const k of ['uname', 'gname'] as const) {
      const v = e[k] ?? '';
      if (Buffer.byteLength(v) > 32 || Buffer.byteLength(v) !== v.length) pax[k] = v;
    }
    if (Object.keys(pax).length) {
      const records = encodePax(pax);
      // GNU tar's naming for the extension member, so other tools list it sensibly.
      const name = `PaxHeaders.0/${asciiPrefix(basename(path) || 'root', 86)}`;
      yield encodeHeader({
        name,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: records.length,
        mtime: clamp(mtime),
        typeflag: 'x',
      });
      yield records;
      yield Buffer.alloc(padding(records.length));
    }
    yield encodeHeader({
      name: split.name,
      prefix: split.prefix,
      mode: e.mode & 0o7777,
      uid: Math.min(e.uid, OCTAL_MAX.uid),
      gid: Math.min(e.gid, OCTAL_MAX.gid),
      size: Math.min(size, OCTAL_MAX.size),
      mtime: clamp(mtime),
      typeflag: TYPEFLAG[e.type],
      linkname,
      uname: pax.uname === undefined ? e.uname : '',
      gname: pax.gname === undefined ? e.gname : '',
    });
    if (size > 0 || e.body) {
      let written = 0;
      const body = e.body ?? Buffer.alloc(0);
      for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
        written += chunk.length;
        // A body longer than its header says would shift every following header.
        if (written > size) throw new Error(`tar writer: ${e.path} has more than the ${size} bytes announced`);
        yield chunk;
      }
      if (written !== size) throw new Error(`tar writer: ${e.path} has ${written} bytes, ${size} announced`);
      yield Buffer.alloc(padding(size));
    }
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(2 * BLOCK);
}

function clamp(mtime: number): number {
  return Math.min(Math.max(mtime, 0), OCTAL_MAX.mtime);
}

/** A stand-in for the ustar field when the real value lives in a pax record. */
function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}
