import { MAX_VARINT_BYTES } from './varint.ts';

/**
 * Pulls exact byte counts out of a stream of chunks (the decompressed delta). Holds at most one
 * pending chunk plus the piece being asked for, and every caller asks for bounded pieces, so the
 * memory used does not depend on the size of the delta or of any file in it.
 */
export class ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private at = 0;
  private ended = false;
  /** Bytes handed out so far (for error messages). */
  consumed = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly onTruncated: () => Error,
  ) {}

  private async fill(): Promise<boolean> {
    while (this.at >= this.chunk.length) {
      if (this.ended) return false;
      const next = await this.source.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      this.chunk = next.value;
      this.at = 0;
    }
    return true;
  }

  /**
   * Up to `max` bytes (at least one), as a view that stays valid until the next call; throws
   * at the end of the stream.
   */
  async some(max: number): Promise<Buffer> {
    if (!(await this.fill())) throw this.onTruncated();
    const n = Math.min(max, this.chunk.length - this.at);
    const out = this.chunk.subarray(this.at, this.at + n);
    this.at += n;
    this.consumed += n;
    return out;
  }

  /** Exactly `n` bytes, copied (n is bounded by the caller). */
  async exact(n: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(n);
    for (let got = 0; got < n; ) {
      const piece = await this.some(n - got);
      piece.copy(out, got);
      got += piece.length;
    }
    return out;
  }

  async varint(): Promise<number> {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (!(await this.fill())) throw this.onTruncated();
      const b = this.chunk[this.at++]!;
      this.consumed++;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) break;
        return value;
      }
      scale *= 0x80;
    }
    throw new RangeError('varint too long');
  }

  /** True when the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    return !(await this.fill());
  }
}
