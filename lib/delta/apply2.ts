import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, open, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createBrotliDecompress } from 'node:zlib';
import { HuplabError } from '../errors.ts';
import { SafeTree } from '../tar/extract.ts';
import { applyDirMeta, applySymlinkMeta, IS_ROOT, writeMember, type MemberMeta } from '../tar/write-member.ts';
import type { ApplyDeltaResult, ApplyProgress } from './apply-result.ts';
import { ByteReader } from './byte-reader.ts';
import {
  type DeltaEntry2,
  type DeltaManifest2,
  listingDigest,
  listingLine,
  MAGIC,
  parseManifest2,
  patchBaseLine,
} from './format2.ts';
import { decodePatch } from './patch-decoder.ts';

const MAX_MANIFEST = 64 << 20;

function corruptError(delta: string, what: string): HuplabError {
  return new HuplabError('delta-corrupt', `${delta}: ${what}`, { hint: 'the delta is damaged; use the full image' });
}

function mismatchError(what: string): HuplabError {
  return new HuplabError('delta-base-mismatch', `running root differs from what the delta expects: ${what}`, {
    hint: 'the delta cannot be applied to this device; use the full image',
  });
}

/** The decompressed stream of a format-2 delta (after its magic), as a ByteReader. */
function openStream(delta: string): { reader: ByteReader; close: () => void } {
  const decoded = pipeline(
    createReadStream(delta, { start: MAGIC.length, highWaterMark: 1 << 16 }),
    createBrotliDecompress({ chunkSize: 1 << 16 }),
    () => {},
  );
  const it = (decoded as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const reader = new ByteReader(
    {
      next: async () => {
        try {
          return await it.next();
        } catch (err) {
          throw corruptError(delta, `cannot be decompressed (${(err as Error).message})`);
        }
      },
    },
    () => corruptError(delta, 'ends early'),
  );
  return { reader, close: () => decoded.destroy() };
}

export async function readManifest2(reader: ByteReader, delta: string): Promise<DeltaManifest2> {
  const len = (await reader.exact(4)).readUInt32LE(0);
  if (len > MAX_MANIFEST) throw corruptError(delta, `manifest of ${len} bytes`);
  return parseManifest2((await reader.exact(len)).toString('utf8'));
}

/**
 * Format 2 on the device (format2.ts): the same contract as format 1's applyDelta. Order:
 * directories, kept entries (the listing digest is checked before any payload is read, so a
 * modified base fails before the delta's contents are unpacked), files from the base, the
 * payload (blobs and patches, each file checked against its sha256), symlinks, hard links, the
 * directories' metadata, and last the digest of the complete tree as written.
 */
export async function applyDelta2(opts: {
  delta: string;
  baseRoot: string;
  target: string;
  onProgress?: (p: ApplyProgress) => void;
}): Promise<ApplyDeltaResult> {
  const { reader, close } = openStream(opts.delta);
  try {
    const manifest = await readManifest2(reader, opts.delta);
    return await new Writer2(manifest, opts, reader).run();
  } finally {
    close();
  }
}

class Writer2 {
  private readonly tree: SafeTree;
  private readonly lines: string[] = [];
  private readonly filesTotal: number;
  private readonly bytesTotal: number;
  private filesDone = 0;
  private bytesWritten = 0;

  constructor(
    private readonly manifest: DeltaManifest2,
    private readonly opts: { delta: string; baseRoot: string; target: string; onProgress?: (p: ApplyProgress) => void },
    private readonly reader: ByteReader,
  ) {
    this.tree = new SafeTree(opts.target);
    const files = manifest.entries.filter((e) => e.type === 'file');
    this.filesTotal = files.length;
    this.bytesTotal = files.reduce((a, e) => a + e.size, 0);
  }

  async run(): Promise<ApplyDeltaResult> {
    const { entries } = this.manifest;
    const target = this.opts.target;
    const dirs: { abs: string; meta: MemberMeta }[] = [];
    for (const e of entries.filter((x) => x.type === 'directory')) {
      dirs.push({ abs: e.path === '.' ? target : await this.tree.prepare(e.path, true), meta: meta(e) });
      this.lines.push(listingLine(e));
    }
    const kept = await this.copyKept();
    const files = entries.filter((e) => e.type === 'file');
    const fromBase = files.filter((e) => e.source === 'base');
    for (const e of fromBase) await this.copyFromBase(e);
    const fromDelta = files.filter((e) => e.source !== 'base');
    await this.unpackPayload(fromDelta);
    for (const e of entries.filter((x) => x.type === 'symlink')) {
      const abs = await this.tree.prepare(e.path, false);
      await symlink(e.linkname!, abs);
      this.tree.forget(e.path);
      await applySymlinkMeta(abs, meta(e));
      this.lines.push(listingLine(e));
    }
    for (const e of entries.filter((x) => x.type === 'hardlink')) {
      await link(await this.tree.existing(e.linkname!), await this.tree.prepare(e.path, false));
      this.lines.push(listingLine(e));
    }
    for (const d of dirs.reverse()) await applyDirMeta(d.abs, d.meta);
    if (listingDigest(this.lines) !== this.manifest.treeDigest)
      throw corruptError(this.opts.delta, 'the root written does not match the tree digest of the delta');
    return {
      format: 2,
      filesFromDelta: fromDelta.length,
      filesFromBase: fromBase.length + kept,
      bytesWritten: this.bytesWritten,
    };
  }

  /**
   * The kept entries: the files and symlinks of the base's walked directories that the manifest
   * does not name, taken with the base's metadata but the manifest's mtime; checked by one
   * digest over all of them.
   */
  private async copyKept(): Promise<number> {
    const named = new Set([...this.manifest.entries.map((e) => e.path), ...this.manifest.dropped]);
    const baseLines: string[] = [];
    for (const d of this.manifest.entries.filter((e) => e.walk)) {
      const dir = join(this.opts.baseRoot, d.path);
      const st = await lstat(dir).catch(() => undefined);
      if (!st?.isDirectory()) throw mismatchError(`/${d.path} is not a directory`);
      for (const name of (await readdir(dir)).sort()) {
        const path = d.path === '.' ? name : `${d.path}/${name}`;
        if (named.has(path)) continue;
        const line = await this.copyKeptEntry(path);
        if (line) baseLines.push(line);
      }
    }
    if (listingDigest(baseLines) !== this.manifest.keptDigest)
      throw mismatchError(
        `the ${baseLines.length} unchanged files and symlinks found do not match the delta's listing digest (a file changed, is missing or was added)`,
      );
    return baseLines.length;
  }

  /** One kept entry written; its base listing line, or undefined for a directory (not kept). */
  private async copyKeptEntry(path: string): Promise<string | undefined> {
    const src = join(this.opts.baseRoot, path);
    const st = await lstat(src);
    if (st.isDirectory()) return undefined;
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000 };
    const m = { ...base, mtime: this.manifest.mtime, owner: IS_ROOT };
    if (st.isSymbolicLink()) {
      const linkname = await readlink(src);
      const abs = await this.tree.prepare(path, false);
      await symlink(linkname, abs);
      this.tree.forget(path);
      await applySymlinkMeta(abs, m);
      this.lines.push(listingLine({ path, type: 'symlink', ...m, size: 0, linkname }));
      return listingLine({ path, type: 'symlink', ...base, size: 0, linkname });
    }
    if (!st.isFile()) throw mismatchError(`/${path} is neither a file, a directory nor a symlink`);
    const body = createReadStream(src, { start: 0, end: st.size, highWaterMark: 1 << 20 });
    const got = await this.write(path, body as AsyncIterable<Buffer>, m, st.size);
    if (got.bytes !== st.size) throw mismatchError(`/${path} changed size while being read`);
    this.lines.push(listingLine({ path, type: 'file', ...m, size: st.size, sha256: got.sha256! }));
    return listingLine({ path, type: 'file', ...base, size: st.size, sha256: got.sha256! });
  }

  private async copyFromBase(e: DeltaEntry2): Promise<void> {
    const rel = e.basePath ?? e.path;
    const src = join(this.opts.baseRoot, rel);
    const st = await lstat(src).catch(() => undefined);
    if (!st?.isFile()) throw mismatchError(`/${rel} ${st ? 'is not a regular file' : 'is missing'}`);
    if (st.size !== e.size) throw mismatchError(`/${rel} has ${st.size} bytes, expected ${e.size}`);
    const body = createReadStream(src, { start: 0, end: e.size, highWaterMark: 1 << 20 });
    const got = await this.write(e.path, body as AsyncIterable<Buffer>, meta(e), e.size);
    if (got.bytes !== e.size || got.sha256 !== e.sha256) throw mismatchError(`/${rel} has different content (sha256)`);
    this.lines.push(listingLine(e));
  }

  /** Blobs and patches in manifest order; repeated contents are copied from their first file. */
  private async unpackPayload(fromDelta: DeltaEntry2[]): Promise<void> {
    const written = new Map<string, string>();
    for (const e of fromDelta) {
      const first = written.get(e.sha256!);
      let got: { bytes: number; sha256?: string };
      if (first !== undefined && e.source === 'blob') {
        const abs = join(this.opts.target, first);
        got = await this.write(e.path, createReadStream(abs) as AsyncIterable<Buffer>, meta(e), e.size);
      } else if (e.source === 'patch') {
        got = await this.patch(e);
      } else {
        got = await this.write(e.path, this.blob(e.size), meta(e), e.size);
      }
      if (got.bytes !== e.size || got.sha256 !== e.sha256) {
        if (e.source === 'patch') await this.explainPatchFailure();
        throw corruptError(this.opts.delta, `content of ${e.path} does not match its hash`);
      }
      if (first === undefined) written.set(e.sha256!, e.path);
      this.lines.push(listingLine(e));
    }
    if (!(await this.reader.atEnd())) throw corruptError(this.opts.delta, 'data after the last file');
  }

  private async *blob(size: number): AsyncGenerator<Buffer> {
    for (let done = 0; done < size; ) {
      const piece = Buffer.from(await this.reader.some(Math.min(1 << 20, size - done)));
      done += piece.length;
      yield piece;
    }
  }

  private async patch(e: DeltaEntry2): Promise<{ bytes: number; sha256?: string }> {
    const rel = e.basePath ?? e.path;
    const src = join(this.opts.baseRoot, rel);
    const st = await lstat(src).catch(() => undefined);
    if (!st?.isFile()) throw mismatchError(`/${rel} ${st ? 'is not a regular file' : 'is missing'}`);
    if (st.size !== e.baseSize) throw mismatchError(`/${rel} has ${st.size} bytes, expected ${e.baseSize}`);
    const old = await open(src, 'r');
    try {
      const body = decodePatch({
        patch: this.reader,
        old,
        oldSize: st.size,
        size: e.size,
        corrupt: (what) => corruptError(this.opts.delta, `patch of ${e.path}: ${what}`),
      });
      return await this.write(e.path, body, meta(e), e.size);
    } finally {
      await old.close();
    }
  }

  /** A patch whose result is wrong: blame the base when the patches' bases are not the files they were made against. */
  private async explainPatchFailure(): Promise<void> {
    const lines: string[] = [];
    for (const e of this.manifest.entries.filter((x) => x.source === 'patch')) {
      const rel = e.basePath ?? e.path;
      const h = createHash('sha256');
      for await (const c of createReadStream(join(this.opts.baseRoot, rel))) h.update(c as Buffer);
      lines.push(patchBaseLine(rel, h.digest('hex')));
    }
    if (createHash('sha256').update(lines.join('')).digest('hex') !== this.manifest.patchBases)
      throw mismatchError('a file the patches are made against has different content (sha256)');
  }

  private async write(
    path: string,
    body: AsyncIterable<Buffer>,
    m: MemberMeta,
    size: number,
  ): Promise<{ bytes: number; sha256?: string }> {
    const abs = await this.tree.prepare(path, false);
    const got = await writeMember(abs, body, m, { maxBytes: size });
    this.bytesWritten += Math.min(got.bytes, size);
    this.filesDone++;
    this.opts.onProgress?.({
      path,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      bytesWritten: this.bytesWritten,
      bytesTotal: this.bytesTotal,
    });
    return got;
  }
}

function meta(e: DeltaEntry2): MemberMeta {
  return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, owner: IS_ROOT };
}
