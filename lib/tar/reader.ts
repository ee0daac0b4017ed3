import { HuplabError } from '../errors.ts';
import { ByteSource, type TarSource } from './byte-source.ts';
import type { TarEntry, TarEntryType } from './entry.ts';
import { BLOCK, decodeHeader, isZeroBlock, padding } from './header.ts';
import { parsePax } from './pax.ts';

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '5': 'directory',
};
const TYPE_NAMES: Record<string, string> = {
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  S: 'GNU sparse file',
  D: 'GNU dump directory',
  M: 'GNU multi-volume continuation',
  V: 'GNU volume label',
};
// Extension records are small; a huge one means a damaged archive, not a long name.
const MAX_META = 1 << 20;

/**
 * Streams the members of an uncompressed tar (POSIX pax, ustar, GNU, v7). Every yielded
 * entry's body must be consumed or abandoned before asking for the next one; the reader skips
 * what is left. Device nodes, FIFOs and sparse files are refused: root filesystem layers built
 * here do not contain them, and extracting them needs tools Node does not have (mknod).
 */
export async function* readTar(source: TarSource): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source);
  let globals: Record<string, string> = {};
  let local: Record<string, string> = {};
  let gnuName: string | undefined;
  let gnuLink: string | undefined;
  for (;;) {
    const block = await src.read(BLOCK);
    if (!block)
      throw new HuplabError('tar-truncated', 'tar archive has no end-of-archive marker', {
        hint: 'the download or file is incomplete',
      });
    if (isZeroBlock(block)) {
      // The second zero block is optional for lenient readers; whatever follows is padding.
      await src.drain();
      return;
    }
    const raw = decodeHeader(block);
    const flag = raw.typeflag;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (raw.size > MAX_META)
        throw new HuplabError('tar-corrupt', `tar extension record of ${raw.size} bytes is implausibly large`);
      const record = await src.read(raw.size + padding(raw.size));
      if (!record)
        throw new HuplabError('tar-truncated', 'tar archive ends after an extension header', {
          hint: 'the download or file is incomplete',
        });
      const data = record.subarray(0, raw.size);
      if (flag === 'x') local = { ...local, ...parsePax(data) };
      else if (flag === 'g') globals = { ...globals, ...parsePax(data) };
      else {
        const nul = data.indexOf(0);
        const value = data.subarray(0, nul === -1 ? data.length : nul).toString('utf8');
        if (flag === 'L') gnuName = value;
        else gnuLink = value;
      }
      continue;
    }
    const pax = { ...globals, ...local };
    local = {};
    let path = pax.path ?? gnuName ?? raw.name;
    const linkname = pax.linkpath ?? gnuLink ?? raw.linkname;
    gnuName = undefined;
    gnuLink = undefined;
    const type = TYPES[flag];
    if (!type) {
      throw new HuplabError(
        'tar-unsupported',
        `tar member ${path}: ${TYPE_NAMES[flag] ?? `type '${flag}'`} is not supported`,
      );
    }
    if (Object.keys(pax).some((k) => k.startsWith('GNU.sparse.'))) {
      throw new HuplabError('tar-unsupported', `tar member ${path}: sparse files are not supported`);
    }
    const size = paxNumber(pax, 'size') ?? raw.size;
    // Pre-POSIX tars mark directories only by a trailing slash on a regular-file entry.
    const isOldDir = type === 'file' && flag !== '7' && path.endsWith('/');
    const entryType: TarEntryType = isOldDir ? 'directory' : type;
    if (entryType === 'directory' && path.length > 1) path = `${path.replace(/\/+$/, '')}/`;

    const content = entryType === 'file' ? bodyOf(src, size) : undefined;
    const entry: TarEntry = {
      path,
      type: entryType,
      mode: raw.mode & 0o7777,
      uid: paxNumber(pax, 'uid') ?? raw.uid,
      gid: paxNumber(pax, 'gid') ?? raw.gid,
      uname: pax.uname ?? raw.uname,
      gname: pax.gname ?? raw.gname,
      size: entryType === 'file' ? size : 0,
      mtime: paxNumber(pax, 'mtime', true) ?? raw.mtime,
      ...(entryType === 'symlink' || entryType === 'hardlink' ? { linkname } : {}),
      body: content?.body ?? empty(),
    };
    yield entry;
    // Whatever the consumer left unread (all of it, part of it, or, for members other than
    // files, data some writers attach anyway) is skipped to reach the next header.
    const left = content ? content.close() : size;
    await src.skip(left + padding(size));
  }
}

/**
 * A file's content, readable once and only while it is the current member; `close` ends that
 * and tells how many bytes were not taken.
 */
function bodyOf(src: ByteSource, size: number): { body: AsyncIterable<Buffer>; close: () => number } {
  let left = size;
  let opened = false;
  const body: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      if (opened) throw new Error('tar entry body can only be read once, before the next entry');
      opened = true;
      for await (const chunk of src.stream(size)) {
        left -= chunk.length;
        yield chunk;
      }
    },
  };
  return {
    body,
    close: () => {
      opened = true;
      return left;
    },
  };
}

async function* empty(): AsyncGenerator<Buffer> {
  /* no content */
}

function paxNumber(pax: Record<string, string>, key: string, fractional = false): number | undefined {
  const v = pax[key];
  if (v === undefined) return undefined;
  const ok = fractional ? /^-?\d+(\.\d+)?$/.test(v) : /^\d+$/.test(v);
  const n = Number(v);
  if (!ok || !Number.isFinite(n)) throw new HuplabError('tar-corrupt', `pax record ${key}=${v} is not a number`);
  return n;
}
