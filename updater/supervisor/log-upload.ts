/**
 * The update logs to the API: each file of the update log folder (the updaters', rollback's and
 * takeover's, written to /mnt/data/balenahup) is sent from where the last upload of it ended, a
 * bounded part at a time, so the dashboard shows a running update's log as it grows and a failed
 * one's after the reboot that judged it. How much of each file went is kept on the data
 * partition: a restarted agent, or the next OS's, carries on instead of sending it all again.
 * (The legacy folder holds copies of the same files, so it is not sent twice.)
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/supervisor-install.ts';

/** The most of one file sent in one request (the API takes up to 1 MiB of text). */
export const LOG_PART_BYTES = 256 * 1024;
/** The most requests of one beat: a long backlog goes over a few beats, the heartbeat stays light. */
const PARTS_PER_BEAT = 4;
/** Names the API takes for a log (1 to 64 of these characters, starting with a letter or digit). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export interface LogUploadDeps {
  dir: string;
  /** Where the bytes sent per file are kept ({name: bytes}). */
  sentFile: string;
  /** Sends one part; false when the API did not take it (sent again next time). */
  send(name: string, text: string): Promise<boolean>;
  log(line: string): void;
}

/** Sends what the API has not seen of the update logs, up to PARTS_PER_BEAT parts; the parts sent. */
export async function uploadLogs(deps: LogUploadDeps): Promise<number> {
  let names: string[];
  try {
    names = readdirSync(deps.dir).sort();
  } catch {
    return 0; // no update has run on this device yet
  }
  const sent = readSent(deps.sentFile);
  let parts = 0;
  for (const name of names) {
    if (!NAME.test(name)) continue;
    const file = join(deps.dir, name);
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) continue;
      size = st.size;
    } catch {
      continue;
    }
    // A file shorter than what was sent is a new file of the same name: from its start.
    let from = (sent[name] ?? 0) <= size ? (sent[name] ?? 0) : 0;
    while (from < size && parts < PARTS_PER_BEAT) {
      const part = readPart(file, from, size);
      if (part.length === 0) break;
      if (!(await deps.send(name, part.toString('utf8')))) return parts;
      parts++;
      from += part.length;
      sent[name] = from;
      writeFileAtomic(deps.sentFile, `${JSON.stringify(sent)}\n`);
    }
    if (parts >= PARTS_PER_BEAT) break;
  }
  return parts;
}

/** Up to LOG_PART_BYTES from `from`, ending after a whole line unless the file ends or one line is longer. */
function readPart(file: string, from: number, size: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min(LOG_PART_BYTES, size - from));
    const n = readSync(fd, buf, 0, buf.length, from);
    const got = buf.subarray(0, n);
    if (from + n >= size) return got;
    const lastNewline = got.lastIndexOf(0x0a);
    return lastNewline >= 0 ? got.subarray(0, lastNewline + 1) : got;
  } finally {
    closeSync(fd);
  }
}

function readSent(file: string): Record<string, number> {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
    return Object.fromEntries(
      Object.entries(v).filter((e): e is [string, number] => Number.isInteger(e[1]) && (e[1] as number) >= 0),
    );
  } catch {
    return {};
  }
}
