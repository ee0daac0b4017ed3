/**
 * Replies as data: handlers say what to send (status, headers, a buffer or a byte range of a
 * file) and the HTTP layer sends it, so faults (slow, truncate, corrupt) are applied in one place
 * whatever the endpoint.
 */
import { stat } from 'node:fs/promises';

export type ReplyBody =
  | { kind: 'buffer'; data: Buffer }
  /** Bytes start..end (inclusive) of a file, streamed, never read whole into memory. */
  | { kind: 'file'; path: string; start: number; end: number }
  /**
   * A body written as it happens (server-sent events): `open` gets a sink once the headers are
   * out and writes until the client goes away (`onClose`) or it calls `end`. Faults do not shape it.
   */
  | { kind: 'stream'; open(sink: StreamSink): void };

/** Where a streamed body goes. `write` returns false when the client is gone. */
export interface StreamSink {
  write(text: string): boolean;
  end(): void;
  onClose(listener: () => void): void;
}

export interface Reply {
  status: number;
  headers?: Record<string, string | number>;
  body?: ReplyBody;
}

export function json(status: number, value: unknown, headers: Record<string, string | number> = {}): Reply {
  const data = Buffer.from(JSON.stringify(value));
  return {
    status,
    headers: { 'Content-Type': 'application/json', 'Content-Length': data.length, ...headers },
    body: { kind: 'buffer', data },
  };
}

export function bytes(
  status: number,
  data: Buffer,
  contentType: string,
  headers: Record<string, string | number> = {},
): Reply {
  return {
    status,
    headers: { 'Content-Type': contentType, 'Content-Length': data.length, ...headers },
    body: { kind: 'buffer', data },
  };
}

/** A single byte range asked for with `Range`, resolved against the size; 'unsatisfiable' or undefined (whole). */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // Several ranges or another unit: answering with the whole body is allowed (RFC 9110 14.2).
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** A file, whole or the asked-for range (206), with Accept-Ranges so clients know they can resume. */
export async function fileReply(
  path: string,
  rangeHeader: string | undefined,
  headers: Record<string, string | number>,
): Promise<Reply> {
  const { size } = await stat(path);
  const range = parseRange(rangeHeader, size);
  const common = { 'Accept-Ranges': 'bytes', ...headers };
  if (range === 'unsatisfiable') {
    return { status: 416, headers: { ...common, 'Content-Range': `bytes */${size}`, 'Content-Length': 0 } };
  }
  if (range === undefined) {
    return {
      status: 200,
      headers: { ...common, 'Content-Length': size },
      body: { kind: 'file', path, start: 0, end: size - 1 },
    };
  }
  return {
    status: 206,
    headers: {
      ...common,
      'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
      'Content-Length': range.end - range.start + 1,
    },
    body: { kind: 'file', path, start: range.start, end: range.end },
  };
}
