import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../../images/builder/index.ts';
import { buildHostapp } from '../../images/builder/hostapp.ts';
import { loadRelease } from '../../images/recipe.ts';
import { isHuplabError } from '../../lib/errors.ts';
import { decodeGrubenv } from '../../lib/grubenv.ts';
import { readPartitions } from '../../lib/partition/index.ts';
import { cacheDir } from '../../lib/paths.ts';
import { loadProfile } from '../../lib/profile.ts';

// These tests build real images (no VM): the first run fills the cache, later runs reuse it.
const debugfsCat = (disk: string, offset: number, path: string) =>
  execFileSync('debugfs', ['-R', `cat ${path}`, `${disk}?offset=${offset}`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  }).toString();
const mtype = (disk: string, offset: number, path: string) =>
  execFileSync('mtype', ['-i', `${disk}@@${offset}`, `::${path}`], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    maxBuffer: 64 << 20,
  });

t.test('a built image has the balenaOS partitions, GRUB, its grubenv and the release in resin-rootA', async (t) => {
  const img = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
  const parts = await readPartitions(img.disk);
  t.same(
    parts.map((p) => p.label ?? p.name),
    ['resin-boot', 'resin-rootA', 'resin-rootB', 'resin-state', 'resin-data'],
  );
  t.same(
    parts.map((p) => p.fs),
    ['vfat', 'ext4', undefined, 'ext4', 'ext4'],
    'resin-rootB is empty on a fresh image',
  );
  const profile = await loadProfile('generic-amd64');
  for (const [i, p] of profile.partitions.entries())
    t.equal(parts[i]!.sizeBytes, p.sizeMiB * 2 ** 20, `${p.label} size from the profile`);
  const boot = parts[0]!.startBytes;
  t.same(decodeGrubenv(mtype(img.disk, boot, '/EFI/BOOT/grubenv')), {
    resin_root_part: 'A',
    upgrade_available: '0',
    bootcount: '0',
  });
  t.ok(
    mtype(img.disk, boot, '/EFI/BOOT/BOOTX64.EFI').subarray(0, 2).equals(Buffer.from('MZ')),
    'GRUB EFI binary at the removable-media path',
  );
  t.match(mtype(img.disk, boot, '/EFI/BOOT/grub.cfg').toString(), /save_env -f \/EFI\/BOOT\/grubenv bootcount/);
  const root = parts[1]!.startBytes;
  t.match(debugfsCat(img.disk, root, '/etc/os-release'), /^VERSION="2\.101\.0"$/m);
  t.match(debugfsCat(img.disk, root, '/etc/balena-supervisor/supervisor.conf'), /SUPERVISOR_VERSION=16\.7\.1/);
  t.match(debugfsCat(img.disk, root, '/etc/inittab'), /ttyS0::respawn:\/sbin\/getty -L 115200 ttyS0/);
});

t.test(
  'a production image: no console login, no root password, SSH keys only, cached apart from development',
  async (t) => {
    const dev = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
    const prod = await buildImage({ device: 'generic-amd64', release: '2.101.0', variant: 'production' });
    t.equal(dev.variant, 'development');
    t.equal(prod.variant, 'production');
    t.not(prod.key, dev.key, 'separate image entries');
    t.not(prod.releaseBuilds[0]!.key, dev.releaseBuilds[0]!.key, 'separate release entries');
    t.not(prod.releaseBuilds[0]!.hostapp.manifest.digest, dev.releaseBuilds[0]!.hostapp.manifest.digest);
    const record = JSON.parse(execFileSync('cat', [join(cacheDir(), 'images', prod.key, 'image.json')]).toString());
    t.equal(record.variant, 'production', 'image.json names the variant');
    const root = (await readPartitions(prod.disk))[1]!.startBytes;
    const cat = (path: string) => debugfsCat(prod.disk, root, path);
    t.match(cat('/etc/os-release'), /^VARIANT_ID="prod"$/m);
    t.notMatch(cat('/etc/inittab'), /getty/, 'nothing logs in on the console');
    t.match(cat('/etc/shadow'), /^root:\*:/m, 'root has no password');
    t.match(cat('/etc/default/dropbear'), /^DROPBEAR_AUTH_ARGS="-s -g"$/m, 'dropbear refuses passwords');
    t.match(cat('/etc/huplab-release.json'), /"variant": "production"/);
    const devRoot = (await readPartitions(dev.disk))[1]!.startBytes;
    t.match(debugfsCat(dev.disk, devRoot, '/etc/shadow'), /^root::/m);
    t.match(debugfsCat(dev.disk, devRoot, '/etc/default/dropbear'), /^DROPBEAR_AUTH_ARGS="-B"$/m);
  },
);

