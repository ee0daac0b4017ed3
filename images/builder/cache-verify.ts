/**
 * What the build cache hands out is checked first: every entry carries a record of its contents
 * written when it was built (sizes, modes, link targets and a digest per file), and every cache
 * hit goes through `reuse()`, which checks the entry against it. A damaged entry (a file
 * truncated, changed, deleted or added, the record itself gone) is moved out of the way with a
 * one-line notice and the caller rebuilds it; it is never used.
 *
 * Disk images are large and sparse (a 1.1 GiB disk holds about 130 MiB of data), so a file's
 * digest covers its logical contents in 64 KiB blocks and skips the all-zero ones: the data
 * regions are found with SEEK_DATA/SEEK_HOLE and the holes are never read. The digest depends on
 * the bytes only, not on how the file happens to be laid out on the disk (a copy with other holes
 * has the same digest).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, open, readFile, readdir, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { cacheDir } from '../../lib/paths.ts';
import type { Narrator } from '../../lib/narrator.ts';

/** The record of a directory entry, inside it. */
export const ENTRY_RECORD = 'cache-record.json';
/** The record of a single-file entry sits beside it: `<file>.record.json`. */
export const FILE_RECORD_SUFFIX = '.record.json';

const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);
/** Files at least this large whose allocated size is below their length are read region by region. */
const SPARSE_MIN = 8 << 20;
const RECORD_FORMAT = 1;

export type RecordedNode =
  | { type: 'file'; path: string; mode: number; size: number; digest: string }
  | { type: 'dir'; path: string; mode: number }
  | { type: 'link'; path: string; target: string };

export interface EntryRecord {
  format: number;
  nodes: RecordedNode[];
}

export interface FileRecord {
  format: number;
  size: number;
  digest: string;
}

/**
 * The digest of a file's logical contents: sha256 over (offset, bytes) of every 64 KiB block
 * that is not all zeros, then the length. Holes are skipped without being read.
 */
export async function contentDigest(path: string): Promise<string> {
  const st = await stat(path, { bigint: true });
  const seen = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  const known = digests.get(path);
  if (known?.seen === seen) return known.digest;
  const digest = await hashContents(path, Number(st.size), Number(st.blocks));
  // Remembered only for a file last changed well before it was read: a change in the same clock
  // tick as the read could leave its times as they were.
  if (BigInt(Date.now() - 1000) * 1_000_000n > st.ctimeNs) digests.set(path, { seen, digest });
  return digest;
}

/**
 * Digests already computed in this process, by path, with the file's inode, size, mtime and ctime
 * when it was read. Any write changes the ctime (and no program can set it back), so a file whose
 * four are unchanged still has the bytes that were hashed: a second hit on the same entry in one
 * process (a campaign starting many devices) checks the entry by its metadata. A new process
 * always reads the bytes.
 */
const digests = new Map<string, { seen: string; digest: string }>();

/** Forgets the digests of this process, so the next check reads every byte (for benchmarks and tests). */
export function forgetDigests(): void {
  digests.clear();
}

async function hashContents(path: string, size: number, blocks: number): Promise<string> {
  const hash = createHash('sha256');
  const fh = await open(path, 'r');
  try {
    const ranges = size >= SPARSE_MIN && blocks * 512 < size ? await dataRanges(path, size) : undefined;
    const buf = Buffer.allocUnsafe(64 * BLOCK);
    const header = Buffer.alloc(8);
    for (const [start, end] of ranges ?? [[0, size] as const]) {
      for (let pos = start; pos < end; ) {
        const want = Math.min(buf.length, end - pos);
        const { bytesRead } = await fh.read(buf, 0, want, pos);
        if (bytesRead === 0) break; // shrank while read: the length below still differs
        for (let o = 0; o < bytesRead; o += BLOCK) {
          const block = buf.subarray(o, Math.min(o + BLOCK, bytesRead));
          if (block.equals(ZERO.subarray(0, block.length))) continue;
          header.writeBigUInt64BE(BigInt(pos + o));
          hash.update(header).update(block);
        }
        pos += bytesRead;
      }
    }
    header.writeBigUInt64BE(BigInt(size));
    return hash.update('end').update(header).digest('hex');
  } finally {
    await fh.close();
  }
}

