/**
 * Atomic file writes on a FAT boot partition, as field devices do them: FAT has no journal and
 * a power cut can leave a half-written file, so the new content is first made durable under a
 * hidden checksum-named file, then copied next to the target and renamed over it. Any later call
 * (repairInterrupted, at boot or at the next update) completes or discards leftovers, so that a
 * target is always either entirely old or entirely new. Runs on the device: node: built-ins only.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export type AtomicStep = 'checksum-written' | 'tmp-written' | 'renamed' | 'cleaned';

/** Test hook: called after each durable step; a hook that throws simulates a power cut there. */
export const _hooks: { afterStep?: (step: AtomicStep, target: string) => void } = {};

const CHECKSUM_RE = /^\.(.+)\.([0-9a-f]{16})\.new$/;

function sha16(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

function writeDurable(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch {
    // Some filesystems refuse fsync on a directory; the file fsyncs above still hold.
  }
}

/** The hidden checksum file for a target; lower-case hex so FAT's case folding never collides. */
export function checksumName(target: string, data: Buffer): string {
  return join(dirname(target), `.${basename(target)}.${sha16(data)}.new`);
}

export async function atomicWriteFile(target: string, data: Buffer | string): Promise<void> {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const dir = dirname(target);
  const sum = checksumName(target, buf);
  const tmp = `${target}.tmp`;
  writeDurable(sum, buf);
  fsyncDir(dir);
  _hooks.afterStep?.('checksum-written', target);
  writeDurable(tmp, buf);
  _hooks.afterStep?.('tmp-written', target);
  renameSync(tmp, target);
  fsyncDir(dir);
  _hooks.afterStep?.('renamed', target);
  unlinkSync(sum);
  fsyncDir(dir);
  _hooks.afterStep?.('cleaned', target);
}

export async function atomicCopyFile(src: string, dest: string): Promise<void> {
  await atomicWriteFile(dest, readFileSync(src));
}

/**
 * Completes or discards interrupted writes in a directory: a checksum file whose content matches
 * its name is the complete new content, so its target is (re)written from it; a checksum file
 * that does not match was cut short and is dropped, as is any stale `.tmp`.
 */
export async function repairInterrupted(dir: string): Promise<string[]> {
  const repaired: string[] = [];
  const names = readdirSync(dir);
  for (const name of names) {
    const m = CHECKSUM_RE.exec(name);
    if (!m) continue;
    const sumPath = join(dir, name);
    const target = join(dir, m[1]!);
    const content = readFileSync(sumPath);
    if (sha16(content) !== m[2]) {
      unlinkSync(sumPath);
      continue;
    }
    if (!existsSync(target) || !readFileSync(target).equals(content)) {
      writeDurable(`${target}.tmp`, content);
      renameSync(`${target}.tmp`, target);
      repaired.push(target);
    }
    unlinkSync(sumPath);
  }
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.tmp')) unlinkSync(join(dir, name));
  }
  fsyncDir(dir);
  return repaired;
}
