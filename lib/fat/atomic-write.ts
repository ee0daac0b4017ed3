/**
 * Atomic file replacement on the FAT boot partition, the way balenaOS devices in the field do it:
 *
 *   1. write the content to a hidden file named after its checksum, `.<name>.<sha256:16>.new`,
 *      fsync it and the directory           (the journal: complete iff it matches its name)
 *   2. copy it to `<name>.tmp`, fsync it and the directory
 *   3. rename `<name>.tmp` over `<name>`, fsync the directory
 *   4. delete the checksum file, fsync the directory
 *
 * FAT has no journal and a rename over an existing file is two directory updates: a power cut
 * in between can leave the target missing. The checksum file survives until the new content is
 * in place, so `repairInterrupted` (at boot, and before every write to the same name) can always
 * finish the job: a complete checksum file whose target is missing or different is installed
 * again (steps 2-4); an incomplete one, and a stale `.tmp`, are removed. The target therefore
 * holds the whole old content or the whole new one, never a mix, never nothing.
 *
 * Only what FAT has is used (see FatFs): no hard links, no permission bits, and names compared
 * without case. The checksum in the name is lowercase hex, so two different checksum files never
 * differ by case alone; 16 hex digits keep the name short, because long names cost directory
 * entries and FAT16's root directory has a fixed number of them.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HuplabError } from '../errors.ts';
import { nodeFatFs, type FatFs } from './fs-ops.ts';

export { nodeFatFs, type FatFs } from './fs-ops.ts';

/** Points where a power cut is simulated in tests; each names the state on disk after it. */
export type AtomicStep =
  | 'checksum-partial' // part of the content is in the checksum file
  | 'checksum-written' // the checksum file is complete and durable
  | 'tmp-partial' //      part of the content is in <name>.tmp
  | 'tmp-written' //      <name>.tmp is complete and durable
  | 'renamed' //          <name> has the new content; the checksum file is still there
  | 'done'; //            the checksum file is gone

export const ATOMIC_STEPS: readonly AtomicStep[] = [
  'checksum-partial',
  'checksum-written',
  'tmp-partial',
  'tmp-written',
  'renamed',
  'done',
];

export interface AtomicOptions {
  /** The filesystem operations; the mounted filesystem by default. */
  fs?: FatFs;
  /** Tests only: called after each step; throwing there simulates a power cut at that point. */
  _hooks?: { afterStep?: (step: AtomicStep, name: string) => void | Promise<void> };
}

export interface RepairResult {
  /** Targets whose interrupted write was finished. */
  completed: string[];
  /** Leftovers removed: incomplete checksum files, superseded ones, stale .tmp files. */
  removed: string[];
}

const PREFIX_HEX = 16;
const CHECKSUM_FILE = /^\.(.+)\.([0-9a-f]{16})\.new$/i;
// VFAT long names hold at most 255 characters.
const MAX_NAME = 255 - `..${'0'.repeat(PREFIX_HEX)}.new`.length;

export function checksumFileName(name: string, sha256hex: string): string {
  return `.${name}.${sha256hex.slice(0, PREFIX_HEX).toLowerCase()}.new`;
}

export function parseChecksumFileName(file: string): { name: string; prefix: string } | undefined {
  const m = CHECKSUM_FILE.exec(file);
  return m ? { name: m[1]!, prefix: m[2]!.toLowerCase() } : undefined;
}

export function tmpFileName(name: string): string {
  return `${name}.tmp`;
}

/** Replaces `path` on a FAT filesystem with `data`, atomically (see the top of this file). */
export async function atomicWriteFile(path: string, data: Buffer | string, opts: AtomicOptions = {}): Promise<void> {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const sha = createHash('sha256').update(buf).digest('hex');
  await writeAtomically(path, sha, () => midway([buf], hookFor(opts, 'checksum-partial', basename(path))), opts);
}

