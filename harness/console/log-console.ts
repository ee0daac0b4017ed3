/**
 * The serial console of a device, read from the log file QEMU (or a serial logger) appends to and
 * written through the chardev's unix socket.
 *
 * Reading tails the log rather than the socket: the log is complete from power-on whether or not
 * anyone was connected, it survives the harness detaching or crashing, and a second process (the
 * CLI, a report) sees exactly what the expect loop saw. Positions are raw byte offsets in that log.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { ConsoleCleaner, cleanConsoleText } from './clean.ts';

export interface ExpectOptions {
  timeoutMs: number;
  /** Raw log offset to search from; default: the end of the log when expect is called. */
  since?: number;
  /** What is awaited, in words, for the error message ("the bootloader marker"). */
  what: string;
  signal?: AbortSignal;
}

export interface ExpectResult {
  /** The matched text. */
  match: string;
  /** Capture groups of a RegExp pattern. */
  groups: (string | undefined)[];
  /** Raw log offset just after the match: pass it as `since` to expect what follows. */
  offset: number;
}

export interface ConsoleLike {
  readonly name: string;
  mark(): number;
  expect(pattern: string | RegExp, opts: ExpectOptions): Promise<ExpectResult>;
  write(data: string | Buffer): Promise<void>;
  lastLines(n?: number): string[];
}

/**
 * The full message keeps the last console lines for a person reading a report; `oneLine()` keeps
 * only the last non-empty line so CLI summaries stay one line and still show where the boot stopped.
 */
export class ConsoleTimeoutError extends HuplabError {
  readonly lastLines: string[];
  private readonly summary: string;

  constructor(summary: string, lastLines: string[], logPath: string) {
    super('console-timeout', `${summary}; last console lines:\n${lastLines.join('\n')}`, {
      hint: `full console log: ${logPath}`,
    });
    this.summary = summary;
    this.lastLines = lastLines;
  }

  override oneLine(): string {
    const last = [...this.lastLines].reverse().find((l) => l.trim() !== '');
    const tail =
      last === undefined ? 'console silent' : `last console line: ${JSON.stringify(last.trim().slice(0, 160))}`;
    return `${this.summary}; ${tail} (${this.hint})`.replace(/\s*\r?\n\s*/g, ' ');
  }
}

export interface SerialConsoleOptions {
  /** Shown in messages; default: the name of the log's folder (the device). */
  name?: string;
  pollMs?: number;
}

const TAIL_BYTES = 64 * 1024;

export class SerialConsole implements ConsoleLike {
  readonly name: string;
  private readonly pollMs: number;
  private sock: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;

  constructor(
    readonly logPath: string,
    readonly sockPath: string,
    opts: SerialConsoleOptions = {},
  ) {
    this.name = opts.name ?? path.basename(path.dirname(path.resolve(logPath)));
    this.pollMs = opts.pollMs ?? 50;
  }

  /** Current end of the log (0 before the device ever printed). */
  mark(): number {
    try {
      return fs.statSync(this.logPath).size;
    } catch {
      return 0;
    }
  }

  async expect(pattern: string | RegExp, opts: ExpectOptions): Promise<ExpectResult> {
    const since = opts.since ?? this.mark();
    const started = Date.now();
    const deadline = started + opts.timeoutMs;
    // A /g or /y regex carries lastIndex between exec() calls; matching must restart each time.
    const re = typeof pattern === 'string' ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const cleaner = new ConsoleCleaner(since);
    const buf = Buffer.alloc(64 * 1024);
    let fh: fsp.FileHandle | undefined;
    let grew = true; // check once before the first poll: the text may already be there

    try {
      while (true) {
        if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
        if (!fh) fh = await fsp.open(this.logPath, 'r').catch(() => undefined);
        if (fh) {
          let n: number;
          do {
            ({ bytesRead: n } = await fh.read(buf, 0, buf.length, cleaner.offset));
            if (n > 0) {
              cleaner.push(buf.subarray(0, n));
              grew = true;
            }
          } while (n === buf.length);
        }
        if (grew) {
          grew = false;
          const found = this.search(cleaner, pattern, re);
          if (found) return found;
        }
        if (Date.now() >= deadline) {
          const secs = Math.round((Date.now() - started) / 100) / 10;
          const shown = typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern);
          throw new ConsoleTimeoutError(
            `timed out after ${secs}s waiting for ${opts.what} (${shown}) on ${this.name}`,
            this.lastLines(15),
            this.logPath,
          );
        }
        await sleep(Math.min(this.pollMs, Math.max(0, deadline - Date.now())), opts.signal);
      }
    } finally {
      await fh?.close();
    }
  }

  private search(cleaner: ConsoleCleaner, pattern: string | RegExp, re: RegExp | undefined): ExpectResult | undefined {
    const text = cleaner.text();
    if (re) {
      const m = re.exec(text);
      if (!m) return undefined;
      return { match: m[0], groups: m.slice(1), offset: cleaner.rawOffsetAfter(text, m.index + m[0].length) };
    }
    const idx = text.indexOf(pattern as string);
    if (idx < 0) return undefined;
    const end = idx + (pattern as string).length;
    return { match: pattern as string, groups: [], offset: cleaner.rawOffsetAfter(text, end) };
  }

  /** Cleaned text of the log from `since` (raw offset) to its current end. */
  text(since = 0): string {
    return cleanConsoleText(this.readRange(since, Infinity));
  }

  /** The last `n` lines (cleaned), for error messages and status displays. */
  lastLines(n = 15): string[] {
    const size = this.mark();
    const start = Math.max(0, size - TAIL_BYTES);
    const lines = cleanConsoleText(this.readRange(start, size)).split('\n');
    if (start > 0) lines.shift(); // probably a partial line
    while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
    return lines.slice(-n);
  }

  private readRange(start: number, end: number): Buffer {
    let fd: number;
    try {
      fd = fs.openSync(this.logPath, 'r');
    } catch {
      return Buffer.alloc(0);
    }
    try {
      const size = Math.min(fs.fstatSync(fd).size, end);
      if (size <= start) return Buffer.alloc(0);
      const out = Buffer.alloc(size - start);
      let got = 0;
      while (got < out.length) {
        const n = fs.readSync(fd, out, got, out.length - got, start + got);
        if (n === 0) break;
        got += n;
      }
      return out.subarray(0, got);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Type into the console. QEMU's socket chardev serves one client at a time: while someone is
   * attached interactively (`huplab device console`), bytes written here wait until they detach.
   */
  async write(data: string | Buffer): Promise<void> {
    const sock = await this.socket();
    await new Promise<void>((resolve, reject) => {
      sock.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  private socket(): Promise<net.Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(this.sockPath);
      const timer = setTimeout(() => s.destroy(new Error('connect timed out')), 5000);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        // QEMU also sends the console output to a connected client; if nobody drains it the
        // socket fills and the guest's serial port stalls. The log file has it all anyway.
        s.on('data', () => {});
        s.on('error', () => s.destroy());
        s.on('close', () => {
          if (this.sock === s) this.sock = undefined;
        });
        this.sock = s;
        resolve(s);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(
          new HuplabError(
            'console-connect',
            `cannot open the console socket of ${this.name} (${this.sockPath}): ${err.message}`,
            {
              hint: 'is the device running?',
              cause: err,
            },
          ),
        );
      };
      s.once('error', onError);
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Drop the write connection (reading needs no cleanup). */
  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
