import { link, lstat, mkdir, realpath, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../errors.ts';
import type { TarEntryHeader } from './entry.ts';
import type { TarSource } from './byte-source.ts';
import { readTar } from './reader.ts';
import { normalizeMemberPath } from './safe-path.ts';
import { applyDirMeta, type MemberMeta, applySymlinkMeta, IS_ROOT, writeMember } from './write-member.ts';

export interface ExtractOptions {
  /** Called before each member is written, with its normalised path. */
  onEntry?: (entry: TarEntryHeader) => void;
  /** Apply uid/gid from the archive; default: when running as root (others cannot chown). */
  preserveOwner?: boolean;
}

export interface ExtractResult {
  entries: number;
  /** Content bytes written to regular files. */
  bytes: number;
}

/**
 * Extracts an uncompressed tar stream into destDir with modes, owners and mtimes. Members may
 * not escape destDir: absolute paths and '..' are refused, and so is writing through a symlink
 * that an earlier member (or the existing tree) put where a parent directory is expected.
 */
export async function extractTar(
  source: TarSource,
  destDir: string,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const root = await realpath(destDir);
  const owner = opts.preserveOwner ?? IS_ROOT;
  const tree = new SafeTree(root);
  // Directory modes and times are applied last, deepest first: creating children changes a
  // directory's mtime, and a read-only mode would stop a non-root extraction midway.
  const dirs: { abs: string; meta: MemberMeta }[] = [];
  let entries = 0;
  let bytes = 0;
  for await (const entry of readTar(source)) {
    const rel = normalizeMemberPath(entry.path);
    opts.onEntry?.({ ...entry, path: rel });
    entries++;
    const meta: MemberMeta = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, owner };
    if (entry.type === 'directory') {
      const abs = rel === '.' ? root : await tree.prepare(rel, true);
      dirs.push({ abs, meta });
    } else if (entry.type === 'file') {
      bytes += (await writeMember(await tree.prepare(rel, false), entry.body, meta)).bytes;
    } else if (entry.type === 'symlink') {
      const abs = await tree.prepare(rel, false);
      await symlink(entry.linkname ?? '', abs);
      tree.forget(rel);
      await applySymlinkMeta(abs, meta);
    } else {
      const target = normalizeMemberPath(entry.linkname ?? '');
      const targetAbs = await tree.existing(target);
      await link(targetAbs, await tree.prepare(rel, false));
    }
  }
  for (const d of dirs.reverse()) await applyDirMeta(d.abs, d.meta);
  return { entries, bytes };
}

/**
 * The destination tree as built so far: resolves member paths to absolute ones, creating
 * missing parents and checking that no parent is a symlink or a non-directory.
 */
export class SafeTree {
  // Relative paths known to be real directories created or checked during this extraction.
  private readonly dirs = new Set<string>(['.']);

  constructor(private readonly root: string) {}

  /** Makes `rel` ready to be created: parents exist as real directories, nothing is in the way. */
  async prepare(rel: string, asDirectory: boolean): Promise<string> {
    await this.parents(rel, true);
    const abs = join(this.root, rel);
    const st = await lstat(abs).catch(notFound);
    if (asDirectory) {
      if (st && !st.isDirectory()) await rm(abs, { force: true });
      if (!st?.isDirectory()) await mkdir(abs, { mode: 0o700 });
      this.dirs.add(rel);
    } else if (st) {
      // The archive says this path is not a directory: whatever was there goes.
      await rm(abs, { recursive: true, force: true });
      this.forget(rel);
    }
    return abs;
  }

  /** An existing member (a hard link's target), reached without crossing symlinks. */
  async existing(rel: string): Promise<string> {
    await this.parents(rel, false);
    const abs = join(this.root, rel);
    const st = await lstat(abs).catch(notFound);
    if (!st || st.isDirectory()) {
      throw new HuplabError('tar-bad-link', `hard link target ${rel} is missing or a directory`, {
        hint: 'a hard link must follow the file it points to in the archive',
      });
    }
    return abs;
  }

  /** `rel` is no longer a directory (replaced by a symlink or file): nor is anything below it. */
  forget(rel: string): void {
    for (const d of this.dirs) if (d === rel || d.startsWith(`${rel}/`)) this.dirs.delete(d);
  }

  private async parents(rel: string, create: boolean): Promise<void> {
    const parts = rel.split('/');
    let cur = '.';
    for (let i = 0; i < parts.length - 1; i++) {
      cur = cur === '.' ? parts[i]! : `${cur}/${parts[i]}`;
      if (this.dirs.has(cur)) continue;
      const abs = join(this.root, cur);
      const st = await lstat(abs).catch(notFound);
      if (!st && create) {
        await mkdir(abs, { mode: 0o755 });
      } else if (!st?.isDirectory()) {
        throw new HuplabError(
          'tar-unsafe-path',
          `${rel}: parent ${cur} is ${st?.isSymbolicLink() ? 'a symlink' : st ? 'not a directory' : 'missing'}`,
          {
            hint: 'refusing to write through it, which could leave the target directory',
          },
        );
      }
      this.dirs.add(cur);
    }
  }
}

function notFound(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}