/** Copies `src` (any filesystem) over `dest` (FAT), atomically; `src` is read twice, streaming. */
export async function atomicCopyFile(src: string, dest: string, opts: AtomicOptions = {}): Promise<void> {
  const sha = await sha256Of(createReadStream(src) as AsyncIterable<Buffer>);
  const reread = verified(
    createReadStream(src) as AsyncIterable<Buffer>,
    sha,
    () =>
      new HuplabError('fat-source-changed', `${src} changed while it was being copied to ${dest}`, {
        hint: 'nothing else may write the source during the update; run it again',
      }),
  );
  await writeAtomically(dest, sha, () => midway(reread, hookFor(opts, 'checksum-partial', basename(dest))), opts);
}

async function writeAtomically(
  path: string,
  sha: string,
  content: () => AsyncIterable<Buffer>,
  opts: AtomicOptions,
): Promise<void> {
  const fs = opts.fs ?? nodeFatFs;
  const dir = dirname(path);
  const name = basename(path);
  checkName(name);
  // Finish or clear an earlier interrupted write to this name first: left alone, its checksum
  // file would be "completed" by a later repair and undo this write.
  await repairInterrupted(dir, { fs, only: name });
  if ((await fs.stat(path)) && (await sha256Of(fs.read(path))) === sha) return; // already there
  const sumFile = join(dir, checksumFileName(name, sha));
  try {
    await fs.writeFile(sumFile, content());
  } catch (err) {
    // A source that changed under us leaves a checksum file that does not match its name:
    // repair would remove it; do it now rather than leave it taking space.
    if (err instanceof HuplabError && err.code === 'fat-source-changed') await fs.unlink(sumFile);
    throw err;
  }
  await fs.syncDir(dir);
  await step(opts, 'checksum-written', name);
  await install(fs, dir, name, sumFile, sha, opts);
}

/** Steps 2-4: from a complete checksum file to the target. */
async function install(
  fs: FatFs,
  dir: string,
  name: string,
  sumFile: string,
  sha: string,
  opts: AtomicOptions,
): Promise<void> {
  const tmp = join(dir, tmpFileName(name));
  const readBack = verified(
    fs.read(sumFile),
    sha,
    () =>
      new HuplabError('fat-write-failed', `${sumFile} does not read back as written`, {
        hint: 'the boot partition may be failing; check it with fsck.vfat',
      }),
  );
  await fs.writeFile(tmp, midway(readBack, hookFor(opts, 'tmp-partial', name)));
  await fs.syncDir(dir);
  await step(opts, 'tmp-written', name);
  await fs.rename(tmp, join(dir, name));
  await fs.syncDir(dir);
  await step(opts, 'renamed', name);
  await fs.unlink(sumFile);
  await fs.syncDir(dir);
  await step(opts, 'done', name);
}

/**
 * Finishes or clears interrupted atomic writes in `dir` (see the top of this file). Safe to run
 * at any time, and itself interruptible: it keeps the checksum file until the target is whole.
 * `only` limits it to one target name (compared without case, as FAT does).
 *
 * `keepInPlace` names files whose whole content in place wins over an interrupted write: files a
 * bootloader reads in place (the boot env). The bootloader decided this boot with what it found,
 * never with the checksum file; finishing that write afterwards would switch the env behind the
 * running OS's back (found by the power-cut campaign: a cut in the middle of the env switch, the
 * old root booted, and the next boot's repair completed the switch to the new one). Such a
 * write is dropped; it is still finished when its target is missing.
 */
