/**
 * Unsigned LEB128 integers and their zigzag form for signed ones: the control words of a
 * binary patch (see patch-codec.ts). Values are limited to Number.MAX_SAFE_INTEGER, so a
 * crafted patch cannot smuggle in a length that loses precision.
 */

/** Appends `n` (0 <= n <= 2^53-1) to `out`. */
export function pushVarint(out: number[], n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${n}`);
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

/** Signed -> unsigned so that small magnitudes stay short either way. */
export function zigzag(n: number): number {
  return n < 0 ? -2 * n - 1 : 2 * n;
}

export function unzigzag(u: number): number {
  return u % 2 === 1 ? -(u + 1) / 2 : u / 2;
}

/** The longest varint that still fits a safe integer (8 groups of 7 bits = 56 bits). */
export const MAX_VARINT_BYTES = 8;
