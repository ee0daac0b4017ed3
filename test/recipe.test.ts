import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listReleases, loadRelease, loadReleases } from '../images/recipe.ts';
import { compareVersions, sortVersions } from '../lib/versions.ts';
import { isHuplabError } from '../lib/errors.ts';
import type { ReleaseRecipe } from '../images/recipe.ts';

t.test('shipped releases validate and differ where the issue says they must', async (t) => {
  const versions = await listReleases();
  t.ok(versions.length >= 2, 'at least two releases');
  const [a, b] = await Promise.all(versions.slice(0, 2).map((v) => loadRelease(v)));
  t.not(a!.version, b!.version);
  t.not(a!.supervisorVersion, b!.supervisorVersion, 'supervisor versions differ');
  t.notSame(a!.files, b!.files, 'contents differ');
});

t.test('unknown release: one line naming the known ones', async (t) => {
  const err = await loadRelease('9.9.9').catch((e: unknown) => e);
  t.ok(isHuplabError(err, 'unknown-release'));
  if (isHuplabError(err)) {
    t.match(err.oneLine(), /unknown release "9\.9\.9".*2\.101\.0/);
    t.notMatch(err.oneLine(), /\n/);
  }
});

t.test('bad recipes are rejected with the file and the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-recipes-'));
  const good = await loadRelease('2.101.0');
  const cases: Array<[string, unknown, RegExp]> = [
    [
      '3.0.0',
      { ...good, version: '3.0.0', supervisorVersion: 'latest' },
      /3\.0\.0\.json: \/supervisorVersion must match/,
    ],
    ['3.0.1', { ...good, version: '3.0.1', typo: 1 }, /unknown field "typo"/],
    ['3.0.2', { ...good, version: '3.0.3' }, /\/version is "3\.0\.3" but the file is named for 3\.0\.2/],
    ['3.0.4', (({ node: _n, ...rest }) => ({ ...rest, version: '3.0.4' }))(good), /missing required field "node"/],
  ];
  for (const [v, data] of cases) writeFileSync(join(dir, `${v}.json`), JSON.stringify(data));
  writeFileSync(join(dir, '3.0.5.json'), '{ "version": ');
  for (const [v, , re] of cases) {
    const err = await loadRelease(v, dir).catch((e: unknown) => e);
    t.ok(isHuplabError(err, 'release-invalid'), `${v} rejected`);
    if (isHuplabError(err)) t.match(err.oneLine(), re, v);
  }
  const bad = await loadRelease('3.0.5', dir).catch((e: unknown) => e);
  t.ok(isHuplabError(bad, 'release-invalid'));
  if (isHuplabError(bad)) t.match(bad.oneLine(), /3\.0\.5\.json: not valid JSON/);
});