/**
 * The file's data regions, widened to whole blocks and merged, from SEEK_DATA/SEEK_HOLE. Node has
 * no lseek, so perl (Essential in Debian) asks; without it the whole file is read.
 */
async function dataRanges(path: string, size: number): Promise<Array<readonly [number, number]> | undefined> {
  const script =
    'open(F,"<",$ARGV[0]) or exit 1; $p=0; while(defined($d=sysseek(F,$p,3))){ $h=sysseek(F,$d,4); last unless defined $h; printf "%d %d\\n", $d, $h; $p=$h }';
  const r = await execa('perl', ['-e', script, path], { reject: false });
  if (r.exitCode !== 0) return undefined;
  const out: Array<[number, number]> = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const [d, h] = line.split(' ').map(Number) as [number, number];
    const start = Math.floor(d / BLOCK) * BLOCK;
    const end = Math.min(size, Math.ceil(h / BLOCK) * BLOCK);
    const last = out.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/**
 * Top-level files another process is writing beside a published entry, to rename into place when
 * done (`disk.img.simg.tmp-<pid>` while the raw image is exported): not part of the entry.
 */
const WORK_IN_PROGRESS = /\.tmp-\d+$/;

/**
 * Every path under `root`, relative, sorted; symbolic links are listed, never followed (a root
 * filesystem links /var/tmp to /tmp, which readdir's own recursion would walk into).
 */
async function listTree(root: string, skip: ReadonlySet<string>, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${d.name}` : d.name;
    if (skip.has(path) || (!rel && WORK_IN_PROGRESS.test(d.name))) continue;
    out.push(path);
    if (d.isDirectory()) out.push(...(await listTree(root, skip, path)));
  }
  return rel ? out : out.sort();
}

async function walk(root: string, skip: ReadonlySet<string>): Promise<RecordedNode[]> {
  const nodes: RecordedNode[] = [];
  for (const rel of await listTree(root, skip)) {
    const abs = join(root, rel);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) nodes.push({ type: 'link', path: rel, target: await readlink(abs) });
    else if (st.isDirectory()) nodes.push({ type: 'dir', path: rel, mode: st.mode & 0o7777 });
    else if (st.isFile())
      nodes.push({ type: 'file', path: rel, mode: st.mode & 0o7777, size: st.size, digest: await contentDigest(abs) });
  }
  return nodes;
}

/**
 * Writes the record of a directory entry (every file, directory and link under `dir`, except
 * the names in `skip`, which have records of their own). Called on the work directory just
 * before it is published, so the record goes into the cache with the entry.
 */
export async function recordEntry(dir: string, skip: readonly string[] = []): Promise<void> {
  const record: EntryRecord = { format: RECORD_FORMAT, nodes: await walk(dir, new Set([ENTRY_RECORD, ...skip])) };
  await writeFile(join(dir, ENTRY_RECORD), JSON.stringify(record));
}

/**
 * Checks a directory entry against its record: undefined when intact, otherwise what is wrong.
 * Cheap checks first (the record, presence, sizes), then the digests.
 */
export async function checkEntry(dir: string, skip: readonly string[] = []): Promise<string | undefined> {
  let record: EntryRecord;
  try {
    record = JSON.parse(await readFile(join(dir, ENTRY_RECORD), 'utf8')) as EntryRecord;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'its record is missing' : 'its record is unreadable';
  }
  if (record.format !== RECORD_FORMAT || !Array.isArray(record.nodes)) return 'its record is of another format';
  const expected = new Map(record.nodes.map((n) => [n.path, n]));
  const ignored = new Set([ENTRY_RECORD, ...skip]);
  const present = await listTree(dir, ignored);
  for (const p of present) if (!expected.has(p)) return `${p} is not in its record`;
  const files: Array<Extract<RecordedNode, { type: 'file' }>> = [];
  for (const n of record.nodes) {
    const st = await lstat(join(dir, n.path)).catch(() => undefined);
    if (!st) return `${n.path} is missing`;
    if (n.type === 'link') {
      if (!st.isSymbolicLink() || (await readlink(join(dir, n.path))) !== n.target) return `${n.path} is not its link`;
    } else if (n.type === 'dir') {
      if (!st.isDirectory()) return `${n.path} is not a directory`;
      if ((st.mode & 0o7777) !== n.mode) return `${n.path} has mode ${modeText(st.mode)}, recorded ${modeText(n.mode)}`;
    } else {
      if (!st.isFile()) return `${n.path} is not a file`;
      if (st.size !== n.size) return `${n.path} is ${st.size} bytes, recorded ${n.size}`;
      if ((st.mode & 0o7777) !== n.mode) return `${n.path} has mode ${modeText(st.mode)}, recorded ${modeText(n.mode)}`;
      files.push(n);
    }
  }
  for (const n of files)
    if ((await contentDigest(join(dir, n.path))) !== n.digest) return `${n.path} differs from its record`;
  return undefined;
}

/** Writes the record of a single-file entry beside it; call before the file is moved into place. */
export async function recordFile(file: string, recordFor: string = file): Promise<void> {
  const record: FileRecord = {
    format: RECORD_FORMAT,
    size: (await stat(file)).size,
    digest: await contentDigest(file),
  };
  await writeFile(`${recordFor}${FILE_RECORD_SUFFIX}`, JSON.stringify(record));
}

/** Checks a single-file entry against the record beside it. */
export async function checkFile(file: string): Promise<string | undefined> {
  let record: FileRecord;
  try {
    record = JSON.parse(await readFile(`${file}${FILE_RECORD_SUFFIX}`, 'utf8')) as FileRecord;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'its record is missing' : 'its record is unreadable';
  }
  if (record.format !== RECORD_FORMAT) return 'its record is of another format';
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return `${basename(file)} is missing`;
  if (st.size !== record.size) return `${basename(file)} is ${st.size} bytes, recorded ${record.size}`;
  if ((await contentDigest(file)) !== record.digest) return `${basename(file)} differs from its record`;
  return undefined;
}

/**
 * Checks a file that is named by (or pinned to) a digest of its whole contents, as the Debian
 * archive and npm's integrity give them: `algo` over the bytes, in `encoding`.
 */
export async function checkDigest(
  file: string,
  algo: string,
  expected: string,
  encoding: 'hex' | 'base64' = 'hex',
): Promise<string | undefined> {
  const hash = createHash(algo);
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch {
    return `${basename(file)} is unreadable`;
  }
  const actual = hash.digest(encoding);
  return actual === expected ? undefined : `its ${algo} is ${actual.slice(0, 16)}…, expected ${expected.slice(0, 16)}…`;
}

/**
 * The one gate of every cache hit. Returns true when `path` is in the cache and `check` finds it
 * intact; false when it is absent, or damaged: then the narrator says so in one line and the
 * entry (and `also`, such as a record beside it) is moved aside and removed, so that the caller
 * rebuilds it into the same place. A reader that holds the old files open keeps reading them.
 */
export async function reuse(opts: {
  /** What the entry is, for the notice: "image generic-amd64 2.101.0". */
  what: string;
  path: string;
  check: () => Promise<string | undefined>;
  narrator: Narrator;
  /** Paths that belong to the entry and go with it when it is damaged. */
  also?: readonly string[];
}): Promise<boolean> {
  const paths = [opts.path, ...(opts.also ?? [])];
  if (!paths.some((p) => existsSync(p))) return false;
  const checked = await lstat(opts.path, { bigint: true }).catch(() => undefined);
  const why = checked ? await opts.check() : `${basename(opts.path)} is missing`;
  if (why === undefined) return true;
  opts.narrator.info(`cache: ${opts.what} (${shortName(opts.path)}) is damaged (${why}); rebuilding`);
  // Another process may have found the same damage and published a good rebuild meanwhile:
  // only what was checked goes.
  const now = await lstat(opts.path, { bigint: true }).catch(() => undefined);
  if (checked && now && (now.ino !== checked.ino || now.ctimeNs !== checked.ctimeNs)) return reuse(opts);
  for (const p of paths) await discard(p);
  return false;
}

/** Moves `path` aside in one rename (no reader sees half of it) and removes it. */
export async function discard(path: string): Promise<void> {
  const aside = join(dirname(path), `.damaged-${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

function shortName(path: string): string {
  const rel = relative(cacheDir(), path);
  const shown = rel.startsWith('..') ? path : rel;
  return shown.replace(/[0-9a-f]{32,}/g, (h) => `${h.slice(0, 12)}…`);
}

function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
