/**
 * A disk with a volatile write cache, served to QEMU over NBD on a unix socket, so that a power
 * cut loses what a real device loses.
 *
 * Killing QEMU alone is kinder than a real power cut: every write the guest already handed to
 * QEMU reaches the host's page cache and survives the kill, flushed or not. A real SD card or
 * eMMC acknowledges writes into a cache of its own and keeps only what a flush (or a FUA write)
 * made durable. Here, writes go into an in-memory cache of 4 KiB blocks; a FLUSH writes the cache
 * to the image file, a FUA write goes through at once, and a bounded cache spills its oldest
 * blocks to the file as a device's cache would. `cut()` is the power cut: the cache is dropped
 * (or, with `keep: 'random'`, a seeded random part of it reaches the medium, as a controller
 * caught mid-way might leave it), and the connection is closed.
 *
 * Protocol: NBD fixed newstyle handshake (NBD_OPT_GO / NBD_OPT_INFO / NBD_OPT_EXPORT_NAME), simple
 * replies, READ, WRITE (FUA), FLUSH, TRIM (ignored, allowed by the protocol), WRITE_ZEROES, DISC.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { HuplabError } from '../../lib/errors.ts';
import { seededRandom } from '../../lib/seeded-random.ts';

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const OPT_REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;
const OPT = { EXPORT_NAME: 1, ABORT: 2, INFO: 6, GO: 7 } as const;
const REP = { ACK: 1, INFO: 3, ERR_UNSUP: 0x80000001 } as const;
const TX_FLAGS =
  1 /* HAS_FLAGS */ | 4 /* SEND_FLUSH */ | 8 /* SEND_FUA */ | 32 /* SEND_TRIM */ | 64 /* SEND_WRITE_ZEROES */;
const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 } as const;
const CMD_FLAG_FUA = 1;
const EIO = 5;
const EINVAL = 22;

export const BLOCK = 4096;

export interface VolatileDiskOptions {
  /** The raw image: the medium that survives power cuts. */
  imagePath: string;
  socketPath: string;
  /** Bytes the cache holds before it spills its oldest blocks to the medium (default 8 MiB, an eMMC's order). */
  cacheBytes?: number;
}

export interface CacheStats {
  dirtyBlocks: number;
  flushes: number;
  spilledBlocks: number;
  fuaWrites: number;
}

export interface CutResult {
  lostBlocks: number;
  keptBlocks: number;
}

export class VolatileDisk {
  private readonly fd: number;
  readonly size: number;
  /** Dirty blocks in the order they were first written: the oldest spill first. */
  private readonly cache = new Map<number, Buffer>();
  private readonly maxBlocks: number;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly stats: CacheStats = { dirtyBlocks: 0, flushes: 0, spilledBlocks: 0, fuaWrites: 0 };

  constructor(private readonly opts: VolatileDiskOptions) {
    this.fd = openSync(opts.imagePath, 'r+');
    this.size = fstatSync(this.fd).size;
    if (this.size % BLOCK !== 0)
      throw new HuplabError('disk-size', `${opts.imagePath} is ${this.size} bytes, not a multiple of ${BLOCK}`);
    this.maxBlocks = Math.max(1, Math.floor((opts.cacheBytes ?? 8 * 2 ** 20) / BLOCK));
  }

