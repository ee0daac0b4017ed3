/**
 * The OS variant (development, production): the recipe field and a build's choice, validated;
 * part of the release and image cache keys; what each variant puts in the root (console login,
 * root's password, SSH's password policy, os-release); the contract's reading of it back.
 */
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { imageKey, releaseKey } from '../images/builder/cache-key.ts';
import { osRelease } from '../images/builder/rootfs.ts';
import { dropbearDefaults, shadowFor, VARIANT_FILES } from '../images/builder/variant.ts';
import { checkVariant, loadRelease, withVariant } from '../images/recipe.ts';
import type { DeviceFacts } from '../harness/device/inspect.ts';
import type { UpdateOutcome } from '../harness/update/types.ts';
import { expectSuccess } from '../harness/update/verdict.ts';
import { parseOsReleaseVariant, VARIANTS, VARIANT_OS_RELEASE, type Variant } from '../lib/contract/variant.ts';
import { isHuplabError } from '../lib/errors.ts';
import { deviceFilesDir } from '../lib/paths.ts';
import { loadProfile } from '../lib/profile.ts';

t.test('the recipe field is validated: development or production, nothing else, never missing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-variant-'));
  const good = await loadRelease('2.101.0');
  t.equal(good.variant, 'development', 'the shipped recipes are development images');
  writeFileSync(join(dir, '3.0.0.json'), JSON.stringify({ ...good, version: '3.0.0', variant: 'production' }));
  t.equal((await loadRelease('3.0.0', dir)).variant, 'production');
  writeFileSync(join(dir, '3.0.1.json'), JSON.stringify({ ...good, version: '3.0.1', variant: 'staging' }));
  const { variant: _v, ...without } = good;
  writeFileSync(join(dir, '3.0.2.json'), JSON.stringify({ ...without, version: '3.0.2' }));
  for (const [v, re] of [
    ['3.0.1', /\/variant must be (equal to )?one of/],
    ['3.0.2', /missing required field "variant"/],
  ] as const) {
    const err = await loadRelease(v, dir).catch((e: unknown) => e);
    t.ok(isHuplabError(err, 'release-invalid'), `${v} refused`);
    if (isHuplabError(err)) t.match(err.oneLine(), re, v);
  }
});

