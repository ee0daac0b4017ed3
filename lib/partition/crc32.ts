import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the one GPT uses). zlib.crc32 only exists from Node 20.15/22.2, and
 * package.json promises Node >= 20, so older runtimes get the table version below.
 */
type Crc32Fn = (data: Uint8Array) => number;

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

export function crc32Table(data: Uint8Array): number {
  table ??= makeTable();
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export const crc32: Crc32Fn = typeof native === 'function' ? (data) => native(data) >>> 0 : crc32Table;
