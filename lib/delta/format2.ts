/**
 * huplab delta format, version 2: format 1's guarantees (see format.ts) with binary patches
 * for changed files and no listing at all of the unchanged ones.
 *
 * A delta file is the 8 bytes MAGIC followed by ONE brotli stream (window at most 2^24 bytes,
 * so the device decodes it in bounded memory) of:
 *
 *   u32 little-endian   length of the manifest
 *   manifest            JSON, UTF-8 (below)
 *   payload             for each entry of `entries`, in order, that carries content:
 *                       'blob'   `size` bytes, the file as it is
 *                       'patch'  a binary patch against the base file (patch-decoder.ts)
 *                       and nothing after the last one
 *
 * One stream for everything lets the compressor use what the listing, the small text files and
 * the patches have in common; the magic is not gzip's, so a format-1 reader refuses the file.
 *
 * The manifest:
 *
 *   {
 *     "format": 2,
 *     "mtime":       the default mtime of entries (a release stamps its date on every file)
 *     "entries":     the target entries the device cannot take from the base as they are,
 *                    parents before children: every directory, and the files, symlinks and
 *                    hard links that are new or changed (content, type, mode or owner). Fields
 *                    as in format 1 (path, type, mode, uid, gid, mtime, size, sha256, linkname),
 *                    left out when they have their default (uid/gid 0, mtime the manifest's,
 *                    mode 0755 for directories, 0644 for files and hard links, 0777 for
 *                    symlinks, size 0 for what is not a file); for files, source:
 *                      'base'   content taken from the running root at basePath (else path)
 *                      'blob'   content in the payload; or, when an earlier 'blob' or 'patch'
 *                               entry already produced the same sha256, a copy of that file
 *                               and no payload
 *                      'patch'  content rebuilt by a patch from the running root's basePath
 *                               (else path), which must have baseSize bytes
 *                    and, for directories, "walk": true when the base has kept entries in it
 *     "dropped":     files and symlinks that walked directories have in the base and the target
 *                    does not
 *     "keptDigest":  the kept entries are the files and symlinks in the running root's walked
 *                    directories that are neither entries nor dropped: the target has them as
 *                    the base has them (content, link target, mode, owner) with the manifest's
 *                    mtime. SHA-256 (hex) over the sorted listing lines (listingLine) of the kept
 *                    entries AS THE BASE HAS THEM: the device computes it while copying, and a
 *                    running root that differs anywhere (a changed, missing or extra file) fails
 *                    with 'delta-base-mismatch' before any payload is read. No path is listed
 *                    for them: between releases they are most of the tree.
 *     "patchBases":  SHA-256 (hex) over the lines "<basePath> <sha256>\n" of the patches' base
 *                    files, in entry order: when a patched file comes out wrong, the device
 *                    hashes the bases to tell a modified base ('delta-base-mismatch') from a
 *                    damaged delta ('delta-corrupt')
 *     "treeDigest":  SHA-256 (hex) over the sorted listing lines of the COMPLETE target tree:
 *                    the device computes it from what it wrote, so the whole new root is checked
 *   }
 *
 * Every file written is checked against its sha256 before the delta is declared applied.
 */
import { createHash } from 'node:crypto';
import { normalizeMemberPath } from '../tar/safe-path.ts';
import { type DeltaEntryType, HEX64, type LayerEntry, manifestCorrupt, manifestObject } from './format.ts';

export const DELTA_FORMAT_2 = 2;
/** Not the gzip magic (1f 8b): a format-1 reader stops at the first byte. */
export const MAGIC = Buffer.from('HUPLABD2', 'latin1');
/** 2^24: the decoder's window, 16 MiB. */
export const BROTLI_WINDOW_BITS = 24;

export type Source2 = 'base' | 'blob' | 'patch';

export interface DeltaEntry2 extends LayerEntry {
  source?: Source2;
  basePath?: string;
  baseSize?: number;
  /** Directories: the base has kept entries in it. */
  walk?: boolean;
}

export interface DeltaManifest2 {
  format: typeof DELTA_FORMAT_2;
  mtime: number;
  entries: DeltaEntry2[];
  dropped: string[];
  keptDigest: string;
  patchBases: string;
  treeDigest: string;
}

const DEFAULT_MODE: Record<DeltaEntryType, number> = { directory: 0o755, file: 0o644, hardlink: 0o644, symlink: 0o777 };

/** An entry as stored: fields at their default left out (see the manifest above). */
export function compactEntry(e: DeltaEntry2, mtime: number): Record<string, unknown> {
  const out: Record<string, unknown> = { path: e.path, type: e.type };
  if (e.mode !== DEFAULT_MODE[e.type]) out.mode = e.mode;
  if (e.uid) out.uid = e.uid;
  if (e.gid) out.gid = e.gid;
  if (e.mtime !== mtime) out.mtime = e.mtime;
  if (e.size) out.size = e.size;
  for (const k of ['sha256', 'linkname', 'source', 'basePath', 'baseSize', 'walk'] as const)
    if (e[k] !== undefined) out[k] = e[k];
  return out;
}

