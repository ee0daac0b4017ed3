import { appendFileSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { stepLine, type StepPhase } from '../../lib/contract/steps.ts';
import { LEGACY_UPDATE_LOG_DIR } from '../../lib/contract/update-log.ts';

/**
 * The field's legacy log folder when it exists on this device (as a folder), else nothing:
 * where an update log is also written, for operators who look there.
 */
export function legacyLogDirs(dir = LEGACY_UPDATE_LOG_DIR): string[] {
  try {
    return statSync(dir).isDirectory() ? [dir] : [];
  } catch {
    return [];
  }
}

/**
 * The updater's log: one human-readable line per event with a time stamp, in the file operators
 * look at (/mnt/data/balenahup/..., and the same file name in each of `alsoIn`: the legacy
 * /mnt/data/resinhup/ when it exists), on stdout, and step markers on the console so that the
 * harness can see (and aim faults at) each step even while SSH is gone.
 */
export class UpdateLog {
  readonly path: string;
  /** The copies: the same lines under the same name in the other folders. */
  readonly copies: string[];
  private console: number | undefined;

  constructor(dir: string, prefix: string, opts: { now?: Date; alsoIn?: string[] } = {}) {
    const now = opts.now ?? new Date();
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      /* reported on the first line written */
    }
    const p = (n: number) => String(n).padStart(2, '0');
    const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}_${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
    this.path = `${dir}/${prefix}.${stamp}.log`;
    this.copies = (opts.alsoIn ?? []).filter((d) => d !== dir).map((d) => `${d}/${prefix}.${stamp}.log`);
    try {
      this.console = openSync('/dev/console', 'w');
    } catch {
      this.console = undefined;
    }
  }

  line(message: string): void {
    const text = `${new Date().toISOString()} ${message}\n`;
    try {
      appendFileSync(this.path, text);
    } catch (err) {
      // A full or broken /mnt/data must not take the updater down with it: it still has to
      // report the failure. The line goes to a fallback log in RAM and to the console.
      if (!this.fallback) {
        this.fallback = `/run/${this.path.split('/').at(-1)}`;
        process.stdout.write(`cannot write ${this.path} (${(err as Error).message}); logging to ${this.fallback}\n`);
      }
      try {
        appendFileSync(this.fallback, text);
      } catch {
        /* stdout still has it */
      }
    }
    for (const copy of this.copies) {
      try {
        appendFileSync(copy, text);
      } catch (err) {
        // A copy is a courtesy: losing it must not lose the line, nor repeat the complaint.
        if (!this.lostCopies.has(copy)) {
          this.lostCopies.add(copy);
          process.stdout.write(`cannot write the log copy ${copy}: ${(err as Error).message}\n`);
        }
      }
    }
    process.stdout.write(text);
  }

  private fallback: string | undefined;
  private readonly lostCopies = new Set<string>();

  /** A step marker (lib/contract/steps.ts) on the console and in the log. */
  marker(step: string, phase: StepPhase, detail = ''): void {
    const text = stepLine(step, phase, detail);
    this.line(text);
    if (this.console !== undefined) {
      try {
        writeSync(this.console, `${text}\n`);
      } catch {
        /* console gone: the file has it */
      }
    }
  }
}
