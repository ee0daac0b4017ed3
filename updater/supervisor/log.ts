/**
 * The agent's log: one line per decision and its reason, in its own file on the data partition
 * and on stdout (the service manager passes it to the system log). Repeated failures of the same
 * kind (the API unreachable while the link is down) are said once, then at most once a minute
 * with how many were left out, and the recovery is said too.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fetchFailure } from '../../lib/fetch-failure.ts';

export interface AgentLog {
  line(message: string): void;
}

export function fileLog(path: string, out: (text: string) => void = (t) => process.stdout.write(t)): AgentLog {
  let dirMade = false;
  return {
    line(message) {
      const text = `${new Date().toISOString()} ${message}\n`;
      try {
        if (!dirMade) mkdirSync(dirname(path), { recursive: true });
        dirMade = true;
        appendFileSync(path, text);
      } catch {
        /* a full /mnt/data: stdout still has it */
      }
      out(text);
    },
  };
}

/** A failure said once, then at most every `everyMs` (with the count left out); its end said once. */
export class RateLimitedFailure {
  private failing = false;
  private lastSaid = 0;
  private quiet = 0;

  constructor(
    private readonly log: AgentLog,
    private readonly what: string,
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  failed(why: string): void {
    const t = this.now();
    if (!this.failing || t - this.lastSaid >= this.everyMs) {
      const left = this.quiet ? ` (${this.quiet} more failures since the last line)` : '';
      this.log.line(`${this.what} failed: ${why}${left}; retrying every beat`);
      this.lastSaid = t;
      this.quiet = 0;
    } else this.quiet++;
    this.failing = true;
  }

  ok(): void {
    if (this.failing) this.log.line(`${this.what} works again`);
    this.failing = false;
    this.quiet = 0;
  }
}

/** One line out of an error, with fetch's cause (ECONNREFUSED, a timeout) when it has one. */
export function errorLine(err: unknown): string {
  return fetchFailure(err).replace(/\s*\r?\n\s*/g, ' ');
}
