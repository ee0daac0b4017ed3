import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, constants as Z } from 'node:zlib';
import { snapshotTree } from '../../bench/tree-snapshot.ts';
import { readManifest2 } from '../../lib/delta/apply2.ts';
import { ByteReader } from '../../lib/delta/byte-reader.ts';
import { serializeManifest2 } from '../../lib/delta/format2.ts';
import { applyDelta, createDelta, createDelta2, deltaFormatOf, type DeltaManifest2 } from '../../lib/delta/index.ts';
import { seededRandom } from '../../lib/seeded-random.ts';
import { LONG, layerOf, makeRoot } from '../helpers/delta-roots.ts';

const scratch = mkdtempSync(join(tmpdir(), 'huplab-delta2-'));
t.teardown(() => spawnSync('rm', ['-rf', scratch]));
let n = 0;
const fresh = (name: string) => {
  const d = join(scratch, `${name}-${n++}`);
  mkdirSync(d);
  return d;
};

// A program that was rebuilt (drifting bytes) and a library whose file name carries its version.
const rand = seededRandom(2);
const prog1 = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(rand() * 256)));
const prog2 = Buffer.from(prog1);
for (let i = 0; i < prog2.length; i += 501) prog2[i] = (prog2[i]! + 3) & 0xff;
const lib1 = Buffer.concat([Buffer.from('libbar 1.0\n'), prog1.subarray(0, 50_000)]);
const lib2 = Buffer.concat([Buffer.from('libbar 1.1\n'), prog1.subarray(0, 50_000)]);
const v1 = makeRoot(fresh, 1, (w) => {
  w('usr/bin/prog', prog1, 0o755);
  w('usr/lib/libbar.so.1.0', lib1);
});
const v2 = makeRoot(fresh, 2, (w) => {
  w('usr/bin/prog', prog2, 0o755);
  w('usr/lib/libbar.so.1.1', lib2);
});
const layer1 = layerOf(fresh, v1);
const layer2 = layerOf(fresh, v2);

const made = (async () => {
  const delta = join(fresh('delta'), 'd.delta');
  const result = await createDelta2({ fromLayer: layer1, toLayer: layer2, out: delta });
  return { delta, result };
})();

/** The manifest and payload of a delta, decompressed. */
function unpack(delta: string): { manifest: DeltaManifest2; raw: Buffer; payloadAt: number } {
  const raw = brotliDecompressSync(readFileSync(delta).subarray(8));
  const len = raw.readUInt32LE(0);
  return { manifest: JSON.parse(raw.subarray(4, 4 + len).toString()) as DeltaManifest2, raw, payloadAt: 4 + len };
}

function repack(raw: Buffer, out: string): string {
  writeFileSync(
    out,
    Buffer.concat([Buffer.from('HUPLABD2'), brotliCompressSync(raw, { params: { [Z.BROTLI_PARAM_LGWIN]: 24 } })]),
  );
  return out;
}

