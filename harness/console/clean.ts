/**
 * Turn raw serial bytes into text fit for matching: drop ANSI escape sequences (firmware repaints
 * the screen with them), carriage returns and NULs, while remembering, for every kept byte, where
 * it was in the raw log. That map lets a match be reported as a raw log offset, so a caller can
 * chain `expect(a)` then `expect(b, { since: offsetOfA })` without missing or re-reading anything.
 *
 * Works on bytes, not characters: every byte the cleaner looks at is ASCII, and ASCII bytes never
 * occur inside a multi-byte UTF-8 sequence, so UTF-8 text passes through untouched.
 */

const ESC = 0x1b;
const BEL = 0x07;

type Mode = 'text' | 'esc' | 'csi' | 'osc' | 'osc-esc' | 'esc-intermediate';

export class ConsoleCleaner {
  private mode: Mode = 'text';
  private bytes: Buffer = Buffer.alloc(4096);
  private ends: Float64Array = new Float64Array(4096);
  private len = 0;

  private rawOffset: number;

  /** `start` is the raw log offset of the first byte that will be pushed. */
  constructor(private readonly start: number) {
    this.rawOffset = start;
  }

  push(chunk: Buffer): void {
    this.reserve(this.len + chunk.length);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      const rawPos = this.rawOffset + i;
      switch (this.mode) {
        case 'text':
          if (b === ESC) this.mode = 'esc';
          else if (b !== 0x0d && b !== 0x00) {
            this.bytes[this.len] = b;
            this.ends[this.len] = rawPos + 1;
            this.len++;
          }
          break;
        case 'esc':
          if (b === 0x5b /* [ */) this.mode = 'csi';
          else if (b === 0x5d /* ] */) this.mode = 'osc';
          else if (b >= 0x20 && b <= 0x2f)
            this.mode = 'esc-intermediate'; // e.g. ESC ( B
          else this.mode = 'text'; // two-byte sequence such as ESC 7 / ESC c
          break;
        case 'esc-intermediate':
          if (!(b >= 0x20 && b <= 0x2f)) this.mode = 'text';
          break;
        case 'csi':
          // parameters 0x30-0x3f (includes '=' and '?'), intermediates 0x20-0x2f, final 0x40-0x7e
          if (b >= 0x40 && b <= 0x7e) this.mode = 'text';
          else if (b < 0x20 || b > 0x7e) this.mode = 'text'; // malformed: do not swallow the log
          break;
        case 'osc':
          if (b === BEL) this.mode = 'text';
          else if (b === ESC) this.mode = 'osc-esc';
          break;
        case 'osc-esc':
          this.mode = b === 0x5c /* \ */ ? 'text' : 'osc';
          break;
      }
    }
    this.rawOffset += chunk.length;
  }

  /** Raw log offset just after everything pushed so far. */
  get offset(): number {
    return this.rawOffset;
  }

  text(): string {
    return this.bytes.toString('utf8', 0, this.len);
  }

  /**
   * Raw log offset just after the character ending at `charEnd` in `text()` (a JS string index).
   */
  rawOffsetAfter(text: string, charEnd: number): number {
    const cleanedBytes = Buffer.byteLength(text.slice(0, charEnd), 'utf8');
    if (cleanedBytes === 0) return this.start; // an empty match at the very beginning
    return this.ends[Math.min(cleanedBytes, this.len) - 1]!;
  }

  private reserve(n: number): void {
    if (n <= this.bytes.length) return;
    const size = Math.max(n, this.bytes.length * 2);
    const bytes = Buffer.alloc(size);
    this.bytes.copy(bytes, 0, 0, this.len);
    const ends = new Float64Array(size);
    ends.set(this.ends.subarray(0, this.len));
    this.bytes = bytes;
    this.ends = ends;
  }
}

/** One-shot helper: cleaned text of a raw buffer. */
export function cleanConsoleText(raw: Buffer | string): string {
  const c = new ConsoleCleaner(0);
  c.push(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  return c.text();
}
