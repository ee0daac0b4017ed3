import { HuplabError } from '../errors.ts';

type Chunk = Buffer | Uint8Array | string;
/** Anything yielding the archive's bytes: a Readable, an async generator, an array of Buffers. */
export type TarSource = AsyncIterable<Chunk> | Iterable<Chunk>;

/**
 * Pulls exact byte counts out of a stream of arbitrarily sized chunks, without copying large
 * bodies: headers are read whole, file contents are passed through chunk by chunk.
 */
export class ByteSource {
  private readonly it: AsyncIterator<Chunk> | Iterator<Chunk>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(source: TarSource) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    const chunk =
      typeof r.value === 'string'
        ? Buffer.from(r.value)
        : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    return true;
  }

  /** Exactly n bytes, or undefined when the source ends before the first byte. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.pending.length < n) {
      if (!(await this.pull())) {
        if (this.pending.length === 0) return undefined;
        throw truncated();
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** Exactly n bytes as a sequence of chunks; throws if the source ends early. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.pull())) throw truncated();
      const take = Math.min(left, this.pending.length);
      const out = this.pending.subarray(0, take);
      this.pending = this.pending.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      /* discard */
    }
  }

  /** Reads to the end: lets a hashing tap upstream see every byte (tar pads past its end marker). */
  async drain(): Promise<void> {
    this.pending = Buffer.alloc(0);
    while (await this.pull()) this.pending = Buffer.alloc(0);
  }
}

function truncated(): HuplabError {
  return new HuplabError('tar-truncated', 'tar archive ends in the middle of an entry', {
    hint: 'the download or file is incomplete',
  });
}
