import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listReleases, loadRelease } from '../images/recipe.ts';
import { compareVersions, sortVersions } from '../lib/versions.ts';
import { isHuplabError } from '../lib/errors.ts';

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

t.test('versions order numerically', async (t) => {
  t.same(['2.10.0', '2.9.1', '2.101.0', '2.9.0'].sort(compareVersions), ['2.9.0', '2.9.1', '2.10.0', '2.101.0']);
  t.equal(compareVersions('2.101.0+rev1', '2.101.0'), 0, 'a build suffix is not newer');
  t.same(['2.101.0+rev1', '2.101.0'].sort(sortVersions), ['2.101.0', '2.101.0+rev1'], 'listings are stable');
});
