/**
 * The last lines of a lab device's serial console, for the dashboard's device page: what a
 * release engineer looks at first when an update hangs (the kernel's last words, takeover's
 * flashing, a bootloader prompt). The device is found by its uuid among the lab's device folders
 * (provision.json), and only the tail of its serial.log is read, however long the log grew.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { cleanConsoleText } from '../console/clean.ts';
import { CONSOLE_LINES_MAX, type ConsoleTail } from '../dashboard/wire.ts';

/** How much of the log's end is read: a few hundred lines of a busy boot. */
const TAIL_BYTES = 64 * 1024;

export class ConsoleReader {
  /** Device folders by uuid, found again when a uuid is not (or no longer) where it was. */
  private readonly dirs = new Map<string, string>();

  constructor(private readonly labDir: string) {}

  /** The last `lines` lines of the device's console; undefined when the lab has no console of it. */
  tail(uuid: string, lines: number): ConsoleTail | undefined {
    const dir = this.dirOf(uuid);
    if (!dir) return undefined;
    const file = join(dir, 'serial.log');
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return undefined;
    }
    try {
      const st = fs.fstatSync(fd);
      const start = Math.max(0, st.size - TAIL_BYTES);
      const buf = Buffer.alloc(st.size - start);
      const n = fs.readSync(fd, buf, 0, buf.length, start);
      const all = cleanConsoleText(buf.subarray(0, n)).split('\n');
      // Read from the middle of the log, the first line is the end of one that began before.
      if (start > 0) all.shift();
      while (all.length && all.at(-1)?.trim() === '') all.pop();
      const want = Math.max(1, Math.min(CONSOLE_LINES_MAX, Math.floor(lines)));
      return {
        lines: all.slice(-want).map(printable),
        bytes: st.size,
        modified: st.mtime.toISOString(),
      };
    } finally {
      fs.closeSync(fd);
    }
  }

  private dirOf(uuid: string): string | undefined {
    const known = this.dirs.get(uuid);
    if (known && uuidIn(known) === uuid) return known;
    this.dirs.delete(uuid);
    const root = join(this.labDir, 'devices');
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      return undefined;
    }
    for (const name of names) {
      const dir = join(root, name);
      const found = uuidIn(dir);
      if (found) this.dirs.set(found, dir);
    }
    return this.dirs.get(uuid);
  }
}

function uuidIn(dir: string): string | undefined {
  try {
    const { uuid } = JSON.parse(fs.readFileSync(join(dir, 'provision.json'), 'utf8')) as { uuid?: unknown };
    return typeof uuid === 'string' ? uuid : undefined;
  } catch {
    return undefined;
  }
}

/** A line without the control characters the cleaner leaves (tabs stay): the page shows text only. */
function printable(line: string): string {
  let out = '';
  for (const ch of line) {
    const c = ch.charCodeAt(0);
    if (c === 9 || (c >= 32 && c !== 127)) out += ch;
  }
  return out.trimEnd();
}
