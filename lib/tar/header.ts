import { HuplabError } from '../errors.ts';

/**
 * One 512-byte tar header block (POSIX ustar layout, also read from GNU and v7 tars). Only the
 * byte layout lives here; pax and GNU long-name records are layered on top by the reader and
 * the writer.
 */
export const BLOCK = 512;

/** Raw header fields as stored in one block, before pax or GNU long names override them. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  /** ustar prefix, already joined into `name` for POSIX ustar headers (GNU uses the bytes otherwise). */
  ustar: boolean;
}

// Offsets and widths from the POSIX ustar definition.
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;
type Field = keyof typeof F;

function text(block: Buffer, field: Field): string {
  const [off, len] = F[field];
  const raw = block.subarray(off, off + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

/** Octal (the usual form) or base-256 (GNU's form for values that do not fit in octal). */
function number(block: Buffer, field: Field): number {
  const [off, len] = F[field];
  const raw = block.subarray(off, off + len);
  if (raw[0]! & 0x80) {
    if (raw[0]! & 0x40) throw new HuplabError('tar-corrupt', `tar header: negative ${field} is not supported`);
    let v = raw[0]! & 0x3f;
    for (let i = 1; i < len; i++) v = v * 256 + raw[i]!;
    if (!Number.isSafeInteger(v)) throw new HuplabError('tar-corrupt', `tar header: ${field} is too large`);
    return v;
  }
  const s = raw
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s))
    throw new HuplabError('tar-corrupt', `tar header: ${field} is not an octal number (${JSON.stringify(s)})`);
  return parseInt(s, 8);
}

function checksumOf(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    // The checksum field itself counts as eight spaces.
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b >= 0x80 ? b - 256 : b;
  }
  return { unsigned, signed };
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export function decodeHeader(block: Buffer): RawHeader {
  const stored = number(block, 'chksum');
  const sum = checksumOf(block);
  // Some historic tars summed signed bytes; both are accepted, as GNU tar does.
  if (stored !== sum.unsigned && stored !== sum.signed) {
    throw new HuplabError('tar-corrupt', 'tar header checksum mismatch', {
      hint: 'the archive is damaged or not a tar file',
    });
  }
  const magic = block.subarray(257, 263).toString('latin1');
  // Only POSIX ustar ("ustar\0") has a prefix field; GNU ("ustar  ") keeps other data there.
  const ustar = magic === 'ustar\0';
  const prefix = ustar ? text(block, 'prefix') : '';
  const name = text(block, 'name');
  return {
    name: prefix ? `${prefix}/${name}` : name,
    mode: number(block, 'mode'),
    uid: number(block, 'uid'),
    gid: number(block, 'gid'),
    size: number(block, 'size'),
    mtime: number(block, 'mtime'),
    typeflag: String.fromCharCode(block[156]!),
    linkname: text(block, 'linkname'),
    uname: text(block, 'uname'),
    gname: text(block, 'gname'),
    ustar,
  };
}

/** Largest value each numeric field holds in octal; larger values need a pax record. */
export const OCTAL_MAX = {
  mode: 0o7777777,
  uid: 0o7777777,
  gid: 0o7777777,
  size: 0o77777777777,
  mtime: 0o77777777777,
} as const;

function putText(block: Buffer, field: Field, value: string): void {
  const [off, len] = F[field];
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) throw new Error(`tar writer: ${field} longer than ${len} bytes`);
  bytes.copy(block, off);
}

function putOctal(block: Buffer, field: Field, value: number): void {
  const [off, len] = F[field];
  // len - 1 digits and a terminating NUL, the form every reader accepts.
  block.write(`${value.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}

/** Encodes one ustar block; the caller guarantees every field fits (see OCTAL_MAX, splitName). */
export function encodeHeader(h: {
  name: string;
  prefix?: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: string;
  uname?: string;
  gname?: string;
}): Buffer {
  const block = Buffer.alloc(BLOCK);
  putText(block, 'name', h.name);
  putOctal(block, 'mode', h.mode);
  putOctal(block, 'uid', h.uid);
  putOctal(block, 'gid', h.gid);
  putOctal(block, 'size', h.size);
  putOctal(block, 'mtime', h.mtime);
  block.write(h.typeflag, 156, 1, 'latin1');
  putText(block, 'linkname', h.linkname ?? '');
  block.write('ustar\0' + '00', 257, 8, 'latin1');
  putText(block, 'uname', h.uname ?? '');
  putText(block, 'gname', h.gname ?? '');
  putOctal(block, 'devmajor', 0);
  putOctal(block, 'devminor', 0);
  putText(block, 'prefix', h.prefix ?? '');
  const { unsigned } = checksumOf(block);
  block.write(`${unsigned.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return block;
}

/**
 * Splits a path into ustar's prefix (155 bytes) and name (100 bytes) at a '/', or returns
 * undefined when it cannot be stored without a pax record.
 */
export function splitName(path: string): { prefix: string; name: string } | undefined {
  const bytes = Buffer.byteLength(path);
  // Non-ASCII names go to pax, whose values are defined as UTF-8; ustar fields are bare bytes.
  if (bytes !== path.length) return undefined;
  if (bytes <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    if (i <= 155 && bytes - i - 1 <= 100 && i > 0 && i < bytes - 1)
      return { prefix: path.slice(0, i), name: path.slice(i + 1) };
  }
  return undefined;
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
