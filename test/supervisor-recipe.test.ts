/**
 * Supervisor release recipes (images/supervisor-releases/, images/supervisor-release.schema.json):
 * the shipped line makes sense next to the OS releases, and a bad recipe is refused in one line
 * naming the file and the field.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listReleases, loadRelease } from '../images/recipe.ts';
import { listSupervisorReleases, loadSupervisorRelease } from '../images/supervisor-recipe.ts';
import { isHuplabError } from '../lib/errors.ts';
import { INDEPENDENT_SUPERVISOR_MIN_OS, majorOf } from '../lib/supervisor-policy.ts';
import { compareVersions } from '../lib/versions.ts';

t.test('the shipped supervisor releases validate and make a line above the OS releases', async (t) => {
  const versions = await listSupervisorReleases();
  t.ok(versions.length >= 3, `at least three supervisor releases (${versions.join(', ')})`);
  const recipes = await Promise.all(versions.map((v) => loadSupervisorRelease(v)));
  for (const r of recipes) {
    t.ok(compareVersions(r.minOsVersion, INDEPENDENT_SUPERVISOR_MIN_OS) >= 0, `${r.version}: min OS ${r.minOsVersion}`);
    t.same([...r.arches].sort(), ['amd64', 'arm64', 'armhf'], `${r.version}: built for every profile's arch`);
  }
  const shipped = await Promise.all((await listReleases()).map(async (v) => (await loadRelease(v)).supervisorVersion));
  const newestShipped = [...shipped].sort(compareVersions).at(-1)!;
  t.ok(versions.includes(newestShipped), `the newest supervisor an OS ships (${newestShipped}) is a release too`);
  const newer = versions.filter((v) => compareVersions(v, newestShipped) > 0);
  t.ok(
    newer.some((v) => majorOf(v) === majorOf(newestShipped)),
    'a minor upgrade above what the OS releases ship',
  );
  t.ok(
    newer.some((v) => majorOf(v) > majorOf(newestShipped)),
    'and a new major version',
  );
  t.not(recipes[0]!.notes, recipes[1]!.notes, 'each has its own changelog entry');
});

t.test('unknown and malformed versions: one line naming the known ones', async (t) => {
  const err = await loadSupervisorRelease('9.9.9').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unknown-supervisor'));
  if (isHuplabError(err)) {
    t.match(err.oneLine(), /unknown supervisor release "9\.9\.9".*16\.9\.0.*17\.0\.0/);
    t.notMatch(err.oneLine(), /\n/);
  }
  const walk = await loadSupervisorRelease('../releases/2.101.0').catch((e: unknown) => e);
  t.ok(isHuplabError(walk, 'unknown-supervisor'), 'a path is not a version');
});

t.test('bad recipes are refused with the file and the field, in one line', async (t) => {
  const dir = t.testdir();
  const good = await loadSupervisorRelease('16.9.0');
  const cases: Array<[string, unknown, RegExp]> = [
    [
      '20.0.0',
      { ...good, version: '20.0.0', date: 'yesterday' },
      /20\.0\.0\.json: \/date must match format "date-time"/,
    ],
    ['20.0.1', { ...good, version: '20.0.1', typo: 1 }, /unknown field "typo"/],
    ['20.0.2', { ...good, version: '20.0.3' }, /\/version is "20\.0\.3" but the file is named for 20\.0\.2/],
    [
      '20.0.4',
      (({ minOsVersion: _m, ...rest }) => ({ ...rest, version: '20.0.4' }))(good),
      /missing required field "minOsVersion"/,
    ],
    [
      '20.0.5',
      { ...good, version: '20.0.5', arches: ['amd64', 'riscv64'] },
      /\/arches\/1 must be one of "amd64", "arm64", "armhf", not "riscv64"/,
    ],
    ['20.0.6', { ...good, version: '20.0.6', arches: [] }, /\/arches must NOT have fewer than 1 items/],
    [
      '20.0.7',
      { ...good, version: '20.0.7', minOsVersion: '2.11.9' },
      /\/minOsVersion 2\.11\.9 is older than 2\.12\.0.*\(set it to 2\.12\.0 or newer\)/,
    ],
    ['20.0.8', { ...good, version: '20.0.8', nodeTarget: 'es2020' }, /\/nodeTarget must match/],
    ['20.0.9', { ...good, version: '20.0.9', arches: ['amd64', 'amd64'] }, /\/arches must NOT have duplicate items/],
    ['20.1.0', { ...good, version: '20.1.0', notes: '' }, /\/notes must NOT have fewer than 1 characters/],
  ];
  for (const [v, data] of cases) writeFileSync(join(dir, `${v}.json`), JSON.stringify(data));
  writeFileSync(join(dir, '20.1.1.json'), '{ "version": ');
  writeFileSync(join(dir, '20.1.2.json'), JSON.stringify({ ...good, version: '20.1.2' }));
  for (const [v, , re] of cases) {
    const err = await loadSupervisorRelease(v, dir).catch((e: unknown) => e);
    t.ok(isHuplabError(err, 'supervisor-release-invalid'), `${v} refused`);
    if (isHuplabError(err)) {
      t.match(err.oneLine(), re, v);
      t.notMatch(err.oneLine(), /\n/, `${v}: one line`);
    }
  }
  const bad = await loadSupervisorRelease('20.1.1', dir).catch((e: unknown) => e);
  t.ok(isHuplabError(bad, 'supervisor-release-invalid'));
  if (isHuplabError(bad)) t.match(bad.oneLine(), /20\.1\.1\.json: not valid JSON/);
  t.same(await loadSupervisorRelease('20.1.2', dir), { ...good, version: '20.1.2' }, 'the valid one loads');
});
