import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, type ReleaseBuild } from '../../images/builder/index.ts';
import { fetchPackage, hostArch, resolvePackage } from '../../images/builder/apt.ts';
import { fetchNpmTarball } from '../../images/builder/npm-blob.ts';
import { checkDigest, checkEntry, checkFile, FILE_RECORD_SUFFIX } from '../../images/builder/cache-verify.ts';
import { deltaBetween, takeoverTool } from '../../harness/backend/artifacts.ts';
import type { Narrator } from '../../lib/narrator.ts';
import { cacheDir, repoRoot } from '../../lib/paths.ts';

// Real cache entries, damaged in a private cache: the next build or fetch must say so in one
// line, rebuild, and hand out an intact result. The shared cache is only read (and filled by the
// first build when it is empty, as every image test does).
t.setTimeout(600_000);

const listening = () => {
  const lines: string[] = [];
  const narrator: Narrator = { step: (_t, fn) => fn(), info: (m) => lines.push(m) };
  return { lines, narrator };
};

function flip(file: string, offset: number, n = 64): void {
  const fd = openSync(file, 'r+');
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, offset);
    for (let i = 0; i < n; i++) buf[i] = buf[i]! ^ 0xff;
    writeSync(fd, buf, 0, n, offset);
  } finally {
    closeSync(fd);
  }
}

const shared = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
const priv = mkdtempSync(join(tmpdir(), 'huplab-cache-damage-'));
const sharedCache = cacheDir();
for (const rel of [`images/${shared.key}`, ...shared.releaseBuilds.map((b) => `releases/${b.key}`), 'apt-resolve']) {
  if (!existsSync(join(sharedCache, rel))) continue;
  mkdirSync(join(priv, rel, '..'), { recursive: true });
  execFileSync('cp', ['-a', '--sparse=always', join(sharedCache, rel), join(priv, rel)]);
}
const savedCache = process.env.HUPLAB_CACHE;
process.env.HUPLAB_CACHE = priv;
t.teardown(() => {
  if (savedCache === undefined) delete process.env.HUPLAB_CACHE;
  else process.env.HUPLAB_CACHE = savedCache;
  spawnSync('rm', ['-rf', priv]);
});
const imageDir = join(priv, 'images', shared.key);
const disk = join(imageDir, 'disk.img');

const diskDamages: Array<[string, () => void, RegExp]> = [
  ['truncated', () => truncateSync(disk, 64 << 20), /disk\.img is 67108864 bytes, recorded \d+/],
  // Inside resin-rootA's data, a few MiB into the disk (the GPT and the boot partition come first).
  ['64 bytes flipped', () => flip(disk, 200 << 20), /disk\.img differs from its record/],
  ['deleted', () => unlinkSync(disk), /disk\.img is missing/],
];
for (const [what, damage, why] of diskDamages) {
  t.test(`a cached disk.img ${what} is rebuilt, with a notice`, async (t) => {
    t.equal(await checkEntry(imageDir, ['disk.simg.gz', 'sparse-image.json']), undefined, 'intact before');
    damage();
    const { lines, narrator } = listening();
    const img = await buildImage({ device: 'generic-amd64', release: '2.101.0', narrator });
    const notices = lines.filter((l) => l.startsWith('cache: '));
    t.equal(notices.length, 1, 'one notice');
    t.match(
      notices[0],
      /^cache: image generic-amd64 2\.101\.0 \(images\/[0-9a-f]{12}…\) is damaged \(.*\); rebuilding$/,
    );
    t.match(notices[0], why, 'naming the damage');
    t.equal(img.cached, false, 'not handed out from the cache');
    t.equal(img.disk, disk, 'rebuilt in its place');
    t.equal(statSync(img.disk).size, shared.sizeBytes, 'a whole disk');
    t.equal(img.sizeBytes, shared.sizeBytes);
    t.equal(await checkEntry(imageDir, ['disk.simg.gz', 'sparse-image.json']), undefined, 'intact after');
    t.same(
      readdirSync(join(priv, 'images')).filter((n) => n !== shared.key),
      [],
      'nothing left aside',
    );
  });
}

