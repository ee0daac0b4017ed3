import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { ByteReader } from '../lib/delta/byte-reader.ts';
import { decodePatch, PIECE } from '../lib/delta/patch-decoder.ts';
import { patchBytes, planPatch } from '../lib/delta/patch-encoder.ts';
import { pushVarint, unzigzag, zigzag } from '../lib/delta/varint.ts';
import { seededRandom } from '../lib/seeded-random.ts';

const scratch = mkdtempSync(join(tmpdir(), 'huplab-patch-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function randomBuffer(rand: () => number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Like a rebuilt executable: shifted blocks, drifting addresses (small byte changes), inserts. */
function mutate(rand: () => number, old: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < old.length) {
    const len = Math.min(old.length - at, 1 + Math.floor(rand() * 20_000));
    const piece = Buffer.from(old.subarray(at, at + len));
    for (let i = Math.floor(rand() * 97); i < piece.length; i += 97) piece[i] = (piece[i]! + 1) & 0xff;
    const r = rand();
    if (r < 0.15) parts.push(randomBuffer(rand, Math.floor(rand() * 300))); // inserted
    if (r > 0.1) parts.push(piece); // else deleted
    at += len;
  }
  return Buffer.concat(parts);
}

async function* chunksOf(b: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function oldFile(old: Buffer): Promise<{ fh: FileHandle; reads: number[] }> {
  const path = join(scratch, `old-${n++}`);
  writeFileSync(path, old);
  const fh = await open(path, 'r');
  const reads: number[] = [];
  const read = fh.read.bind(fh) as (b: Buffer, o: number, l: number, p: number) => ReturnType<FileHandle['read']>;
  // Records the size of every positioned read: the memory bound is about these.
  (fh as unknown as { read: typeof read }).read = (b, o, l, p) => {
    reads.push(l);
    return read(b, o, l, p);
  };
  t.teardown(() => fh.close());
  return { fh, reads };
}

async function decode(old: Buffer, patch: Buffer, size: number, chunk = 4096) {
  const { fh, reads } = await oldFile(old);
  const out: Buffer[] = [];
  for await (const c of decodePatch({
    patch: new ByteReader(chunksOf(patch, chunk)[Symbol.asyncIterator](), () => new Error('truncated')),
    old: fh,
    oldSize: old.length,
    size,
    corrupt: (what) => Object.assign(new Error(what), { code: 'delta-corrupt' }),
  }))
    out.push(c);
  return { out: Buffer.concat(out), chunks: out.map((c) => c.length), reads };
}

const encode = (old: Buffer, neu: Buffer) => {
  const plan = planPatch(old, neu);
  return { plan, patch: Buffer.concat([...patchBytes(plan, old, neu)]) };
};

t.test('varints and zigzag round-trip at their limits', async (t) => {
  for (const v of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    const bytes: number[] = [];
    pushVarint(bytes, v);
    const r = new ByteReader(chunksOf(Buffer.from(bytes), 1)[Symbol.asyncIterator](), () => new Error('truncated'));
    t.equal(await r.varint(), v);
  }
  for (const v of [0, -1, 1, -123456, 2 ** 40, -(2 ** 40)]) t.equal(unzigzag(zigzag(v)), v);
  t.throws(() => pushVarint([], -1));
  t.throws(() => pushVarint([], 2 ** 60));
});

t.test('round trips: edits, empty and identical files, unrelated files', async (t) => {
  const rand = seededRandom(21);
  const base = randomBuffer(rand, 200_000);
  const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i} of a config file\n`).join(''));
  const cases: [string, Buffer, Buffer][] = [
    ['executable-like drift', base, mutate(rand, base)],
    [
      'text with an inserted line',
      text,
      Buffer.from(text.toString().replace('line 1500 ', 'line 1500 NEW\nline 1500 ')),
    ],
    ['identical', base, base],
    ['empty old', Buffer.alloc(0), base.subarray(0, 5000)],
    ['empty new', base, Buffer.alloc(0)],
    ['unrelated', randomBuffer(rand, 10_000), randomBuffer(rand, 12_000)],
    ['old shorter than a seed', Buffer.from('abc'), Buffer.from('abcdef')],
    [
      'long runs of one byte',
      Buffer.alloc(300_000, 7),
      Buffer.concat([Buffer.alloc(1000, 1), Buffer.alloc(299_000, 7)]),
    ],
  ];
  for (const [name, old, neu] of cases) {
    const { patch } = encode(old, neu);
    for (const chunk of [13, 65536]) {
      const { out } = await decode(old, patch, neu.length, chunk);
      t.ok(out.equals(neu), `${name}: rebuilt exactly (patch read ${chunk} bytes at a time)`);
    }
  }
});

t.test('a drifted executable costs a small fraction of its size', async (t) => {
  const rand = seededRandom(7);
  const old = randomBuffer(rand, 1 << 20);
  const neu = mutate(rand, old);
  const { plan, patch } = encode(old, neu);
  const compressed = brotliCompressSync(patch).length;
  t.ok(plan.cost < neu.length / 10, `cost ${plan.cost} for ${neu.length} bytes`);
  t.ok(compressed < neu.length / 8, `patch ${compressed} bytes compressed for ${neu.length}`);
  t.ok(compressed < brotliCompressSync(neu).length / 5, 'far below compressing the new file alone');
});

t.test('bounded memory: reads and writes come in pieces of at most PIECE bytes', async (t) => {
  const rand = seededRandom(3);
  const old = randomBuffer(rand, 3 * PIECE + 1234);
  const neu = Buffer.concat([old.subarray(0, 2 * PIECE), randomBuffer(rand, PIECE + 99), old.subarray(PIECE)]);
  const { patch } = encode(old, neu);
  const { out, chunks, reads } = await decode(old, patch, neu.length);
  t.ok(out.equals(neu));
  t.ok(Math.max(...chunks) <= PIECE, `largest piece written ${Math.max(...chunks)}`);
  t.ok(Math.max(...reads) <= PIECE, `largest read of the old file ${Math.max(...reads)}`);
  t.ok(reads.length > 3, 'the old file is read piece by piece, never whole');
});

t.test('adversarial patches are refused as corrupt, never read or written out of bounds', async (t) => {
  const old = Buffer.from('0123456789abcdef0123456789abcdef');
  const op = (copy: number, extra: number, seek: number, ...tail: number[]) => {
    const b: number[] = [];
    pushVarint(b, copy);
    pushVarint(b, extra);
    pushVarint(b, zigzag(seek));
    return Buffer.from([...b, ...tail]);
  };
  const zeros = (k: number) => Array<number>(k).fill(0);
  const cases: [string, Buffer, number, RegExp][] = [
    ['copy past the old end', op(40, 0, 0, ...zeros(40)), 40, /copy reads past the end of the old file/],
    ['write past the new size', op(4, 10, 0, ...zeros(14)), 8, /writes past the end/],
    ['seek before the start', Buffer.concat([op(2, 0, -5, 0, 0), op(2, 0, 0, 0, 0)]), 4, /seek leaves the old file/],
    ['seek past the end', Buffer.concat([op(2, 0, 100, 0, 0), op(2, 0, 0, 0, 0)]), 4, /seek leaves the old file/],
    ['an empty operation (would loop forever)', op(0, 0, 0), 4, /empty operation/],
    [
      'a varint longer than 8 bytes',
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      4,
      /bad copy length/,
    ],
    ['a huge length', op(2 ** 50, 0, 0), 4, /copy reads past|writes past/],
  ];
  for (const [name, patch, size, message] of cases) {
    await t.rejects(decode(old, patch, size), { code: 'delta-corrupt', message }, name);
  }
  await t.rejects(decode(old, op(8, 0, 0, 1, 2), 8), /truncated/, 'a patch that ends early');
});

t.test('random garbage never crashes the decoder: it is refused or yields at most `size` bytes', async (t) => {
  const rand = seededRandom(99);
  const old = randomBuffer(rand, 5000);
  for (let i = 0; i < 300; i++) {
    const patch = randomBuffer(rand, Math.floor(rand() * 200));
    const size = Math.floor(rand() * 3000);
    try {
      const { out } = await decode(old, patch, size);
      t.equal(out.length, size);
    } catch (err) {
      const e = err as { code?: string; message: string };
      if (e.code !== 'delta-corrupt' && e.message !== 'truncated') t.fail(`unexpected error: ${e.message}`);
    }
  }
  t.pass('300 random patches handled');
});

t.test('the patch of a file against itself is zero differences: tiny once compressed', async (t) => {
  const rand = seededRandom(5);
  const old = randomBuffer(rand, 100_000);
  const { plan, patch } = encode(old, old);
  t.equal(plan.cost, 0);
  t.ok(brotliCompressSync(patch).length < 64, `${brotliCompressSync(patch).length} bytes compressed`);
  const { out } = await decode(old, patch, old.length);
  t.equal(createHash('sha256').update(out).digest('hex'), createHash('sha256').update(old).digest('hex'));
});
