import t from 'tap';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK, VolatileDisk } from '../harness/qemu/volatile-disk.ts';
import { seededRandom } from '../lib/seeded-random.ts';

function image(size = 4 * 2 ** 20): { dir: string; path: string; sock: string } {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-vdisk-'));
  const path = join(dir, 'disk.img');
  writeFileSync(path, Buffer.alloc(size));
  return { dir, path, sock: join(dir, 'nbd.sock') };
}
const onMedium = (path: string, offset: number, n: number) => readFileSync(path).subarray(offset, offset + n);

t.test('unflushed writes are read back but lost at a power cut; flushed ones survive', async (t) => {
  const img = image();
  const d = new VolatileDisk({ imagePath: img.path, socketPath: img.sock });
  d.write(1000, Buffer.alloc(5000, 0xaa)); // unaligned, across two blocks
  t.same(d.read(1000, 5000), Buffer.alloc(5000, 0xaa), 'the guest reads its own writes');
  t.same(onMedium(img.path, 1000, 5000), Buffer.alloc(5000), 'not on the medium yet');
  d.flush();
  t.same(onMedium(img.path, 1000, 5000), Buffer.alloc(5000, 0xaa), 'a flush makes them durable');
  d.write(0, Buffer.alloc(BLOCK, 0xbb));
  d.write(3 * BLOCK, Buffer.alloc(10, 0xcc), true);
  t.same(onMedium(img.path, 3 * BLOCK, 10), Buffer.alloc(10, 0xcc), 'a FUA write is durable at once');
  const cut = d.cut();
  t.same(cut, { lostBlocks: 1, keptBlocks: 0 });
  t.same(onMedium(img.path, 0, 1000), Buffer.alloc(1000), 'the unflushed block is gone');
  t.same(onMedium(img.path, 1000, 10), Buffer.alloc(10, 0xaa), 'what was flushed before stays');
  await d.close();
});

t.test('a full cache spills its oldest blocks to the medium, as a device does', async (t) => {
  const img = image();
  const d = new VolatileDisk({ imagePath: img.path, socketPath: img.sock, cacheBytes: 2 * BLOCK });
  for (let i = 0; i < 4; i++) d.write(i * BLOCK, Buffer.alloc(BLOCK, i + 1));
  t.equal(d.stats.spilledBlocks, 2);
  t.same(
    onMedium(img.path, 0, 2 * BLOCK),
    Buffer.concat([Buffer.alloc(BLOCK, 1), Buffer.alloc(BLOCK, 2)]),
    'the two oldest reached the medium',
  );
  d.cut();
  t.same(onMedium(img.path, 2 * BLOCK, 2 * BLOCK), Buffer.alloc(2 * BLOCK), 'the two newest were lost');
  await d.close();
});

t.test('a cut that keeps a random part is the same for the same seed', async (t) => {
  const kept = (seed: number) => {
    const img = image();
    const d = new VolatileDisk({ imagePath: img.path, socketPath: img.sock });
    for (let i = 0; i < 64; i++) d.write(i * BLOCK, Buffer.alloc(BLOCK, 7));
    const r = d.cut({ keep: 'random', seed });
    const medium = readFileSync(img.path);
    return { r, mask: Array.from({ length: 64 }, (_, i) => medium[i * BLOCK]).join('') };
  };
  const a = kept(42);
  const b = kept(42);
  const c = kept(43);
  t.same(a, b, 'same seed, same blocks kept');
  t.not(a.mask, c.mask, 'another seed, other blocks');
  t.ok(a.r.keptBlocks > 10 && a.r.keptBlocks < 54, `about half kept (${a.r.keptBlocks})`);
  t.equal(seededRandom(1)(), seededRandom(1)());
});

// QEMU's own NBD client (qemu-io) against the server: the handshake, reads, writes, FUA, flush.
t.test('QEMU speaks NBD to it: writes, reads, FUA and flush', async (t) => {
  const img = image();
  const d = new VolatileDisk({ imagePath: img.path, socketPath: img.sock });
  await d.listen();
  t.teardown(() => d.close({ flush: false }).catch(() => {}));
  const url = `nbd+unix:///?socket=${img.sock}`;
  const r = await execa(
    'qemu-io',
    [
      '-f',
      'raw',
      url,
      '-c',
      'write -P 0x5a 4096 65536',
      '-c',
      'read -P 0x5a 4096 65536',
      '-c',
      'write -f -P 0x33 1048576 4096',
    ],
    { reject: false },
  );
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /wrote 65536\/65536 bytes/);
  t.match(r.stdout, /read 65536\/65536 bytes/);
  t.notMatch(r.stdout + r.stderr, /Pattern verification failed/);
  t.ok(d.stats.fuaWrites >= 1, 'the FUA flag arrived');
  // qemu-io flushes when it closes the image: everything is durable now.
  t.ok(d.stats.flushes >= 1, 'a flush arrived');
  t.same(onMedium(img.path, 4096, 65536), Buffer.alloc(65536, 0x5a));

  // A writer that is cut before it flushes loses its write (qemu-io's default cache mode is
  // writethrough, which flushes after every write; a guest's disk is writeback).
  const slow = execa(
    'qemu-io',
    ['-t', 'writeback', '-f', 'raw', url, '-c', 'write -P 0x77 2097152 8192', '-c', 'sleep 20000'],
    { reject: false },
  );
  const deadline = Date.now() + 20_000;
  while (d.stats.dirtyBlocks < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  t.equal(d.stats.dirtyBlocks, 2, 'the write is acknowledged into the cache');
  const cut = d.cut();
  slow.kill('SIGKILL');
  await slow;
  t.equal(cut.lostBlocks, 2);
  t.same(onMedium(img.path, 2097152, 8192), Buffer.alloc(8192), 'and never reached the medium');
});