  /** Starts serving; QEMU connects with `-drive file=nbd:unix:<socket>,format=raw`. */
  async listen(): Promise<void> {
    await rm(this.opts.socketPath, { force: true });
    this.server = createServer((s) => this.serve(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err) =>
        reject(
          new HuplabError('nbd-listen', `cannot listen on ${this.opts.socketPath}: ${err.message}`, {
            infrastructure: true,
          }),
        ),
      );
      this.server!.listen(this.opts.socketPath, () => resolve());
    });
  }

  // --- the medium and its cache -------------------------------------------------------------

  private readBlock(i: number): Buffer {
    const cached = this.cache.get(i);
    if (cached) return cached;
    const b = Buffer.alloc(BLOCK);
    readSync(this.fd, b, 0, BLOCK, i * BLOCK);
    return b;
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let pos = offset; pos < offset + length; ) {
      const i = Math.floor(pos / BLOCK);
      const within = pos - i * BLOCK;
      const n = Math.min(BLOCK - within, offset + length - pos);
      this.readBlock(i).copy(out, pos - offset, within, within + n);
      pos += n;
    }
    return out;
  }

  write(offset: number, data: Buffer, fua = false): void {
    const touched: number[] = [];
    for (let pos = offset; pos < offset + data.length; ) {
      const i = Math.floor(pos / BLOCK);
      const within = pos - i * BLOCK;
      const n = Math.min(BLOCK - within, offset + data.length - pos);
      const block = Buffer.from(this.readBlock(i));
      data.copy(block, within, pos - offset, pos - offset + n);
      // Re-inserted at the end: the block's age is that of its latest write.
      this.cache.delete(i);
      this.cache.set(i, block);
      touched.push(i);
      pos += n;
    }
    if (fua) {
      this.stats.fuaWrites++;
      for (const i of touched) this.writeBack(i);
      fsyncSync(this.fd);
    }
    this.spill();
    this.stats.dirtyBlocks = this.cache.size;
  }

  private writeBack(i: number): void {
    const b = this.cache.get(i);
    if (!b) return;
    writeSync(this.fd, b, 0, BLOCK, i * BLOCK);
    this.cache.delete(i);
  }

  /** A full cache makes room the way a device does: its oldest blocks reach the medium. */
  private spill(): void {
    while (this.cache.size > this.maxBlocks) {
      const oldest = this.cache.keys().next().value as number;
      this.writeBack(oldest);
      this.stats.spilledBlocks++;
    }
  }

  flush(): void {
    for (const i of [...this.cache.keys()].sort((a, b) => a - b)) this.writeBack(i);
    fsyncSync(this.fd);
    this.stats.flushes++;
    this.stats.dirtyBlocks = 0;
  }

  /**
   * The power cut, on the disk's side: unflushed blocks are lost, or with `keep: 'random'` each
   * reaches the medium with probability one half, decided by `seed`. Call it after QEMU is dead
   * (or instead of killing it: the connection is closed here).
   */
  cut(opts: { keep?: 'none' | 'random'; seed?: number } = {}): CutResult {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const rnd = seededRandom(opts.seed ?? 1);
    let kept = 0;
    let lost = 0;
    for (const i of [...this.cache.keys()]) {
      if (opts.keep === 'random' && rnd() < 0.5) {
        this.writeBack(i);
        kept++;
      } else {
        this.cache.delete(i);
        lost++;
      }
    }
    fsyncSync(this.fd);
    this.stats.dirtyBlocks = 0;
    return { lostBlocks: lost, keptBlocks: kept };
  }

  /** Stops serving; what is still cached is written back (a clean shutdown, not a cut). */
  async close(opts: { flush?: boolean } = {}): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (opts.flush !== false) this.flush();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    closeSync(this.fd);
    await rm(this.opts.socketPath, { force: true });
  }

  // --- NBD ----------------------------------------------------------------------------------

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new ByteReader(socket);
    this.session(socket, reader).catch(() => socket.destroy());
  }

  private async session(socket: Socket, r: ByteReader): Promise<void> {
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(NBDMAGIC, 0);
    hello.writeBigUInt64BE(IHAVEOPT, 8);
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    socket.write(hello);
    const clientFlags = (await r.take(4)).readUInt32BE(0);
    const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
    // Option haggling until the client chooses the export.
    for (;;) {
      const head = await r.take(16);
      if (head.readBigUInt64BE(0) !== IHAVEOPT) throw new Error('bad option magic');
      const option = head.readUInt32BE(8);
      const data = await r.take(head.readUInt32BE(12));
      if (option === OPT.EXPORT_NAME) {
        const reply = Buffer.alloc(noZeroes ? 10 : 134);
        reply.writeBigUInt64BE(BigInt(this.size), 0);
        reply.writeUInt16BE(TX_FLAGS, 8);
        socket.write(reply);
        break;
      }
      if (option === OPT.GO || option === OPT.INFO) {
        const info = Buffer.alloc(12);
        info.writeUInt16BE(0, 0); // NBD_INFO_EXPORT
        info.writeBigUInt64BE(BigInt(this.size), 2);
        info.writeUInt16BE(TX_FLAGS, 10);
        socket.write(optReply(option, REP.INFO, info));
        socket.write(optReply(option, REP.ACK));
        if (option === OPT.GO) break;
        continue;
      }
      if (option === OPT.ABORT) {
        socket.write(optReply(option, REP.ACK));
        socket.end();
        return;
      }
      void data;
      socket.write(optReply(option, REP.ERR_UNSUP));
    }
    // Transmission: one request at a time, in order (QEMU waits for nothing else from us).
    for (;;) {
      const req = await r.take(28);
      if (req.readUInt32BE(0) !== REQUEST_MAGIC) throw new Error('bad request magic');
      const flags = req.readUInt16BE(4);
      const type = req.readUInt16BE(6);
      const handle = req.subarray(8, 16);
      const offset = Number(req.readBigUInt64BE(16));
      const length = req.readUInt32BE(24);
      const inRange = offset + length <= this.size;
      switch (type) {
        case CMD.READ:
          socket.write(
            inRange ? Buffer.concat([simpleReply(0, handle), this.read(offset, length)]) : simpleReply(EINVAL, handle),
          );
          break;
        case CMD.WRITE: {
          const data = await r.take(length);
          if (inRange) this.write(offset, data, (flags & CMD_FLAG_FUA) !== 0);
          socket.write(simpleReply(inRange ? 0 : EINVAL, handle));
          break;
        }
        case CMD.WRITE_ZEROES:
          if (inRange) this.write(offset, Buffer.alloc(length), (flags & CMD_FLAG_FUA) !== 0);
          socket.write(simpleReply(inRange ? 0 : EINVAL, handle));
          break;
        case CMD.FLUSH:
          try {
            this.flush();
            socket.write(simpleReply(0, handle));
          } catch {
            socket.write(simpleReply(EIO, handle));
          }
          break;
        case CMD.TRIM:
          socket.write(simpleReply(0, handle));
          break;
        case CMD.DISC:
          socket.end();
          return;
        default:
          socket.write(simpleReply(EINVAL, handle));
      }
    }
  }
}

function optReply(option: number, type: number, data = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  return Buffer.concat([b, data]);
}

function simpleReply(error: number, handle: Buffer): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  handle.copy(b, 8);
  return b;
}

/** Reads exact byte counts from a stream, waiting as long as it takes. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiting: (() => void) | undefined;
  private ended = false;

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  async take(n: number): Promise<Buffer> {
    while (this.have < n) {
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => {
        this.waiting = r;
      });
      this.waiting = undefined;
    }
    // Only as many chunks as the request needs are joined: a large write arrives in many pieces.
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const c = this.chunks[0]!;
      if (c.length <= need) {
        parts.push(c);
        this.chunks.shift();
        need -= c.length;
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    this.have -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}
