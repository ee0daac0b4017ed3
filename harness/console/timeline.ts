import { closeSync, openSync, readSync } from 'node:fs';
import { MARKER_LINE } from '../../lib/contract/index.ts';
import { cleanConsoleText } from './clean.ts';

export interface TimelineEntry {
  at: number;
  line: string;
}

/** Console lines that mark a moment worth a time stamp: the bootloader, the OS, the updater's steps. */
export const TIMELINE_LINE = MARKER_LINE;

/**
 * Time stamps the console's marker lines as they appear, by following the serial log: the log
 * itself has no times, and the interesting durations (how long a rollback took, when the reboot
 * started) are between lines. Times are seconds since `start()`.
 */
export class ConsoleTimeline {
  readonly entries: TimelineEntry[] = [];
  private offset: number;
  private rest = '';
  private timer: NodeJS.Timeout | undefined;
  private t0 = Date.now();

  constructor(
    private readonly logPath: string,
    since: number,
    private readonly pattern = TIMELINE_LINE,
    private readonly everyMs = 250,
  ) {
    this.offset = since;
  }

  start(): this {
    this.t0 = Date.now();
    this.timer = setInterval(() => this.poll(), this.everyMs);
    this.timer.unref();
    return this;
  }

  /** Reads what the log gained since the last look; whole lines only, the rest waits. */
  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.logPath, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(256 * 1024);
      let n: number;
      const at = (Date.now() - this.t0) / 1000;
      do {
        n = readSync(fd, buf, 0, buf.length, this.offset);
        this.offset += n;
        this.rest += buf.subarray(0, n).toString('latin1');
      } while (n === buf.length);
      const lines = this.rest.split('\n');
      this.rest = lines.pop() ?? '';
      for (const raw of lines) {
        const line = cleanConsoleText(raw).trim();
        const m = this.pattern.exec(line);
        if (m) this.entries.push({ at, line: line.slice(m.index) });
      }
    } finally {
      closeSync(fd);
    }
  }

  stop(): TimelineEntry[] {
    if (this.timer) clearInterval(this.timer);
    this.poll();
    return this.entries;
  }

  /** Seconds at the first entry matching `re` at or after `from` seconds, if any. */
  static find(entries: TimelineEntry[], re: RegExp, from = 0): TimelineEntry | undefined {
    return entries.find((e) => e.at >= from && re.test(e.line));
  }
}