t.test('a wrong line or date is refused with the file and the field', async (t) => {
  const good = await loadRelease('2.101.0');
  // One file at a time: the schema's checks (loadRelease).
  const dir = mkdtempSync(join(tmpdir(), 'huplab-recipes-'));
  const single: Array<[string, unknown, RegExp]> = [
    ['4.0.0', { ...good, version: '4.0.0', line: '2026.5' }, /4\.0\.0\.json: \/line must match .*, not "2026\.5"/],
    ['4.0.1', { ...good, version: '4.0.1', line: 'esr' }, /4\.0\.1\.json: \/line must match .*, not "esr"/],
    ['4.0.2', (({ line: _l, ...rest }) => ({ ...rest, version: '4.0.2' }))(good), /missing required field "line"/],
    ['4.0.3', { ...good, version: '4.0.3', date: '2026-02-30T00:00:00Z' }, /4\.0\.3\.json: \/date must match format/],
  ];
  for (const [v, data] of single) writeFileSync(join(dir, `${v}.json`), JSON.stringify(data));
  for (const [v, , re] of single) {
    const err = await loadRelease(v, dir).catch((e: unknown) => e);
    t.ok(isHuplabError(err, 'release-invalid'), `${v} rejected`);
    if (isHuplabError(err)) t.match(err.oneLine(), re, v);
  }
  // Across files: the policy's rules for a line (loadReleases).
  const across = async (recipes: Array<Partial<ReleaseRecipe>>, re: RegExp, what: string) => {
    const d = mkdtempSync(join(tmpdir(), 'huplab-lines-'));
    for (const r of recipes) writeFileSync(join(d, `${r.version}.json`), JSON.stringify({ ...good, ...r }));
    const err = await loadReleases(d).catch((e: unknown) => e);
    t.ok(isHuplabError(err, 'release-invalid'), what);
    if (isHuplabError(err)) {
      t.match(err.oneLine(), re, what);
      t.notMatch(err.oneLine(), /\n/);
    }
  };
  await across(
    [
      { version: '2.97.0', line: '2026.7', date: '2026-07-13T00:00:00Z' },
      { version: '2.98.0', line: '2026.7', date: '2026-08-10T00:00:00Z' },
    ],
    /2\.98\.0\.json: \/line 2026\.7 is the ESR line of 2\.97\.x \(from 2\.97\.0\); 2\.98\.0 is not a patch release/,
    'a new minor on an ESR line',
  );
  await across(
    [{ version: '2.97.0', line: '2026.7', date: '2026-06-29T00:00:00Z' }],
    /2\.97\.0\.json: \/date 2026-06-29 is before ESR line 2026\.7 begins \(2026-07-01\)/,
    'an ESR release dated before its line',
  );
  await across(
    [{ version: '2.97.0', line: '2026.7', date: '2026-08-03T00:00:00Z' }],
    /2\.97\.0\.json: \/line ESR line 2026\.7 is named for the month of its first release, but its first release 2\.97\.0 is dated 2026-08-03/,
    'a line named for another month',
  );
  await across(
    [
      { version: '2.97.0', line: '2026.7', date: '2026-07-13T00:00:00Z' },
      { version: '2.97.9', line: '2026.7', date: '2027-05-03T00:00:00Z' },
    ],
    /2\.97\.9\.json: \/date 2027-05-03 is on or after ESR line 2026\.7's end of life \(2027-04-13/,
    'a patch after end of life',
  );
  t.ok((await loadReleases()).length >= 10, 'the shipped recipes pass');
});

t.test('versions order numerically', async (t) => {
  t.same(['2.10.0', '2.9.1', '2.101.0', '2.9.0'].sort(compareVersions), ['2.9.0', '2.9.1', '2.10.0', '2.101.0']);
  t.equal(compareVersions('2.101.0+rev1', '2.101.0'), 0, 'a build suffix is not newer');
  t.same(['2.101.0+rev1', '2.101.0'].sort(sortVersions), ['2.101.0', '2.101.0+rev1'], 'listings are stable');
});

t.test('a Debian package may be pinned to a version; a bare {name} is refused', async (t) => {
  const { packageSpec } = await import('../images/recipe.ts');
  const dir = mkdtempSync(join(tmpdir(), 'huplab-recipes-pin-'));
  const good = await loadRelease('2.101.0');
  const pinned = { name: 'libc6', version: '2.36-9+deb12u7' };
  writeFileSync(
    join(dir, '3.1.0.json'),
    JSON.stringify({ ...good, version: '3.1.0', debianPackages: [...good.debianPackages, pinned] }),
  );
  const r = await loadRelease('3.1.0', dir);
  t.same(r.debianPackages.map(packageSpec).slice(-2), [
    packageSpec(good.debianPackages.at(-1)!),
    'libc6=2.36-9+deb12u7',
  ]);
  t.equal(packageSpec('zlib1g'), 'zlib1g');
  t.equal(packageSpec({ name: 'util-linux' }), 'util-linux');
  writeFileSync(
    join(dir, '3.1.1.json'),
    JSON.stringify({ ...good, version: '3.1.1', debianPackages: [...good.debianPackages, { name: 'libc6' }] }),
  );
  await t.rejects(loadRelease('3.1.1', dir), { code: 'release-invalid', message: /3\.1\.1\.json: \/debianPackages/ });
  // The shipped delta pairs pin their C library: the package bump is between two pinned versions.
  const [base, bumped] = await Promise.all(['2.88.2', '2.88.4'].map((v) => loadRelease(v)));
  const libc = (x: ReleaseRecipe) => x.debianPackages.map(packageSpec).find((s) => s.startsWith('libc6='));
  t.equal(libc(base!), 'libc6=2.36-9+deb12u7');
  t.equal(libc(bumped!), 'libc6=2.36-9+deb12u14');
});