t.test("a release entry's damage is found too (rebuilding one takes most of a minute)", async (t) => {
  // The release an image is made from goes through the same check; rebuilding one takes most of
  // a minute, so here only the finding is shown on a real entry.
  const relDir = join(priv, 'releases', shared.releaseBuilds[0]!.key);
  t.equal(await checkEntry(relDir), undefined, 'intact');
  const grubCfg = join(relDir, 'boot', 'EFI', 'BOOT', 'grub.cfg');
  writeFileSync(grubCfg, readFileSync(grubCfg, 'utf8').replace('bootcount', 'bootcoumt'));
  t.equal(await checkEntry(relDir), 'boot/EFI/BOOT/grub.cfg differs from its record', 'an edited boot file');
  const layer = join(relDir, 'hostapp', 'blobs', 'sha256', shared.releaseBuilds[0]!.hostapp.layer.digest.slice(7));
  truncateSync(layer, 1000);
  t.match(
    await checkEntry(relDir),
    /hostapp\/blobs\/sha256\/[0-9a-f]{64} is 1000 bytes, recorded \d+/,
    'a truncated hostapp layer',
  );
});

t.test('a damaged Debian package is downloaded again, with a notice', async (t) => {
  const pkg = await resolvePackage('busybox-static', hostArch());
  const first = await fetchPackage(pkg, priv);
  flip(first, 4096);
  const { lines, narrator } = listening();
  const again = await fetchPackage(pkg, priv, narrator);
  t.match(lines, [/^cache: Debian package busybox-static .* is damaged \(its sha256 is .*\); rebuilding$/]);
  t.equal(again, first, 'into the same place');
  t.equal(await checkDigest(again, 'sha256', pkg.sha256), undefined, 'matching the archive index');
});

t.test('a damaged npm tarball is downloaded again, with a notice', async (t) => {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string; integrity: string }>;
  };
  const { version, integrity } = lock.packages['node_modules/tmp-promise']!;
  const spec = `tmp-promise@${version}`;
  const first = await fetchNpmTarball(spec, integrity, priv);
  truncateSync(first, 100);
  const { lines, narrator } = listening();
  const again = await fetchNpmTarball(spec, integrity, priv, narrator);
  t.match(lines, [/^cache: npm tarball tmp-promise@.* is damaged \(its sha512 is .*\); rebuilding$/]);
  const [algo, expected] = integrity.split('-', 2) as [string, string];
  t.equal(await checkDigest(again, algo, expected, 'base64'), undefined, 'matching the integrity');
});

t.test('a damaged delta and takeover tool are made again, with a notice', async (t) => {
  // Two tiny hostapps: a delta between real layers of two releases takes longer than the point.
  const release = (v: string): ReleaseBuild => {
    const root = mkdtempSync(join(priv, 'root-'));
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'os-release'), `VERSION="${v}"\n`);
    writeFileSync(join(root, 'etc', 'big'), Buffer.alloc(100_000, v));
    const layer = join(root, '..', `${v}.tar.gz`);
    execFileSync('sh', ['-c', `tar --sort=name --format=posix -C '${root}' -cf - . | gzip -n > '${layer}'`]);
    const digest = createHash('sha256').update(readFileSync(layer)).digest('hex');
    const dir = join(priv, `hostapp-${v}`);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', digest), readFileSync(layer));
    return { version: v, hostapp: { dir, layer: { digest: `sha256:${digest}` } } } as unknown as ReleaseBuild;
  };
  const [a, b] = [release('1.0'), release('2.0')];
  const delta = await deltaBetween(a, b);
  const bytes = readFileSync(delta);
  flip(delta, Math.floor(bytes.length / 2));
  const { lines, narrator } = listening();
  t.equal(await deltaBetween(a, b, narrator), delta);
  t.match(lines, [
    /^cache: delta 1\.0 -> 2\.0 \(format 1\) \(deltas\/.*\.delta\) is damaged \(.* differs from its record\); rebuilding$/,
  ]);
  t.equal(await checkFile(delta), undefined, 'intact again');
  t.same(readFileSync(delta), bytes, 'the same delta as before');

  unlinkSync(`${delta}${FILE_RECORD_SUFFIX}`);
  await deltaBetween(a, b, narrator);
  t.match(lines[1], /is damaged \(its record is missing\); rebuilding$/, 'a delta without its record is not trusted');

  const tool = await takeoverTool('simg-flash', 'amd64');
  truncateSync(tool.path, 10);
  const again = await takeoverTool('simg-flash', 'amd64', narrator);
  t.match(
    lines[2],
    /^cache: takeover tool simg-flash-amd64 \(updater\/simg-flash-amd64-[0-9a-f]+\) is damaged \(.*is 10 bytes, recorded \d+\); rebuilding$/,
  );
  t.same(again, tool, 'the same tool again');
});