/** The bytes of a manifest as stored. */
export function serializeManifest2(m: DeltaManifest2): Buffer {
  return Buffer.from(JSON.stringify({ ...m, entries: m.entries.map((e) => compactEntry(e, m.mtime)) }));
}

/** The line a patch base contributes to `patchBases`. */
export function patchBaseLine(basePath: string, sha256: string): string {
  return `${basePath} ${sha256}\n`;
}

/** The canonical one-line description of an entry that the digests are made of. */
export function listingLine(e: {
  path: string;
  type: DeltaEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  linkname?: string;
}): string {
  const what = e.type === 'file' ? (e.sha256 ?? '') : (e.linkname ?? '');
  return `${JSON.stringify([e.path, e.type, e.mode & 0o7777, e.uid, e.gid, e.mtime, e.size, what])}\n`;
}

/** Order-independent (sorted lines), so the device may write in any order. */
export function listingDigest(lines: string[]): string {
  const h = createHash('sha256');
  for (const l of [...lines].sort()) h.update(l);
  return h.digest('hex');
}

const TYPES = new Set<DeltaEntryType>(['file', 'directory', 'symlink', 'hardlink']);

/** Normalised and inside the tree ('..' or an absolute path is damage here, not an unsafe archive). */
function safePath(p: unknown): p is string {
  try {
    return typeof p === 'string' && normalizeMemberPath(p) === p;
  } catch {
    return false;
  }
}

/** Parses and checks a format-2 manifest (it arrives over the network: unsafe paths are refused). */
export function parseManifest2(text: string): DeltaManifest2 {
  const bad = manifestCorrupt;
  const m = manifestObject<DeltaManifest2>(text);
  if (m.format !== DELTA_FORMAT_2) throw bad(`format ${JSON.stringify(m.format)} in a format-2 file`);
  if (!Number.isSafeInteger(m.mtime) || m.mtime! < 0) throw bad('mtime must be a number');
  for (const k of ['keptDigest', 'patchBases', 'treeDigest'] as const)
    if (typeof m[k] !== 'string' || !HEX64.test(m[k])) throw bad(`${k} must be 64 hex digits`);
  if (!Array.isArray(m.entries) || !Array.isArray(m.dropped)) throw bad('entries and dropped must be arrays');
  for (const p of m.dropped)
    if (!safePath(p) || p === '.') throw bad(`dropped path ${JSON.stringify(p)} is not normalised`);
  const seen = new Set<string>();
  const mtime = m.mtime!;
  m.entries = m.entries.map((raw: Partial<DeltaEntry2>) => {
    if (typeof raw !== 'object' || raw === null || typeof raw.path !== 'string') throw bad('an entry has no path');
    const where = `entry ${JSON.stringify(raw.path)}`;
    if (!TYPES.has(raw.type!)) throw bad(`${where}: unknown type`);
    const e = {
      ...raw,
      mode: raw.mode ?? DEFAULT_MODE[raw.type!],
      uid: raw.uid ?? 0,
      gid: raw.gid ?? 0,
      mtime: raw.mtime ?? mtime,
      size: raw.size ?? 0,
    } as DeltaEntry2;
    if (!safePath(e.path)) throw bad(`${where}: path is not normalised`);
    if (seen.has(e.path)) throw bad(`${where}: listed twice`);
    seen.add(e.path);
    for (const k of ['mode', 'uid', 'gid', 'mtime', 'size'] as const) {
      if (!Number.isSafeInteger(e[k]) || e[k] < 0) throw bad(`${where}: ${k} must be a number`);
    }
    if (e.type === 'file') {
      if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) throw bad(`${where}: sha256 must be 64 hex digits`);
      if (e.source !== 'base' && e.source !== 'blob' && e.source !== 'patch')
        throw bad(`${where}: source must be base, blob or patch`);
      if (e.basePath !== undefined && !safePath(e.basePath)) throw bad(`${where}: bad basePath`);
      if (e.source === 'patch' && (!Number.isSafeInteger(e.baseSize) || e.baseSize! < 0))
        throw bad(`${where}: a patch needs baseSize`);
    } else if (e.source !== undefined) {
      throw bad(`${where}: only files have a source`);
    } else if (e.size !== 0) {
      throw bad(`${where}: only files have a size`);
    }
    if (e.walk !== undefined && (e.walk !== true || e.type !== 'directory')) throw bad(`${where}: bad walk`);
    if (e.type === 'symlink' && typeof e.linkname !== 'string') throw bad(`${where}: symlink without linkname`);
    if (e.type === 'hardlink' && !safePath(e.linkname)) throw bad(`${where}: bad hard link target`);
    return e;
  });
  return m as DeltaManifest2;
}
