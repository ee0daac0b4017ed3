import { createReadStream } from 'node:fs';
import { link, lstat, open, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../errors.ts';
import { SafeTree } from '../tar/extract.ts';
import { normalizeMemberPath } from '../tar/safe-path.ts';
import { applyDirMeta, applySymlinkMeta, IS_ROOT, writeMember, type MemberMeta } from '../tar/write-member.ts';
import type { ApplyDeltaResult, ApplyProgress } from './apply-result.ts';
import { applyDelta2 } from './apply2.ts';
import {
  BLOB_PREFIX,
  DELTA_FORMAT,
  MANIFEST_NAME,
  parseManifest,
  type DeltaEntry,
  type DeltaManifest,
} from './format.ts';
import { DELTA_FORMAT_2, MAGIC } from './format2.ts';
import { openGzipTar } from './layer.ts';
import { clearTargetRoot, emptyTargetRoot } from './target-root.ts';

export type { ApplyDeltaResult, ApplyProgress } from './apply-result.ts';

const MAX_MANIFEST = 64 << 20;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** Format 2's magic without its version digit: a later format starts the same way. */
const MAGIC_STEM = MAGIC.subarray(0, MAGIC.length - 1);

/**
 * The format of a delta file from its first bytes: 1 (gzip tar) or 2 (MAGIC); a later huplab
 * format is refused with 'delta-format' so that the caller falls back to the full image.
 */
export async function deltaFormatOf(delta: string): Promise<1 | 2> {
  const head = Buffer.alloc(MAGIC.length);
  const fh = await open(delta, 'r');
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return DELTA_FORMAT;
  if (head.equals(MAGIC)) return DELTA_FORMAT_2;
  if (head.subarray(0, MAGIC_STEM.length).equals(MAGIC_STEM)) {
    throw new HuplabError(
      'delta-format',
      `delta format ${JSON.stringify(head.subarray(MAGIC_STEM.length).toString('latin1'))} is not supported (this updater reads formats ${DELTA_FORMAT} and ${DELTA_FORMAT_2})`,
      { hint: 'use the full image' },
    );
  }
  throw new HuplabError('delta-corrupt', `${delta} is not a huplab delta (unknown first bytes)`, {
    hint: 'the delta is damaged or was not made by huplab; use the full image',
  });
}

/** The manifest of a delta file (its first member), checked. */
export async function readDeltaManifest(delta: string): Promise<DeltaManifest> {
  const { entries } = openGzipTar(delta);
  try {
    const first = await entries.next();
    if (
      first.done ||
      first.value.path !== MANIFEST_NAME ||
      first.value.type !== 'file' ||
      first.value.size > MAX_MANIFEST
    ) {
      throw new HuplabError('delta-corrupt', `${delta} does not start with ${MANIFEST_NAME}`, {
        hint: 'the delta is damaged or was not made by huplab; use the full image',
      });
    }
    const parts: Buffer[] = [];
    for await (const chunk of first.value.body) parts.push(chunk);
    return parseManifest(Buffer.concat(parts).toString('utf8'));
  } finally {
    // Stops reading the rest of the file.
    await entries.return(undefined);
  }
}

/**
 * Device side: writes the complete target tree described by `delta` (format 1 or 2, told apart
 * by the first bytes; format 2: apply2.ts) into `targetRoot` (empty
 * but for lost+found). Unchanged files are copied from `baseRoot` (the running, read-only
 * root) and checked against the hash the delta expects while they are copied; a base that
 * differs throws 'delta-base-mismatch' naming the file, and the caller falls back to the full
 * image. On any failure the target is emptied again.
 *
 * Order: directories, files from the base (checked first, so a modified base fails before the
 * delta's contents are unpacked), files from the delta, symlinks, hard links, and last the
 * directories' own metadata (writing into a directory changes its mtime).
 */
export async function applyDelta(opts: {
  delta: string;
  baseRoot: string;
  targetRoot: string;
  onProgress?: (p: ApplyProgress) => void;
}): Promise<ApplyDeltaResult> {
  if ((await deltaFormatOf(opts.delta)) === DELTA_FORMAT_2) {
    const target = await emptyTargetRoot(opts.targetRoot);
    try {
      return await applyDelta2({ delta: opts.delta, baseRoot: opts.baseRoot, target, onProgress: opts.onProgress });
    } catch (err) {
      await clearTargetRoot(target);
      throw err;
    }
  }
  const manifest = await readDeltaManifest(opts.delta);
  const target = await emptyTargetRoot(opts.targetRoot);
  try {
    return await new DeltaWriter(manifest, opts.baseRoot, target, opts.onProgress).run(opts.delta);
  } catch (err) {
    await clearTargetRoot(target);
    throw err;
  }
}

class DeltaWriter {
  private readonly tree: SafeTree;
  private readonly files: DeltaEntry[];
  private readonly bytesTotal: number;
  private filesDone = 0;
  private bytesWritten = 0;

  constructor(
    private readonly manifest: DeltaManifest,
    private readonly baseRoot: string,
    private readonly target: string,
    private readonly onProgress?: (p: ApplyProgress) => void,
  ) {
    this.tree = new SafeTree(target);
    this.files = manifest.entries.filter((e) => e.type === 'file');
    this.bytesTotal = this.files.reduce((a, e) => a + e.size, 0);
  }

  async run(delta: string): Promise<ApplyDeltaResult> {
    const entries = this.manifest.entries;
    const dirs: { abs: string; meta: MemberMeta }[] = [];
    for (const e of entries.filter((x) => x.type === 'directory')) {
      dirs.push({ abs: e.path === '.' ? this.target : await this.tree.prepare(e.path, true), meta: meta(e) });
    }
    const fromBase = this.files.filter((e) => e.source === 'base');
    for (const e of fromBase) await this.copyFromBase(e);
    const fromDelta = this.files.filter((e) => e.source === 'delta');
    await this.unpackBlobs(delta, fromDelta);
    for (const e of entries.filter((x) => x.type === 'symlink')) {
      const abs = await this.tree.prepare(e.path, false);
      await symlink(e.linkname!, abs);
      this.tree.forget(e.path);
      await applySymlinkMeta(abs, meta(e));
    }
    for (const e of entries.filter((x) => x.type === 'hardlink')) {
      await link(await this.tree.existing(e.linkname!), await this.tree.prepare(e.path, false));
    }
    for (const d of dirs.reverse()) await applyDirMeta(d.abs, d.meta);
    return {
      format: 1,
      filesFromDelta: fromDelta.length,
      filesFromBase: fromBase.length,
      bytesWritten: this.bytesWritten,
    };
  }

  private async copyFromBase(e: DeltaEntry): Promise<void> {
    const rel = e.basePath ?? e.path;
    const src = join(this.baseRoot, rel);
    const mismatch = (why: string) =>
      new HuplabError('delta-base-mismatch', `running root differs from what the delta expects: /${rel} ${why}`, {
        hint: 'the delta cannot be applied to this device; use the full image',
      });
    const st = await lstat(src).catch(() => undefined);
    if (!st?.isFile()) throw mismatch(st ? 'is not a regular file' : 'is missing');
    if (st.size !== e.size) throw mismatch(`has ${st.size} bytes, expected ${e.size}`);
    // Read at most one byte more than expected: enough to notice growth, bounded for odd files.
    const body = createReadStream(src, { start: 0, end: e.size, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
    const got = await this.write(e, body);
    if (got.bytes !== e.size || got.sha256 !== e.sha256)
      throw mismatch(got.bytes !== e.size ? `changed size while being read` : 'has different content (sha256)');
  }

  /** Streams the delta's blobs into the files that need them; copies for repeated contents. */
  private async unpackBlobs(delta: string, fromDelta: DeltaEntry[]): Promise<void> {
    const bySha = new Map<string, DeltaEntry[]>();
    for (const e of fromDelta) bySha.set(e.sha256!, [...(bySha.get(e.sha256!) ?? []), e]);
    const corrupt = (what: string) =>
      new HuplabError('delta-corrupt', `${delta}: ${what}`, { hint: 'the delta is damaged; use the full image' });
    const { entries } = openGzipTar(delta);
    let first = true;
    for await (const m of entries) {
      if (first) {
        first = false;
        continue; // the manifest, already read
      }
      const sha = m.path.startsWith(BLOB_PREFIX) ? m.path.slice(BLOB_PREFIX.length) : undefined;
      const users = sha === undefined ? undefined : bySha.get(sha);
      if (m.type !== 'file' || !users) throw corrupt(`unexpected member ${m.path}`);
      bySha.delete(sha!);
      const [head, ...rest] = users;
      const got = await this.write(head!, m.body);
      if (got.sha256 !== sha || got.bytes !== head!.size)
        throw corrupt(`content of ${head!.path} does not match its hash`);
      for (const e of rest) {
        const copy = await this.write(e, createReadStream(join(this.target, head!.path)) as AsyncIterable<Buffer>);
        if (copy.sha256 !== sha) throw corrupt(`copy of ${e.path} does not match its hash`);
      }
    }
    if (bySha.size)
      throw corrupt(
        `${bySha.size} contents listed in the manifest are missing, e.g. for ${bySha.values().next().value![0]!.path}`,
      );
  }

  private async write(e: DeltaEntry, body: AsyncIterable<Buffer>): Promise<{ bytes: number; sha256?: string }> {
    const abs = await this.tree.prepare(normalizeMemberPath(e.path), false);
    const got = await writeMember(abs, body, meta(e), { maxBytes: e.size });
    this.bytesWritten += Math.min(got.bytes, e.size);
    this.filesDone++;
    this.onProgress?.({
      path: e.path,
      filesDone: this.filesDone,
      filesTotal: this.files.length,
      bytesWritten: this.bytesWritten,
      bytesTotal: this.bytesTotal,
    });
    return got;
  }
}

function meta(e: DeltaEntry): MemberMeta {
  return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, owner: IS_ROOT };
}
