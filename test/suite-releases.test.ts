import t from 'tap';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

// suite-releases reads devices/ and images/releases/ at import time through lib/paths.ts, so
// each case runs in a child process with its own HUPLAB_DEVICES / HUPLAB_RELEASES.
function releasesOf(
  profile: string,
  env: Record<string, string> = {},
): { out: string; err: string; code: number | null } {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('./harness/update/suite-releases.ts').then((m) => console.log(JSON.stringify(m.suiteReleasesFor(${JSON.stringify(profile)})))).catch((e) => { console.error(e.message); process.exit(3); })`,
    ],
    { encoding: 'utf8', env: { ...process.env, ...env } },
  );
  return { out: r.stdout.trim(), err: r.stderr.trim(), code: r.status };
}

t.test('each shipped profile gets the oldest three releases of its own line', async (t) => {
  t.same(
    JSON.parse(releasesOf('generic-amd64').out),
    { base: '2.101.0', next: '2.102.0', patch: '2.102.1' },
    'the legacy 2.11.0 of the same line is never a base',
  );
  t.same(JSON.parse(releasesOf('raspberrypi3').out), { base: '2.101.0', next: '2.102.0', patch: '2.102.1' });
  t.same(
    JSON.parse(releasesOf('jetson-xavier-jp4').out),
    { base: '2.113.0', next: '2.114.0', patch: '2.114.1' },
    'JetPack 4: the L4T 32 line',
  );
  t.same(
    JSON.parse(releasesOf('jetson-xavier-jp5').out),
    { base: '5.1.0', next: '5.2.0', patch: '5.2.1' },
    'JetPack 5: the L4T 35 line, not the JetPack 4 one of the same device type',
  );
  t.same(
    JSON.parse(releasesOf('jetson-xavier-jp4', { HUPLAB_NEXT_RELEASE: '2.114.1' }).out).next,
    '2.114.1',
    'the environment overrides',
  );
});

t.test('a line with too few releases is a one-line error naming the line and the fix', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-suite-releases-'));
  mkdirSync(join(dir, 'devices'));
  mkdirSync(join(dir, 'releases'));
  writeFileSync(join(dir, 'devices', 'board.json'), JSON.stringify({ deviceType: 'board', layout: 'l1' }));
  writeFileSync(
    join(dir, 'releases', '1.0.0.json'),
    JSON.stringify({ version: '1.0.0', line: 'rolling', deviceTypes: ['board'], layout: 'l1' }),
  );
  writeFileSync(
    join(dir, 'releases', '1.1.0.json'),
    JSON.stringify({ version: '1.1.0', line: 'rolling', deviceTypes: ['board'], layout: 'other' }),
  );
  const r = releasesOf('board', { HUPLAB_DEVICES: join(dir, 'devices'), HUPLAB_RELEASES: join(dir, 'releases') });
  t.equal(r.code, 3);
  t.match(r.err, /profile board has 1 release\(s\) of layout l1 \(1\.0\.0\); the suites need a next release/);
  t.equal(r.err.split('\n').length, 1);
});

t.test('ESR releases are never a base, next or patch release, even older than the rolling ones', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-suite-releases-'));
  mkdirSync(join(dir, 'devices'));
  mkdirSync(join(dir, 'releases'));
  writeFileSync(join(dir, 'devices', 'board.json'), JSON.stringify({ deviceType: 'board', layout: 'l1' }));
  const recipe = (version: string, line: string) =>
    writeFileSync(
      join(dir, 'releases', `${version}.json`),
      JSON.stringify({ version, line, deviceTypes: ['board'], layout: 'l1' }),
    );
  recipe('1.0.0', '2026.1');
  recipe('1.0.1', '2026.1');
  recipe('1.2.0', 'rolling');
  recipe('1.3.0', 'rolling');
  recipe('1.3.1', 'rolling');
  const r = releasesOf('board', { HUPLAB_DEVICES: join(dir, 'devices'), HUPLAB_RELEASES: join(dir, 'releases') });
  t.same(JSON.parse(r.out), { base: '1.2.0', next: '1.3.0', patch: '1.3.1' });
});
