import { appendFileSync, mkdirSync, openSync, writeSync } from 'node:fs';

/**
 * The updater's log: one human-readable line per event with a time stamp, in the file operators
 * look at (/mnt/data/balenahup/...), on stdout, and step markers on the console so that the
 * harness can see (and aim faults at) each step even while SSH is gone.
 */
export class UpdateLog {
  readonly path: string;
  private console: number | undefined;

  constructor(dir: string, prefix: string, now = new Date()) {
    mkdirSync(dir, { recursive: true });
    const p = (n: number) => String(n).padStart(2, '0');
    const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}_${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
    this.path = `${dir}/${prefix}.${stamp}.log`;
    try { this.console = openSync('/dev/console', 'w'); } catch { this.console = undefined; }
  }

  line(message: string): void {
    const text = `${new Date().toISOString()} ${message}\n`;
    appendFileSync(this.path, text);
    process.stdout.write(text);
  }

  /** A step marker: `[hup] step NAME start|done|failed ...` on the console and in the log. */
  marker(step: string, phase: 'start' | 'done' | 'failed', detail = ''): void {
    const text = `[hup] step ${step} ${phase}${detail ? ` ${detail}` : ''}`;
    this.line(text);
    if (this.console !== undefined) {
      try { writeSync(this.console, `${text}\n`); } catch { /* console gone: the file has it */ }
    }
  }
}