export async function repairInterrupted(
  dir: string,
  opts: AtomicOptions & { only?: string; keepInPlace?: string[] } = {},
): Promise<RepairResult> {
  const fs = opts.fs ?? nodeFatFs;
  const result: RepairResult = { completed: [], removed: [] };
  const files = await fs.list(dir);
  const groups = new Map<
    string,
    { name: string; complete: { file: string; sha: string; mtimeMs: number }[]; incomplete: string[] }
  >();
  for (const file of files) {
    const parsed = parseChecksumFileName(file);
    if (!parsed || (opts.only !== undefined && parsed.name.toLowerCase() !== opts.only.toLowerCase())) continue;
    const key = parsed.name.toLowerCase();
    const group = groups.get(key) ?? { name: parsed.name, complete: [], incomplete: [] };
    groups.set(key, group);
    const sha = await sha256Of(fs.read(join(dir, file)));
    if (sha.startsWith(parsed.prefix))
      group.complete.push({ file, sha, mtimeMs: (await fs.stat(join(dir, file)))?.mtimeMs ?? 0 });
    else group.incomplete.push(file);
  }
  for (const { name, complete, incomplete } of groups.values()) {
    const remove = async (file: string) => {
      await fs.unlink(join(dir, file));
      result.removed.push(file);
    };
    for (const file of incomplete) await remove(file);
    // Writes to one name go one after the other (each repairs first), so there is at most one
    // complete checksum file; should there be more, the newest is the last write begun.
    complete.sort((a, b) => b.mtimeMs - a.mtimeMs || a.file.localeCompare(b.file));
    const [winner, ...superseded] = complete;
    for (const c of superseded) await remove(c.file);
    const inPlaceWins = opts.keepInPlace?.some((n) => n.toLowerCase() === name.toLowerCase()) ?? false;
    if (winner) {
      const target = join(dir, name);
      const current = (await fs.stat(target)) ? await sha256Of(fs.read(target)) : undefined;
      if (current !== winner.sha && !(inPlaceWins && current !== undefined)) {
        await install(fs, dir, name, join(dir, winner.file), winner.sha, opts);
        result.completed.push(name);
      } else {
        await remove(winner.file);
      }
    }
    const tmp = files.find((f) => f.toLowerCase() === tmpFileName(name).toLowerCase());
    if (tmp && !(winner && result.completed.includes(name))) await remove(tmp);
    await fs.syncDir(dir);
  }
  return result;
}

function checkName(name: string): void {
  if (!name || name === '.' || name === '..') throw new HuplabError('fat-name-invalid', `"${name}" is not a file name`);
  if (name.length > MAX_NAME) {
    throw new HuplabError(
      'fat-name-invalid',
      `${name} is too long for an atomic FAT write (at most ${MAX_NAME} characters)`,
      { hint: 'use a shorter file name' },
    );
  }
  // Names the protocol uses for its own temporaries would be taken for leftovers and removed.
  if (parseChecksumFileName(name) || name.toLowerCase().endsWith('.tmp')) {
    throw new HuplabError(
      'fat-name-invalid',
      `${name} looks like a leftover of an atomic write and cannot be a target`,
      { hint: 'rename the file' },
    );
  }
}

async function step(opts: AtomicOptions, s: AtomicStep, name: string): Promise<void> {
  await opts._hooks?.afterStep?.(s, name);
}

function hookFor(opts: AtomicOptions, s: AtomicStep, name: string): () => Promise<void> {
  return () => step(opts, s, name);
}

/**
 * Yields the content with `hook` called once about halfway into the first chunk, so a test can
 * cut the power while a file is partly written.
 */
async function* midway(
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
  hook: () => Promise<void>,
): AsyncGenerator<Buffer> {
  let called = false;
  for await (const chunk of chunks) {
    if (called) {
      yield chunk;
      continue;
    }
    const half = chunk.length >> 1;
    if (half > 0) yield chunk.subarray(0, half);
    called = true;
    await hook();
    yield chunk.subarray(half);
  }
  if (!called) await hook();
}

/** Passes chunks through; throws `fail()` at the end if they do not hash to `sha`. */
async function* verified(chunks: AsyncIterable<Buffer>, sha: string, fail: () => Error): AsyncGenerator<Buffer> {
  const h = createHash('sha256');
  for await (const chunk of chunks) {
    h.update(chunk);
    yield chunk;
  }
  if (h.digest('hex') !== sha) throw fail();
}

async function sha256Of(chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of chunks) h.update(chunk);
  return h.digest('hex');
}
