/**
 * The resinOS 1.x updates' log, where the field's wrapper kept it: one file on the data partition
 * (ONEX_LOG, appended to by every run, as run-resinhup.sh did), each line time-stamped, also on
 * stdout; step markers also on the console, so the harness sees the steps across the reboot.
 */
import { appendFileSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ONEX_LOG } from '../../lib/contract/onex.ts';
import { stepLine, type StepPhase } from '../../lib/contract/steps.ts';

export class OnexLog {
  private console: number | undefined;
  private lost = false;

  constructor(readonly path: string = ONEX_LOG) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch {
      /* said on the first line that cannot be written */
    }
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
      // A log that cannot be written must not stop the update from reporting its end.
      if (!this.lost) process.stdout.write(`cannot write ${this.path}: ${(err as Error).message}\n`);
      this.lost = true;
    }
    process.stdout.write(text);
  }

  /** A step marker (lib/contract/steps.ts) in the log, on stdout and on the console. */
  marker(step: string, phase: StepPhase, detail = ''): void {
    const text = stepLine(step, phase, detail);
    this.line(text);
    this.toConsole(text);
  }

  /** A line of the tools' output: into the log as it came (their markers reach the console themselves). */
  forward(text: string): void {
    this.line(text);
  }

  private toConsole(text: string): void {
    if (this.console === undefined) return;
    try {
      writeSync(this.console, `${text}\n`);
    } catch {
      /* console gone: the file has it */
    }
  }
}
