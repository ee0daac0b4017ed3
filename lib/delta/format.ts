/**
 * huplab delta format, version 1: how to build release B's root filesystem from release A's,
 * file by file, shipping only the contents A does not already have.
 *
 * A delta is a gzip-compressed POSIX tar with, in this order:
 *
 *   delta.json          the manifest (below); always the first member
 *   blobs/<sha256>      one member per distinct content the target needs and the base lacks,
 *                       named by the lowercase hex SHA-256 of that content, in the order of
 *                       first use in the listing; each content appears once even when several
 *                       target files share it
 *
 * The manifest (JSON, UTF-8):
 *
 *   {
 *     "format": 1,
 *     "from": "sha256:...",   diffId (SHA-256 of the uncompressed tar) of the base layer
 *     "to": "sha256:...",     diffId of the target layer
 *     "entries": [...],       the COMPLETE target tree in layer order (parents before children)
 *     "removed": [...]        paths in the base that the target no longer has (informational:
 *                             the target is built from scratch, nothing is deleted)
 *   }
 *
 * Each entry: path (relative, no './', '.' is the root directory), type ('file' |
 * 'directory' | 'symlink' | 'hardlink'), mode (permission bits, 07777), uid, gid, mtime
 * (seconds since the epoch), size (content bytes; 0 unless a file), sha256 (hex, files only),
 * linkname (symlinks: the target verbatim; hard links: the path of the linked file in the target
 * tree), and source:
 *   'base'  the content is taken from the running (base) root at `basePath` if present, else
 *           at `path`, and must hash to `sha256` there, or the delta cannot be applied;
 *   'delta' the content is the member blobs/<sha256> of this delta. Entries that are not files
 *           carry 'delta' as well: their metadata is all there is and the delta holds it.
 *
 * Content equality is decided by SHA-256 alone, so a file whose mode, owner or mtime changed
 * costs only its manifest line, and a file that moved costs nothing but `basePath`. Applying
 * writes the whole target tree into an empty directory; nothing in the base is modified.
 */
import { HuplabError } from '../errors.ts';
import { normalizeMemberPath } from '../tar/safe-path.ts';

export const DELTA_FORMAT = 1;
export const MANIFEST_NAME = 'delta.json';
export const BLOB_PREFIX = 'blobs/';

export type DeltaEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

/** One member of a root filesystem layer, content reduced to its hash. */
export interface LayerEntry {
  path: string;
  type: DeltaEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256?: string;
  linkname?: string;
}

export interface DeltaEntry extends LayerEntry {
  source: 'base' | 'delta';
  basePath?: string;
}

export interface DeltaManifest {
  format: typeof DELTA_FORMAT;
  from: string;
  to: string;
  entries: DeltaEntry[];
  removed: string[];
}

export function blobName(sha256: string): string {
  return `${BLOB_PREFIX}${sha256}`;
}

const TYPES = new Set<DeltaEntryType>(['file', 'directory', 'symlink', 'hardlink']);
export const HEX64 = /^[0-9a-f]{64}$/;

/** A manifest that cannot be trusted (either format): the updater falls back to the full image. */
export function manifestCorrupt(what: string): HuplabError {
  return new HuplabError('delta-corrupt', `delta manifest: ${what}`, {
    hint: 'the delta is damaged or was not made by huplab; use the full image',
  });
}

/** A manifest's JSON as an object (its fields still to be checked), or manifestCorrupt. */
export function manifestObject<T>(text: string): Partial<T> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw manifestCorrupt('not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw manifestCorrupt('not an object');
  return doc as Partial<T>;
}
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * Parses and checks a manifest. The delta arrives over the network; its blob digest is checked
 * by the caller, but a manifest that names unsafe paths is refused here anyway.
 */
export function parseManifest(text: string): DeltaManifest {
  const bad = manifestCorrupt;
  const m = manifestObject<DeltaManifest>(text);
  if (m.format !== DELTA_FORMAT) {
    throw new HuplabError(
      'delta-format',
      `delta format ${JSON.stringify(m.format)} is not supported (this updater reads format ${DELTA_FORMAT})`,
      {
        hint: 'use the full image',
      },
    );
  }
  if (typeof m.from !== 'string' || !DIGEST.test(m.from) || typeof m.to !== 'string' || !DIGEST.test(m.to))
    throw bad('from/to must be sha256 digests');
  if (!Array.isArray(m.entries) || !Array.isArray(m.removed)) throw bad('entries and removed must be arrays');
  const seen = new Set<string>();
  for (const e of m.entries) {
    const where = `entry ${JSON.stringify(e?.path)}`;
    if (typeof e !== 'object' || e === null || typeof e.path !== 'string') throw bad('an entry has no path');
    if (normalizeMemberPath(e.path) !== e.path) throw bad(`${where}: path is not normalised`);
    if (seen.has(e.path)) throw bad(`${where}: listed twice`);
    seen.add(e.path);
    if (!TYPES.has(e.type)) throw bad(`${where}: unknown type`);
    for (const k of ['mode', 'uid', 'gid', 'mtime', 'size'] as const) {
      if (typeof e[k] !== 'number' || !Number.isFinite(e[k]) || e[k] < 0) throw bad(`${where}: ${k} must be a number`);
    }
    if (e.source !== 'base' && e.source !== 'delta') throw bad(`${where}: source must be base or delta`);
    if (e.type === 'file') {
      if (typeof e.sha256 !== 'string' || !HEX64.test(e.sha256)) throw bad(`${where}: sha256 must be 64 hex digits`);
      if (
        e.basePath !== undefined &&
        (typeof e.basePath !== 'string' || normalizeMemberPath(e.basePath) !== e.basePath)
      )
        throw bad(`${where}: bad basePath`);
    } else if (e.source !== 'delta') {
      throw bad(`${where}: only files come from the base`);
    }
    if (e.type === 'symlink' && typeof e.linkname !== 'string') throw bad(`${where}: symlink without linkname`);
    if (e.type === 'hardlink' && (typeof e.linkname !== 'string' || normalizeMemberPath(e.linkname) !== e.linkname))
      throw bad(`${where}: bad hard link target`);
  }
  return m as DeltaManifest;
}
