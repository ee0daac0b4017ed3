import t from 'tap';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { applyDelta, applyLayer, createDelta, createDelta2, readDeltaManifest } from '../../lib/delta/index.ts';
import { writeTar } from '../../lib/tar/index.ts';
import { snapshotTree } from '../../bench/tree-snapshot.ts';
import { LONG, layerOf, makeRoot } from '../helpers/delta-roots.ts';

// The real-release test builds both releases when the cache does not have them yet.
t.setTimeout(900_000);
const scratch = mkdtempSync(join(tmpdir(), 'huplab-delta-'));
t.teardown(() => spawnSync('rm', ['-rf', scratch]));
let n = 0;
const fresh = (name: string) => {
  const d = join(scratch, `${name}-${n++}`);
  mkdirSync(d);
  return d;
};

const v1 = makeRoot(fresh, 1);
const v2 = makeRoot(fresh, 2);
const layer1 = layerOf(fresh, v1);
const layer2 = layerOf(fresh, v2);

t.test('synthetic roots: the delta rebuilds the target exactly', async (t) => {
  const delta = join(fresh('delta'), 'd.tar.gz');
  const made = await createDelta({ fromLayer: layer1, toLayer: layer2, out: delta });
  const m = await readDeltaManifest(delta);
  t.match(m.from, /^sha256:[0-9a-f]{64}$/);
  t.equal(m.format, 1);
  const byPath = new Map(m.entries.map((e) => [e.path, e]));
  t.equal(byPath.get('etc/os-release')?.source, 'delta', 'changed file shipped');
  t.equal(byPath.get('etc/new.conf')?.source, 'delta', 'added file shipped');
  t.equal(byPath.get('etc/motd')?.source, 'base', 'owner change only: content from the base');
  t.match(byPath.get('bin/tool'), { source: 'base', mode: 0o700 }, 'mode change only');
  t.match(
    byPath.get('opt/new-name.bin'),
    { source: 'base', basePath: 'opt/old-name.bin' },
    'a moved file costs nothing',
  );
  t.match(byPath.get('usr/lib/libfoo.so'), { type: 'symlink', linkname: 'libfoo.so.2' });
  t.match(byPath.get('usr/bin/b'), { type: 'hardlink', linkname: 'usr/bin/a' });
  t.equal(byPath.get('.')?.type, 'directory');
  t.strictSame(m.removed, ['etc/old.conf', 'opt/old-name.bin']);
  t.equal(made.blobs, made.filesFromDelta - 1, 'two files with the same new content share one blob');
  t.ok(made.deltaBytes < statSync(layer2).size, 'smaller than the target layer');

  const base = fresh('base');
  cpSync(v1, base, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  const target = fresh('target');
  mkdirSync(join(target, 'lost+found')); // as in a freshly made ext4
  const progress: number[] = [];
  const r = await applyDelta({
    delta,
    baseRoot: base,
    targetRoot: target,
    onProgress: (p) => progress.push(p.bytesWritten),
  });
  t.equal(r.filesFromDelta, made.filesFromDelta);
  t.equal(r.filesFromBase, made.filesFromBase);
  t.equal(r.bytesWritten, progress.at(-1));
  const got = snapshotTree(target);
  t.ok(got['lost+found'], 'lost+found is left alone');
  delete got['lost+found'];
  t.strictSame(got, snapshotTree(v2), 'content, modes, owners, symlinks, hard links, mtimes');
});

t.test('a base that differs from what the delta expects is detected, and the target emptied', async (t) => {
  const delta = join(fresh('delta'), 'd.tar.gz');
  await createDelta({ fromLayer: layer1, toLayer: layer2, out: delta });
  const cases: [string, (base: string) => void, RegExp][] = [
    [
      'same size, different content',
      (b) => writeFileSync(join(b, `${LONG}/unchanged.txt`), 'deep and UNCHANGED'),
      /unchanged\.txt has different content/,
    ],
    ['different size', (b) => writeFileSync(join(b, 'etc/motd'), 'welcome!\n'), /\/etc\/motd has 9 bytes, expected 8/],
    ['missing', (b) => spawnSync('rm', [join(b, 'usr/lib/libfoo.so.1')]), /libfoo\.so\.1 is missing/],
    [
      'replaced by a symlink',
      (b) => {
        spawnSync('rm', [join(b, 'etc/empty')]);
        symlinkSync('/dev/zero', join(b, 'etc/empty'));
      },
      /etc\/empty is not a regular file/,
    ],
  ];
  for (const [name, damage, message] of cases) {
    const base = fresh('base');
    cpSync(v1, base, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
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

t.test(
  'a carried file whose content does not match its name (digest) is refused as corrupt, and the target emptied',
  async (t) => {
    const delta = join(fresh('delta'), 'd.tar.gz');
    await createDelta({ fromLayer: layer1, toLayer: layer2, out: delta });
    // Same size, other bytes: only the content's sha256 can tell (the tar headers stay valid).
    const tar = gunzipSync(readFileSync(delta));
    const at = tar.indexOf('added in v2');
    t.ok(at > 0 && tar.indexOf('added in v2', at + 1) < 0, 'etc/new.conf is carried once in the delta');
    tar.write('ADDED in v2', at);
    const damaged = join(fresh('damaged'), 'd.tar.gz');
    writeFileSync(damaged, gzipSync(tar));
    const target = fresh('target');
    await t.rejects(applyDelta({ delta: damaged, baseRoot: v1, targetRoot: target }), {
      code: 'delta-corrupt',
      message: /content of etc\/new\.conf does not match its hash/,
    });
    t.strictSame(readdirSync(target), [], 'nothing left in the target');
  },
);

t.test('refusals: non-empty target, unknown format', async (t) => {
  const delta = join(fresh('delta'), 'd.tar.gz');
  await createDelta({ fromLayer: layer1, toLayer: layer2, out: delta });
  const busy = fresh('busy');
  writeFileSync(join(busy, 'old'), '');
  await t.rejects(applyDelta({ delta, baseRoot: v1, targetRoot: busy }), { code: 'target-not-empty' });
  await t.rejects(applyLayer({ layer: layer2, targetRoot: busy }), { code: 'target-not-empty' });
  const future = join(fresh('future'), 'f.tar.gz');
  const json = Buffer.from(JSON.stringify({ format: 2 }));
  const { pipeline } = await import('node:stream/promises');
  const { createGzip } = await import('node:zlib');
  const { createWriteStream } = await import('node:fs');
  await pipeline(
    writeTar([
      { path: 'delta.json', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: json.length, body: json },
    ]),
    createGzip(),
    createWriteStream(future),
  );
  await t.rejects(applyDelta({ delta: future, baseRoot: v1, targetRoot: fresh('t') }), { code: 'delta-format' });
});

t.test('applyLayer writes the full tree', async (t) => {
  const target = fresh('full');
  const r = await applyLayer({ layer: layer2, targetRoot: target });
  t.match(r.diffId, /^sha256:/);
  t.strictSame(snapshotTree(target), snapshotTree(v2));
});

t.test('real releases: 2.101.0 -> 2.102.0', async (t) => {
  const { buildImage } = await import('../../images/builder/index.ts');
  const release = async (version: string) => {
    const b = (await buildImage({ device: 'generic-amd64', release: version })).releaseBuilds.find(
      (x) => x.version === version,
    )!;
    return { ...b, layerPath: join(b.hostapp.dir, 'blobs', 'sha256', b.hostapp.layer.digest.slice('sha256:'.length)) };
  };
  const from = await release('2.101.0');
  const to = await release('2.102.0');
  const delta = join(fresh('real'), 'delta.tar.gz');
  const made = await createDelta({ fromLayer: from.layerPath, toLayer: to.layerPath, out: delta });
  t.equal(made.from, from.hostapp.layer.diffId);
  t.equal(made.to, to.hostapp.layer.diffId);
  t.ok(
    made.deltaBytes * 10 < to.hostapp.layer.size,
    `delta ${made.deltaBytes} bytes vs layer ${to.hostapp.layer.size}`,
  );
  t.comment(
    `delta ${made.deltaBytes} B, ${made.filesFromDelta} files shipped (${made.blobBytes} B raw), ${made.filesFromBase} from the base; layer ${to.hostapp.layer.size} B`,
  );

  const target = fresh('real-target');
  const r = await applyDelta({ delta, baseRoot: from.rootfsDir, targetRoot: target });
  t.equal(r.filesFromDelta + r.filesFromBase, made.filesFromDelta + made.filesFromBase);
  // Every regular file's sha256, every symlink's target, every mode; mtimes too, since the
  // builder normalises them before making the layer.
  t.strictSame(snapshotTree(target, { owners: false }), snapshotTree(to.rootfsDir, { owners: false }));

  // Format 2 on the same releases (same builds): smaller, and the same tree.
  const delta2 = join(fresh('real2'), 'delta');
  const made2 = await createDelta2({ fromLayer: from.layerPath, toLayer: to.layerPath, out: delta2 });
  t.ok(made2.deltaBytes * 2 < made.deltaBytes, `format 2: ${made2.deltaBytes} B, format 1: ${made.deltaBytes} B`);
  const target2 = fresh('real-target2');
  await applyDelta({ delta: delta2, baseRoot: from.rootfsDir, targetRoot: target2 });
  t.strictSame(snapshotTree(target2, { owners: false }), snapshotTree(to.rootfsDir, { owners: false }));
});
