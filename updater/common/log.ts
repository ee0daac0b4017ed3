import { appendFileSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { stepLine, type StepPhase } from '../../lib/contract/steps.ts';

/**
 * The updater's log: one human-readable line per event with a time stamp, in the file operators
 * look at (/mnt/data/balenahup/...), on stdout, and step markers on the console so that the
 * harness can see (and aim faults at) each step even while SSH is gone.
 */
export class UpdateLog {
  readonly path: string;
  private console: number | undefined;

  constructor(dir: string, prefix: string, now = new Date()) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch {
      /* reported on the first line written */
    }
    const p = (n: number) => String(n).padStart(2, '0');
    const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}_${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
    this.path = `${dir}/${prefix}.${stamp}.log`;
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
    process.stdout.write(text);
  }

  private fallback: string | undefined;

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