t.test('a second build of the same release is served from the cache', async (t) => {
  await buildImage({ device: 'generic-amd64', release: '2.101.0' });
  const started = Date.now();
  const again = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
  t.ok(again.cached, 'cached');
  t.ok(
    again.releaseBuilds.every((b) => b.cached),
    'release pieces cached',
  );
  t.ok(Date.now() - started < 2_000, `cached build took ${Date.now() - started} ms`);
});

t.test('the hostapp artifact is a valid one-layer OCI image whose digests match its blobs', async (t) => {
  const img = await buildImage({ device: 'generic-amd64', release: '2.102.0' });
  const { hostapp } = img.releaseBuilds[0]!;
  const sha = (p: string) => execFileSync('sha256sum', [p]).toString().split(' ')[0];
  const blob = (d: string) => join(hostapp.dir, 'blobs', 'sha256', d.slice(7));
  t.equal(`sha256:${sha(blob(hostapp.manifest.digest))}`, hostapp.manifest.digest);
  t.equal(`sha256:${sha(blob(hostapp.layer.digest))}`, hostapp.layer.digest);
  const manifest = JSON.parse(execFileSync('cat', [blob(hostapp.manifest.digest)]).toString());
  t.equal(manifest.layers.length, 1);
  const config = JSON.parse(execFileSync('cat', [blob(manifest.config.digest)]).toString());
  t.equal(config.config.Labels['io.balena.image.version'], '2.102.0');
  t.same(config.rootfs.diff_ids, [hostapp.layer.diffId]);
  const listing = execFileSync('tar', ['-tzf', blob(hostapp.layer.digest)], { maxBuffer: 64 << 20 }).toString();
  t.match(listing, /^\.\/etc\/os-release$/m);
  t.match(listing, /^\.\/usr\/bin\/node$/m);
});

t.test('the hostapp layer is reproducible: the same root gives the same digest', async (t) => {
  const img = await buildImage({ device: 'generic-amd64', release: '2.101.0' });
  const rb = img.releaseBuilds[0]!;
  const profile = await loadProfile('generic-amd64');
  const recipe = await loadRelease('2.101.0');
  const epoch = Date.parse(recipe.date) / 1000;
  const again = await buildHostapp({
    rootfs: rb.rootfsDir,
    outDir: mkdtempSync(join(tmpdir(), 'huplab-hostapp-')),
    recipe,
    profile,
    epoch,
  });
  t.equal(again.layer.digest, rb.hostapp.layer.digest);
  t.equal(again.manifest.digest, rb.hostapp.manifest.digest);
});

t.test('a failed build leaves nothing where a good image is expected', async (t) => {
  const releases = mkdtempSync(join(tmpdir(), 'huplab-releases-'));
  const good = await loadRelease('2.101.0');
  writeFileSync(
    join(releases, '7.0.0.json'),
    JSON.stringify({ ...good, version: '7.0.0', debianPackages: [...good.debianPackages, 'no-such-package-huplab'] }),
  );
  const before = existsSync(join(cacheDir(), 'releases')) ? readdirSync(join(cacheDir(), 'releases')) : [];
  const { loadRelease: load } = await import('../../images/recipe.ts');
  const recipe = await load('7.0.0', releases);
  const { buildRelease } = await import('../../images/builder/release-build.ts');
  const err = await buildRelease(await loadProfile('generic-amd64'), recipe).catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'debian-package-missing'), 'missing Debian package is named');
  if (isHuplabError(err)) t.match(err.oneLine(), /no-such-package-huplab:amd64 is not known to apt/);
  const after = existsSync(join(cacheDir(), 'releases')) ? readdirSync(join(cacheDir(), 'releases')) : [];
  t.same(
    after.filter((d) => !before.includes(d)),
    [],
    'no new cache entry, no temp dir left',
  );
});

t.test('unknown device and unknown release are clear errors', async (t) => {
  const unknown = await buildImage({ device: 'no-such-board', release: '2.101.0' }).catch((e: unknown) => e);
  t.ok(isHuplabError(unknown, 'unknown-device'));
  if (isHuplabError(unknown)) t.match(unknown.oneLine(), /generic-amd64/, 'names the known profiles');
  const missing = await buildImage({ device: 'generic-amd64', release: '1.0.0' }).catch((e: unknown) => e);
  t.ok(isHuplabError(missing, 'unknown-release'));
});
