/** Text from logs and errors made safe and readable for an HTML page. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * Removes terminal escapes (colours, cursor moves, OSC titles: a serial console is full of them,
 * and Playwright colours its error messages) and control characters other than tab and newline.
 * A CR before LF is dropped; a lone CR (a console redrawing its line) becomes a newline.
 */
export function stripAnsi(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is this function's job
      .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?/g, '') // OSC ... BEL or ST
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is this function's job
      .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '') // CSI (colours, cursor)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is this function's job
      .replace(/\x1b[@-Z\\-_]/g, '') // two-byte escapes
      .replace(/\r\n/g, '\n')
      .replace(/\r/g, '\n')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is this function's job
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
  );
}

export interface Clipped {
  head: string;
  /** Empty when nothing was cut. */
  tail: string;
  /** What was cut between head and tail, if anything. */
  cut: { bytes: number; lines: number } | null;
}

/**
 * Keeps the head and the tail of a long log: the boot and the end (where a failure usually is)
 * matter most, and one report must stay small enough to open. Cuts at line boundaries.
 */
export function clipMiddle(text: string, maxBytes: number): Clipped {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return { head: text, tail: '', cut: null };
  const half = Math.floor(maxBytes / 2);
  let head = buf.subarray(0, half).toString('utf8');
  let tail = buf.subarray(buf.length - half).toString('utf8');
  // Partial lines (and a partial multi-byte character) at the cut are dropped whole; a log
  // without newlines near the cut is cut mid-line instead.
  head = head.includes('\n') ? head.slice(0, head.lastIndexOf('\n') + 1) : head.replace(/\uFFFD+$/, '');
  tail = tail.includes('\n') ? tail.slice(tail.indexOf('\n') + 1) : tail.replace(/^\uFFFD+/, '');
  const middle = text.slice(head.length, text.length - tail.length);
  return { head, tail, cut: { bytes: Buffer.byteLength(middle, 'utf8'), lines: middle.split('\n').length - 1 } };
}

/** "1.2 MB", "340 kB", "12 B". */
export function formatBytes(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} kB`;
  return `${n} B`;
}

/** "850 ms", "12.3 s", "4 min 05 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