t.test('a build may ask for the other variant; an unknown one is refused in one line', async (t) => {
  const dev = await loadRelease('2.101.0');
  t.equal(withVariant(dev), dev, 'no variant asked: the recipe as it is');
  t.equal(withVariant(dev, 'development'), dev, 'the recipe variant: the same recipe');
  const prod = withVariant(dev, 'production');
  t.equal(prod.variant, 'production');
  t.equal(dev.variant, 'development', 'the loaded recipe is not changed');
  t.same({ ...prod, variant: 'development' }, dev, 'nothing else changes');
  const err = (() => {
    try {
      return checkVariant('prod', '--variant');
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(err, 'variant-invalid'));
  if (isHuplabError(err)) {
    t.equal(err.oneLine(), '--variant "prod" is not an OS variant (use one of: development, production)');
  }
  t.throws(() => withVariant(dev, 'Production'), /not an OS variant/);
});

t.test('the variant is part of the release and image cache keys: dev and prod never share an entry', async (t) => {
  const dev = await loadRelease('2.101.0');
  const profile = await loadProfile('generic-amd64');
  const inputs = {
    profile,
    packages: ['busybox-static=1'],
    node: 'sha512-x',
    source: 'src',
    tools: { e2fsprogs: '1' },
  };
  const devKey = releaseKey({ ...inputs, recipe: dev });
  const prodKey = releaseKey({ ...inputs, recipe: withVariant(dev, 'production') });
  t.not(devKey, prodKey, 'release keys differ');
  t.equal(releaseKey({ ...inputs, recipe: structuredClone(dev) }), devKey, 'the key is stable');
  t.not(
    imageKey({ profile, releases: [devKey], variant: 'development' }),
    imageKey({ profile, releases: [prodKey], variant: 'production' }),
    'image keys differ',
  );
  t.not(
    imageKey({ profile, releases: ['same'], variant: 'development' }),
    imageKey({ profile, releases: ['same'], variant: 'production' }),
    'the image key names the variant itself, not only through the release keys',
  );
});

t.test('os-release says the variant as balenaOS does, and the contract reads it back', async (t) => {
  const dev = await loadRelease('2.101.0');
  const profile = await loadProfile('generic-amd64');
  const prodText = osRelease(withVariant(dev, 'production'), profile);
  t.match(prodText, /^VARIANT="Production"$/m);
  t.match(prodText, /^VARIANT_ID="prod"$/m);
  t.match(osRelease(dev, profile), /^VARIANT_ID="dev"$/m);
  for (const v of VARIANTS) t.equal(parseOsReleaseVariant(osRelease(withVariant(dev, v), profile)), v, v);
  t.equal(parseOsReleaseVariant('ID="balena-os"\n'), undefined, 'none named');
  t.equal(parseOsReleaseVariant('VARIANT_ID=staging\n'), undefined, 'an unknown one');
  t.same(VARIANT_OS_RELEASE.production, { VARIANT: 'Production', VARIANT_ID: 'prod' });
});

t.test('production: no console login, no root password, no password over SSH; development: all three', async (t) => {
  const shipped = readFileSync(join(deviceFilesDir, 'rootfs', 'etc', 'shadow'), 'utf8');
  t.match(shadowFor('production', shipped), /^root:\*:/m, 'production root has no password');
  t.notMatch(shadowFor('production', shipped), /^root::/m);
  t.match(shadowFor('development', shipped), /^root::/m, 'development root has an empty one');
  t.equal(shadowFor('production', shipped).match(/^root:/gm)?.length, 1, 'one root line');

  t.notMatch(VARIANT_FILES.production.consoleLine('ttyS0', 115200), /getty|::|\//, 'no getty, no inittab entry');
  t.match(VARIANT_FILES.production.consoleLine('ttyS0', 115200), /^#/, 'a comment in inittab');
  t.equal(VARIANT_FILES.development.consoleLine('ttyS0', 115200), 'ttyS0::respawn:/sbin/getty -L 115200 ttyS0 vt100');

  t.match(dropbearDefaults('production'), /^DROPBEAR_AUTH_ARGS="-s -g"$/m, 'no password logins');
  t.notMatch(dropbearDefaults('production'), /-B/);
  t.match(dropbearDefaults('development'), /^DROPBEAR_AUTH_ARGS="-B"$/m, 'blank password allowed');

  // The device files: inittab's console line is the builder's, and dropbear's default (no
  // /etc/default/dropbear) is the production policy, never the development one.
  const inittab = readFileSync(join(deviceFilesDir, 'rootfs', 'etc', 'inittab'), 'utf8');
  t.match(inittab, /^@@CONSOLE_LOGIN@@$/m);
  t.notMatch(inittab, /getty/);
  const rc = readFileSync(join(deviceFilesDir, 'rootfs', 'etc', 'rc.d', 'S30dropbear'), 'utf8');
  t.match(rc, /^DROPBEAR_AUTH_ARGS="-s -g"$/m);
  t.match(rc, /dropbear -F -E \$DROPBEAR_AUTH_ARGS -p 22222/);
});

t.test('the success verdict holds the variant: a production device must come back production', async (t) => {
  const facts = (root: string, version: string, variant?: Variant): DeviceFacts => ({
    version,
    ...(variant ? { variant } : {}),
    root: `resin-root${root}`,
    cmdlineRoot: `resin-root${root}`,
    bootEnv: { resin_root_part: root, upgrade_available: '0', bootcount: '0' },
    appRecords: 10,
    lastRecord: '',
    supervisorVersion: '1.0.0',
    supervisorChoice: '',
    supervisorRunning: true,
    bootFilesMismatch: [],
  });
  const outcome = (before?: Variant, after?: Variant): UpdateOutcome => ({
    to: '2.102.0',
    exitCode: 0,
    exitRecorded: true,
    updaterLog: '',
    before: facts('A', '2.101.0', before),
    after: facts('B', '2.102.0', after),
    steps: [],
    rebooted: true,
    reboots: 1,
    committed: true,
    rollback: { health: false, altboot: false, healthFailed: false },
    breadcrumbs: [],
    download: undefined,
    progress: [],
    records: { before: 10, after: 40, intact: true, continuous: true, maxGapSeconds: 25, versions: [] },
    logs: [],
    seconds: { update: 20, toCommit: 55 },
    updaterOutput: '',
    faultFacts: {},
    console: '',
    timeline: [],
  });
  const check = (o: UpdateOutcome) => expectSuccess(o).checks.find((c) => c.what === 'OS variant kept');
  t.match(check(outcome('production', 'production')), { ok: true, detail: 'production -> production' });
  t.match(check(outcome('production', 'development')), { ok: false, detail: 'production -> development' });
  t.notOk(expectSuccess(outcome('production', 'development')).ok, 'the verdict fails');
  t.equal(check(outcome(undefined, 'development')), undefined, 'not judged when a side names no variant');
});
