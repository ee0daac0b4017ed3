import type { Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ATOMIC_STEPS,
  atomicCopyFile,
  atomicWriteFile,
  parseChecksumFileName,
  repairInterrupted,
  type AtomicStep,
  type FatFs,
} from '../../lib/fat/atomic-write.ts';

/** A directory on some filesystem, reached through the same operations the algorithm uses. */
export interface FatDir {
  fs: FatFs;
  dir: string;
  read(name: string): Promise<Buffer | undefined>;
  list(): Promise<string[]>;
  /** Puts the old content in place, the non-atomic way (test setup). */
  seed(name: string, data: Buffer): Promise<void>;
  remove(name: string): Promise<void>;
}

class PowerCut extends Error {}

const OLD = Buffer.alloc(3000, 'old content, ');
const NEW = Buffer.concat([Buffer.alloc(5000, 'NEW CONTENT! '), Buffer.from('end')]);

/**
 * Cuts the power after every step of an atomic write (and of the repair that follows one),
 * with and without an old file, for both entry points, plus the FAT-specific failure where a
 * torn rename leaves the target missing; after repairInterrupted the target must be entirely
 * the old content or entirely the new one, the new one once the checksum file was complete,
 * and nothing of the protocol may be left in the directory.
 */
export async function crashEverywhere(
  t: Test,
  fresh: () => Promise<FatDir>,
  scratch: string,
  name = 'grubenv',
): Promise<void> {
  const src = join(scratch, `src-${Date.now()}`);
  writeFileSync(src, NEW);
  const modes = ['write', 'copy'] as const;
  for (const mode of modes) {
    for (const hadOld of [true, false]) {
      for (const at of ATOMIC_STEPS) {
        for (const tornRename of at === 'tmp-written' || at === 'renamed' ? [false, true] : [false]) {
          const label = `${mode}, ${hadOld ? 'old file' : 'no old file'}, power cut after ${at}${tornRename ? ' + target lost by the rename' : ''}`;
          const d = await fresh();
          if (hadOld) await d.seed(name, OLD);
          const cut = {
            afterStep: (s: AtomicStep) => {
              if (s === at) throw new PowerCut(at);
            },
          };
          const run =
            mode === 'write'
              ? atomicWriteFile(join(d.dir, name), NEW, { fs: d.fs, _hooks: cut })
              : atomicCopyFile(src, join(d.dir, name), { fs: d.fs, _hooks: cut });
          await run.then(
            () => t.equal(at, 'done', `${label}: completes only when nothing cut it`),
            (err) => {
              if (!(err instanceof PowerCut)) throw err;
            },
          );
          if (tornRename) await d.remove(name);
          await repairInterrupted(d.dir, { fs: d.fs });
          const got = await d.read(name);
          const journalComplete = ATOMIC_STEPS.indexOf(at) >= ATOMIC_STEPS.indexOf('checksum-written');
          if (journalComplete) t.ok(got?.equals(NEW), `${label}: new content`);
          else if (hadOld) t.ok(got?.equals(OLD), `${label}: old content`);
          else t.equal(got, undefined, `${label}: still absent`);
          t.strictSame(leftovers(await d.list(), name), [], `${label}: no leftovers`);
        }
      }
    }
  }
  // The repair itself cut at each of its steps, then repaired again.
  for (const at of ['tmp-partial', 'tmp-written', 'renamed', 'done'] as const) {
    const d = await fresh();
    await d.seed(name, OLD);
    await atomicWriteFile(join(d.dir, name), NEW, {
      fs: d.fs,
      _hooks: {
        afterStep: (s) => {
          if (s === 'checksum-written') throw new PowerCut(s);
        },
      },
    }).catch(() => {});
    await repairInterrupted(d.dir, {
      fs: d.fs,
      _hooks: {
        afterStep: (s) => {
          if (s === at) throw new PowerCut(s);
        },
      },
    }).catch((err) => {
      if (!(err instanceof PowerCut)) throw err;
    });
    await repairInterrupted(d.dir, { fs: d.fs });
    t.ok((await d.read(name))?.equals(NEW), `repair cut after ${at}, repaired again: new content`);
    t.strictSame(leftovers(await d.list(), name), [], `repair cut after ${at}: no leftovers`);
  }
}

/** Protocol files (checksum files, .tmp) still present for `name`. */
export function leftovers(files: string[], name: string): string[] {
  return files.filter(
    (f) =>
      parseChecksumFileName(f)?.name.toLowerCase() === name.toLowerCase() ||
      f.toLowerCase() === `${name}.tmp`.toLowerCase(),
  );
}

export { NEW, OLD, PowerCut };
