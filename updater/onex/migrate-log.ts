/**
 * The log of a resinOS 1.x update as the field's scripts kept it: every line
 * `[<9-digit seconds>][LOG|WARNING|ERROR]message` in a file under /tmp named after the script and
 * its start time (lost at the reboot, as in the field: the data partition it could have gone to
 * is what the migration rewrites), and on stdout; the step markers also on the console, so that
 * the harness sees each step while SSH is gone.
 */
import { appendFileSync, openSync, writeSync } from 'node:fs';
import { stepLine, type StepPhase } from '../../lib/contract/steps.ts';

export type OnexLevel = 'LOG' | 'WARNING' | 'ERROR';

/** `[000000012][LOG]message`: seconds since the script started, as the field's `log` function. */
export function onexLogLine(seconds: number, level: OnexLevel, message: string): string {
  return `[${String(Math.floor(seconds)).padStart(9, '0')}][${level}]${message}`;
}

export class MigrationLog {
  readonly path: string;
  private readonly started = Date.now();
  private readonly console: number | undefined;

  /** `prefix`: the log's path up to the time stamp, e.g. /tmp/upgrade-1.x-to-2.x.sh. */
  constructor(prefix: string, now = new Date()) {
    const p = (n: number) => String(n).padStart(2, '0');
    this.path = `${prefix}${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}_${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}.log`;
    let fd: number | undefined;
    try {
      fd = openSync('/dev/console', 'w');
    } catch {
      fd = undefined;
    }
    this.console = fd;
  }

  line(message: string, level: OnexLevel = 'LOG'): void {
    const text = `${onexLogLine((Date.now() - this.started) / 1000, level, message)}\n`;
    try {
      appendFileSync(this.path, text);
    } catch {
      /* stdout still has it */
    }
    process.stdout.write(text);
  }

  /** A step marker (lib/contract/steps.ts): in the log, on stdout and on the console. */
  marker(step: string, phase: StepPhase, detail = ''): void {
    const text = stepLine(step, phase, detail);
    this.line(text, phase === 'failed' ? 'ERROR' : 'LOG');
    if (this.console === undefined) return;
    try {
      writeSync(this.console, `${text}\n`);
    } catch {
      /* console gone: the file has it */
    }
  }
}
