import t from 'tap';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
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
import { applyDelta, applyLayer, createDelta, readDeltaManifest } from '../../lib/delta/index.ts';
import { writeTar } from '../../lib/tar/index.ts';
import { snapshotTree } from '../../bench/tree-snapshot.ts';

const IS_ROOT = process.getuid?.() === 0;
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

const LONG = `usr/share/${'long-directory-name-'.repeat(4)}/${'x'.repeat(40)}`; // > 100 chars

/** A small root filesystem; `v` picks the release, mtimes differ per release as in real builds. */
function makeRoot(v: 1 | 2): string {
  const root = fresh(`root${v}`);
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
    chmodSync(join(root, rel), mode);
  };
  const big = Buffer.alloc(256 * 1024, 'big unchanged content ');
  w('etc/os-release', `VERSION=${v}\n`);
  w('etc/motd', 'welcome\n');
  w('etc/empty', '');
  w('bin/tool', '#!/bin/sh\necho tool\n', v === 1 ? 0o755 : 0o700); // mode change only
  w('usr/lib/libfoo.so.1', 'libfoo one');
  w('usr/bin/a', 'shared by hard link');
  linkSync(join(root, 'usr/bin/a'), join(root, 'usr/bin/b'));
  w(`${LONG}/unchanged.txt`, 'deep and unchanged');
  w(`${LONG}/changed.txt`, `deep version ${v}`);
  w(v === 1 ? 'opt/old-name.bin' : 'opt/new-name.bin', big); // moved, same content
  if (v === 1) {
    w('etc/old.conf', 'removed in v2');
    symlinkSync('libfoo.so.1', join(root, 'usr/lib/libfoo.so'));
  } else {
    w('etc/new.conf', 'added in v2');
    w('usr/lib/libfoo.so.2', 'libfoo two');
    w('usr/share/dup-1', 'same new content twice');
    w('usr/share/dup-2', 'same new content twice');
    symlinkSync('libfoo.so.2', join(root, 'usr/lib/libfoo.so')); // symlink target change
    w(`${LONG}/${'added-'.repeat(20)}.txt`, 'new with a long name');
    symlinkSync(`${LONG}/unchanged.txt`, join(root, 'usr/share/long-link'));
  }
  chmodSync(join(root, 'opt'), v === 1 ? 0o755 : 0o711);
  if (IS_ROOT) lchownSync(join(root, 'etc/motd'), v === 1 ? 0 : 1000, v === 1 ? 0 : 1000);
  const all: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      all.push(r);
      if (lstatSync(join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  const epoch = v === 1 ? 1_757_808_000 : 1_761_436_800;
  for (const r of all.reverse()) lutimesSync(join(root, r), epoch, epoch);
  lutimesSync(root, epoch, epoch);
  return root;
}

/** A layer the way images/builder/hostapp.ts makes one (owners kept: they are under test here). */
function layerOf(root: string): string {
  const out = join(fresh('layer'), 'layer.tar.gz');
  const r = spawnSync('sh', [
    '-c',
    `tar --sort=name --numeric-owner --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --format=posix -C '${root}' -cf - . | gzip -n > '${out}'`,
  ]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return out;
}

const v1 = makeRoot(1);
const v2 = makeRoot(2);
const layer1 = layerOf(v1);
const layer2 = layerOf(v2);

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
});