function baseCopy(): string {
  const base = fresh('base');
  cpSync(v1, base, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  return base;
}

t.test('the target is rebuilt exactly; unchanged files are listed nowhere; changed ones are patched', async (t) => {
  const { delta, result } = await made;
  t.equal(await deltaFormatOf(delta), 2);
  const { manifest } = unpack(delta);
  const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
  t.notOk(byPath.has(`${LONG}/unchanged.txt`), 'an unchanged file has no entry');
  t.notOk(
    [...manifest.entries.map((e) => e.path), ...manifest.dropped].some((p) => p.endsWith('unchanged.txt')),
    '... nor is it dropped',
  );
  t.ok(result.kept >= 3, `${result.kept} kept entries`);
  t.equal(byPath.get(LONG)?.walk, true, 'its directory is walked instead');
  t.match(byPath.get('usr/bin/prog'), { source: 'patch', baseSize: prog1.length }, 'a rebuilt program is patched');
  t.match(
    byPath.get('usr/lib/libbar.so.1.1'),
    { source: 'patch', basePath: 'usr/lib/libbar.so.1.0' },
    'a new version of a library is patched against the old one',
  );
  t.match(byPath.get('opt/new-name.bin'), { source: 'base', basePath: 'opt/old-name.bin' }, 'a move costs a path');
  t.equal(byPath.get('bin/tool')?.mode, 0o700, 'a mode change is an entry with the mode');
  t.notOk('uid' in (manifest.entries.find((e) => e.path === 'etc')! as object), 'default fields are left out');
  t.ok(manifest.dropped.includes('etc/old.conf'), 'a removed file in a walked directory is dropped');
  t.ok(result.deltaBytes < 20_000, `delta ${result.deltaBytes} bytes (the program alone is ${prog2.length})`);
  const v1Delta = join(fresh('v1'), 'd.tar.gz');
  const old = await createDelta({ fromLayer: layer1, toLayer: layer2, out: v1Delta });
  t.ok(result.deltaBytes * 5 < old.deltaBytes, `format 2 ${result.deltaBytes} B vs format 1 ${old.deltaBytes} B`);

  const base = baseCopy();
  const before = snapshotTree(base);
  const target = fresh('target');
  mkdirSync(join(target, 'lost+found'));
  const r = await applyDelta({ delta, baseRoot: base, targetRoot: target });
  t.equal(r.filesFromBase, result.kept + result.filesFromBase);
  const got = snapshotTree(target);
  delete got['lost+found'];
  t.strictSame(got, snapshotTree(v2), 'content, modes, owners, symlinks, hard links, mtimes');
  t.strictSame(snapshotTree(base), before, 'the base is not modified');
});

t.test('a base that differs from the delta is refused as delta-base-mismatch, target emptied', async (t) => {
  const { delta } = await made;
  const cases: [string, (base: string) => void, RegExp][] = [
    [
      'a kept file with other content',
      (b) => writeFileSync(join(b, `${LONG}/unchanged.txt`), 'deep and UNCHANGED'),
      /listing digest/,
    ],
    ['a kept file missing', (b) => spawnSync('rm', [join(b, 'usr/lib/libfoo.so.1')]), /listing digest/],
    ['an extra file in a walked directory', (b) => writeFileSync(join(b, 'etc/extra'), 'x'), /listing digest/],
    [
      'a patch base of another size',
      (b) => writeFileSync(join(b, 'usr/bin/prog'), 'short'),
      /usr\/bin\/prog has 5 bytes/,
    ],
    [
      'a patch base with other content, same size',
      (b) => {
        const p = join(b, 'usr/bin/prog');
        const body = readFileSync(p);
        body[1000] = body[1000]! ^ 0xff;
        writeFileSync(p, body);
      },
      /a file the patches are made against has different content/,
    ],
    ['a moved file missing', (b) => spawnSync('rm', [join(b, 'opt/old-name.bin')]), /old-name\.bin is missing/],
    [
      'a walked directory replaced by a file',
      (b) => {
        spawnSync('rm', ['-rf', join(b, LONG)]);
        writeFileSync(join(b, LONG), '');
      },
      /is not a directory/,
    ],
  ];
  for (const [name, damage, message] of cases) {
    const base = baseCopy();
    damage(base);
    const target = fresh('target');
    await t.rejects(
      applyDelta({ delta, baseRoot: base, targetRoot: target }),
      { code: 'delta-base-mismatch', message },
      name,
    );
    t.strictSame(readdirSync(target), [], `${name}: nothing left in the target`);
  }
});

t.test('a damaged delta is refused as delta-corrupt, target emptied', async (t) => {
  const { delta } = await made;
  const { raw, payloadAt, manifest } = unpack(delta);
  const file = readFileSync(delta);
  const cases: [string, () => string, RegExp][] = [
    [
      'a flipped byte in the compressed stream',
      () => {
        const bad = Buffer.from(file);
        bad[Math.floor(bad.length / 2)]! ^= 0x55;
        return writeTo(bad);
      },
      /./,
    ],
    ['truncated', () => writeTo(file.subarray(0, file.length - 10)), /./],
    [
      'a payload byte changed (blob or patch)',
      () => {
        const bad = Buffer.from(raw);
        bad[raw.length - 3]! ^= 0x01;
        return repack(bad, join(fresh('bad'), 'd'));
      },
      /does not match its hash|patch of/,
    ],
    [
      'data after the last file',
      () => repack(Buffer.concat([raw, Buffer.from('more')]), join(fresh('bad'), 'd')),
      /data after/,
    ],
    [
      'a tree digest that does not match',
      () => {
        const m = { ...manifest, treeDigest: '0'.repeat(64) };
        const json = serializeManifest2(m as DeltaManifest2);
        const head = Buffer.alloc(4);
        head.writeUInt32LE(json.length);
        return repack(Buffer.concat([head, json, raw.subarray(payloadAt)]), join(fresh('bad'), 'd'));
      },
      /tree digest/,
    ],
    [
      'an unsafe path in the manifest',
      () => {
        const json = Buffer.from(
          JSON.stringify({ ...manifest, entries: [...manifest.entries, { path: '../evil', type: 'directory' }] }),
        );
        const head = Buffer.alloc(4);
        head.writeUInt32LE(json.length);
        return repack(Buffer.concat([head, json, raw.subarray(payloadAt)]), join(fresh('bad'), 'd'));
      },
      /not normalised/,
    ],
    ['not a delta at all', () => writeTo(Buffer.from('hello, world')), /not a huplab delta/],
  ];
  function writeTo(b: Buffer): string {
    const p = join(fresh('bad'), 'd');
    writeFileSync(p, b);
    return p;
  }
  for (const [name, make, message] of cases) {
    const target = fresh('target');
    await t.rejects(
      applyDelta({ delta: make(), baseRoot: baseCopy(), targetRoot: target }),
      { code: 'delta-corrupt', message },
      name,
    );
    t.strictSame(readdirSync(target), [], `${name}: nothing left in the target`);
  }
});

t.test('a later format is refused as delta-format (the updater falls back to the full image)', async (t) => {
  const p = join(fresh('future'), 'd');
  writeFileSync(p, Buffer.concat([Buffer.from('HUPLABD3'), Buffer.alloc(100)]));
  await t.rejects(applyDelta({ delta: p, baseRoot: v1, targetRoot: fresh('t') }), {
    code: 'delta-format',
    message: /format "3" is not supported/,
  });
  const v1Delta = join(fresh('v1'), 'd.tar.gz');
  await createDelta({ fromLayer: layer1, toLayer: layer2, out: v1Delta });
  t.equal(await deltaFormatOf(v1Delta), 1, 'format 1 is still read');
  const target = fresh('target');
  await applyDelta({ delta: v1Delta, baseRoot: baseCopy(), targetRoot: target });
  t.strictSame(snapshotTree(target), snapshotTree(v2));
});

t.test('the manifest is read from the stream with a bounded length', async (t) => {
  const huge = Buffer.alloc(4);
  huge.writeUInt32LE(0xffffffff);
  async function* src() {
    yield huge;
  }
  const reader = new ByteReader(src()[Symbol.asyncIterator](), () => new Error('truncated'));
  await t.rejects(readManifest2(reader, 'x'), { code: 'delta-corrupt', message: /manifest of 4294967295 bytes/ });
  t.ok(statSync(layer2).size > 0);
});
