import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadReleases, releaseFacts } from '../images/recipe.ts';
import { isHuplabError } from '../lib/errors.ts';
import {
  addMonths,
  allowedTargets,
  checkLines,
  checkTarget,
  day,
  esrPhase,
  jumpOf,
  parsePolicyDate,
  type PolicyReport,
  policyReport,
  publishedReleases,
  qualificationSources,
  type ReleaseFacts,
  releaseStatus,
} from '../lib/release-policy.ts';
import { planReleases, releasesLines } from '../harness/cli/releases-command.ts';

const on = (d: string) => parsePolicyDate(d);
const rel = (version: string, date: string, line: string, deviceTypes = ['generic-amd64']): ReleaseFacts => ({
  version,
  date: `${date}T00:00:00Z`,
  line,
  deviceTypes,
});

// A small world: two ESR lines and three rolling releases, one of them not for every device type.
const facts: ReleaseFacts[] = [
  rel('2.90.0', '2026-04-13', '2026.4'),
  rel('2.90.1', '2026-06-01', '2026.4'),
  rel('2.97.0', '2026-07-13', '2026.7'),
  rel('2.97.1', '2026-08-17', '2026.7'),
  rel('2.101.0', '2026-09-14', 'rolling', ['generic-amd64', 'raspberrypi3']),
  rel('2.102.0', '2026-10-26', 'rolling', ['generic-amd64', 'raspberrypi3']),
  rel('2.103.0', '2026-11-30', 'rolling', ['generic-amd64']),
];
const amd = 'generic-amd64';
const status = (v: string, d: string, dt = amd) => releaseStatus(facts, v, dt, on(d))!;

t.test('an ESR line: published, then each phase change and the 9-month end, to the day', async (t) => {
  const at = (d: string) => esrPhase(facts, '2026.7', on(d));
  t.equal(at('2026-07-12'), 'unpublished', 'the day before its first release');
  t.equal(at('2026-07-13'), 'next-esr', 'published: next-esr (6-9 months of support left)');
  t.equal(at('2026-10-12'), 'next-esr');
  t.equal(at('2026-10-13'), 'current-esr', '3 months after: current-esr');
  t.equal(at('2027-01-12'), 'current-esr');
  t.equal(at('2027-01-13'), 'sunset-esr', '6 months after: sunset-esr, the final 3 months');
  t.equal(at('2027-04-12'), 'sunset-esr');
  t.equal(at('2027-04-13'), 'eol', '9 months after: end of life');
  const s = status('2.97.0', '2027-04-12');
  t.same([s.maintained, s.endOfLife, s.lineStart], [true, '2027-04-13', '2026-07-13']);
  t.equal(status('2.97.0', '2027-04-13').maintained, false, 'not maintained once at end of life');
});

t.test('an ESR patch release inherits its line phase and end of life, from its own publication', async (t) => {
  t.equal(status('2.97.1', '2026-08-16').phase, 'unpublished', 'not before its own date');
  const s = status('2.97.1', '2026-10-13');
  t.equal(s.phase, 'current-esr', "the line's phase, counted from the line's first release");
  t.equal(s.endOfLife, '2027-04-13', "the line's end of life, not 9 months after the patch");
  t.equal(status('2.90.1', '2027-01-13').phase, 'eol', 'the older line ends first');
});

t.test('rolling: only the latest is maintained; the previous stops the day a new one is published', async (t) => {
  t.equal(status('2.101.0', '2026-09-13').phase, 'unpublished');
  t.match(status('2.101.0', '2026-09-14'), { phase: 'latest', maintained: true, endOfLife: undefined });
  t.match(status('2.101.0', '2026-10-25'), { phase: 'latest', maintained: true }, 'the day before 2.102.0');
  t.match(
    status('2.101.0', '2026-10-26'),
    { phase: 'superseded', maintained: false, endOfLife: '2026-10-26', supersededBy: '2.102.0' },
    'the day 2.102.0 is published',
  );
  t.match(status('2.102.0', '2026-11-29'), { phase: 'latest', maintained: true });
  t.match(status('2.102.0', '2026-11-30'), { phase: 'superseded', endOfLife: '2026-11-30', supersededBy: '2.103.0' });
  t.match(
    status('2.102.0', '2026-12-04', 'raspberrypi3'),
    { phase: 'latest', maintained: true },
    'per device type: 2.103.0 is not released for raspberrypi3',
  );
  t.match(status('2.103.0', '2026-12-04'), { phase: 'latest', maintained: true });
  t.equal(status('2.101.0', '2026-10-01').endOfLife, undefined, 'asked before 2.102.0: no end known yet');
});

t.test('a rolling release published after a newer one was out was never maintained', async (t) => {
  const world = [
    rel('5.1.0', '2026-10-05', 'rolling', ['jetson']),
    rel('2.114.1', '2026-11-02', 'rolling', ['jetson']),
  ];
  const s = releaseStatus(world, '2.114.1', 'jetson', on('2026-12-04'))!;
  t.match(s, { phase: 'superseded', maintained: false, endOfLife: '2026-11-02', supersededBy: '5.1.0' });
  const v = checkTarget(world, { deviceType: 'jetson', current: '2.114.1', target: '2.114.1', at: on('2026-12-04') });
  t.match(
    v.reason,
    /^not-maintained: 2\.114\.1 is a rolling release published on 2026-11-02, when the newer 5\.1\.0 was out already/,
  );
});

t.test('the jump rule: at most two quarters, ESR releases counting from their line', async (t) => {
  t.match(jumpOf(facts, '2.90.0', '2.97.1'), { quarters: 1, guaranteed: true }, 'ESR 2026.4 to the next line');
  t.match(jumpOf(facts, '2.90.1', '2.102.0'), { quarters: 2, guaranteed: true }, 'a patch counts from its line (Q2)');
  t.match(jumpOf(facts, '2.90.1', '2.103.0'), { quarters: 2, guaranteed: true }, 'Q2 to Q4');
  const far = [...facts, rel('2.110.0', '2027-01-04', 'rolling')];
  t.match(jumpOf(far, '2.90.0', '2.110.0'), { quarters: 3, guaranteed: false });
  t.match(
    jumpOf(far, '2.90.0', '2.110.0').reason,
    /^the jump from 2\.90\.0 \(ESR 2026\.4, 2026 Q2\) to 2\.110\.0 \(rolling, 2027 Q1\) is 3 quarters; a standard update is qualified for at most 2 \(two ESR lines\)$/,
  );
  t.match(
    jumpOf(far, '2.101.0', '2.110.0'),
    { quarters: 2, guaranteed: true },
    'a rolling release counts from its date (Q3)',
  );
  t.match(jumpOf(facts, '1.0.0', '2.103.0'), { guaranteed: false, reason: /1\.0\.0 is not a known release/ });
});

t.test('checkTarget: each rule, in order, with a one-line reason naming the rule and the dates', async (t) => {
  const far = [...facts, rel('2.110.0', '2027-01-04', 'rolling')];
  const ask = (current: string, target: string, at: string, deviceType = amd, world = facts) =>
    checkTarget(world, { deviceType, current, target, at: on(at) });
  const cases: Array<[ReturnType<typeof ask>, string, boolean, boolean, RegExp]> = [
    [
      ask('2.90.0', '9.9.9', '2026-12-04'),
      'unknown-release',
      false,
      false,
      /9\.9\.9 is not a known release \(known: 2\.90\.0/,
    ],
    [
      ask('2.102.0', '2.103.0', '2026-12-04', 'raspberrypi3'),
      'not-for-device',
      false,
      false,
      /2\.103\.0 is not released for raspberrypi3 \(its device types: generic-amd64\)/,
    ],
    [
      ask('2.101.0', '2.103.0', '2026-11-29'),
      'not-published',
      false,
      false,
      /2\.103\.0 is published on 2026-11-30, after 2026-11-29/,
    ],
    [
      ask('2.90.0', '2.90.1', '2027-01-13'),
      'end-of-life',
      false,
      false,
      /2\.90\.1 is on ESR line 2026\.4, at end of life since 2027-01-13 \(9 months after the line's first release on 2026-04-13\); on 2027-01-13/,
    ],
    [
      ask('2.97.0', '2.102.0', '2026-11-30'),
      'not-maintained',
      false,
      false,
      /2\.102\.0 is a rolling release, not maintained since 2026-11-30, when 2\.103\.0 was published \(only the latest rolling release of generic-amd64 is maintained\)/,
    ],
    [ask('2.90.0', '2.110.0', '2027-01-04', amd, far), 'not-guaranteed', true, false, /3 quarters/],
    [
      ask('2.97.0', '2.102.0', '2026-11-29'),
      'supported',
      true,
      true,
      /2\.102\.0 is the latest rolling release of generic-amd64 on 2026-11-29/,
    ],
    [
      ask('2.90.0', '2.97.1', '2026-12-04'),
      'supported',
      true,
      true,
      /2\.97\.1 is on ESR line 2026\.7, current-esr on 2026-12-04, end of life 2027-04-13/,
    ],
  ];
  for (const [v, rule, allowed, guaranteed, re] of cases) {
    t.equal(v.rule, rule, rule);
    t.equal(v.allowed, allowed, `${rule}: allowed`);
    t.equal(v.guaranteed, guaranteed, `${rule}: guaranteed`);
    t.ok(v.reason.startsWith(`${rule}: `), `${rule}: the reason names the rule`);
    t.match(v.reason, re, rule);
    t.notMatch(v.reason, /\n/, `${rule}: one line`);
  }
});

t.test('allowed targets: newer, published, maintained; not-guaranteed ones included and marked', async (t) => {
  const at = on('2026-12-04');
  t.same(
    allowedTargets(facts, amd, '2.90.0', at).map((v) => [v.target, v.guaranteed]),
    [
      ['2.90.1', true],
      ['2.97.0', true],
      ['2.97.1', true],
      ['2.103.0', true],
    ],
    'the superseded rolling releases are no targets',
  );
  t.same(allowedTargets(facts, amd, '2.103.0', at), [], 'nothing newer');
  t.same(
    publishedReleases(facts, amd, on('2026-08-01')).map((s) => s.version),
    ['2.90.0', '2.90.1', '2.97.0'],
    'releases not yet published are left out',
  );
});

t.test('the paths a release must be qualified on: every older release the jump from is guaranteed', async (t) => {
  const far = [...facts, rel('2.110.0', '2027-01-04', 'rolling')];
  t.same(qualificationSources(far, amd, '2.110.0', on('2027-01-04')), [
    '2.97.0',
    '2.97.1',
    '2.101.0',
    '2.102.0',
    '2.103.0',
  ]);
  t.same(qualificationSources(facts, amd, '2.103.0', on('2026-12-04')), [
    '2.90.0',
    '2.90.1',
    '2.97.0',
    '2.97.1',
    '2.101.0',
    '2.102.0',
  ]);
});

t.test('dates: YYYY-MM-DD or a date-time with a real calendar day; months added in UTC', async (t) => {
  t.equal(parsePolicyDate('2026-12-04').toISOString(), '2026-12-04T00:00:00.000Z');
  t.equal(parsePolicyDate('2026-12-04T12:30:00Z').toISOString(), '2026-12-04T12:30:00.000Z');
  for (const bad of ['2026-02-30', 'tomorrow', '2026-13-01', '04/12/2026', '']) {
    const err = (() => {
      try {
        parsePolicyDate(bad, '--at');
      } catch (e) {
        return e;
      }
    })();
    t.ok(isHuplabError(err, 'bad-date'), `"${bad}" refused`);
    if (isHuplabError(err)) t.match(err.oneLine(), /^--at ".*" is not a date \(use YYYY-MM-DD/);
  }
  t.equal(day(addMonths(on('2026-08-31'), 6)), '2027-02-28', 'a day past the month end is its last day');
  t.equal(day(addMonths(on('2026-07-13'), 9)), '2027-04-13');
});

t.test('lines across recipes: a wrong line or date names the release and the field', async (t) => {
  t.same(checkLines(facts), [], 'the small world is consistent');
  const bad = (extra: ReleaseFacts[]) => checkLines([...facts, ...extra]);
  t.match(bad([rel('2.99.0', '2026-07-20', '2026.5')]), [
    { version: '2.99.0', field: 'line', message: /"2026\.5" is neither "rolling" nor an ESR line/ },
  ]);
  t.match(bad([rel('2.95.0', '2026-06-30', '2026.7')]), [
    { version: '2.95.0', field: 'date', message: /2026-06-30 is before ESR line 2026\.7 begins \(2026-07-01\)/ },
  ]);
  t.match(checkLines([rel('2.95.0', '2026-08-03', '2026.7')]), [
    {
      version: '2.95.0',
      field: 'line',
      message:
        /ESR line 2026\.7 is named for the month of its first release, but its first release 2\.95\.0 is dated 2026-08-03/,
    },
  ]);
  t.match(bad([rel('2.98.0', '2026-09-01', '2026.7')]), [
    {
      version: '2.98.0',
      field: 'line',
      message: /2026\.7 is the ESR line of 2\.97\.x \(from 2\.97\.0\); 2\.98\.0 is not a patch release/,
    },
  ]);
  t.match(bad([rel('2.97.5', '2027-04-13', '2026.7')]), [
    {
      version: '2.97.5',
      field: 'date',
      message: /2027-04-13 is on or after ESR line 2026\.7's end of life \(2027-04-13/,
    },
  ]);
});

t.test('the shipped recipes show every case on 2026-12-04', async (t) => {
  const shipped = releaseFacts(await loadReleases());
  t.same(checkLines(shipped), []);
  const report = policyReport(shipped, ['generic-amd64', 'raspberrypi3'], on('2026-12-04'));
  for (const d of report.deviceTypes) {
    const phases = new Set(d.releases.map((r) => r.phase));
    for (const p of ['latest', 'superseded', 'next-esr', 'current-esr', 'sunset-esr', 'eol'])
      t.ok(phases.has(p as never), `${d.deviceType}: a release in phase ${p}`);
    t.ok(
      d.releases.some((r) => r.targets.some((x) => !x.guaranteed)),
      `${d.deviceType}: a target that is allowed but not guaranteed`,
    );
    t.same(
      d.releases.filter((r) => r.line === 'rolling' && r.maintained).map((r) => r.version),
      ['2.103.0'],
      `${d.deviceType}: one maintained rolling release`,
    );
  }
});

t.test('huplab releases: options checked, the table per device type', async (t) => {
  const report = await planReleases({ device: 'raspberrypi3', at: '2026-12-04' });
  t.same(
    report.deviceTypes.map((d) => d.deviceType),
    ['raspberrypi3'],
  );
  const jetson = await planReleases({ device: 'jetson-xavier-jp4', at: '2026-12-04' });
  t.same(
    jetson.deviceTypes.map((d) => d.deviceType),
    ['jetson-xavier'],
    'a profile name means its device type',
  );
  const lines = releasesLines(report);
  t.match(lines[0], /^support policy on 2026-12-04:/);
  t.ok(
    lines.some((l) => /^ {2}2\.88\.0 +2026\.1 +eol +no +2026-10-12 +2\.93\.0 .*2\.103\.0\*$/.test(l)),
    'an eol row',
  );
  t.ok(
    lines.some((l) => /^ {2}2\.103\.0 +rolling +latest +yes +- +-$/.test(l)),
    'the latest rolling row',
  );
  await t.rejects(planReleases({ at: '2026-02-30' }), { code: 'bad-date' });
  await t.rejects(planReleases({ device: 'nope' }), {
    code: 'unknown-device',
    message: /--device "nope" is neither a device profile nor a device type of a release/,
  });
  const today = await planReleases({}, on('2026-12-04'));
  t.equal(today.at, '2026-12-04T00:00:00.000Z', 'the date defaults to now');
  t.ok(today.deviceTypes.length >= 4, 'every device type without --device');
});

t.test('huplab releases as a user runs it: JSON on stdout, a mistake in one line', async (t) => {
  const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
  const env = { ...process.env, HUPLAB_QUIET: '1' };
  const ok = spawnSync(bin, ['releases', '--device', 'generic-amd64', '--at', '2026-12-04', '--json'], {
    encoding: 'utf8',
    env,
  });
  t.equal(ok.status, 0, ok.stderr);
  const doc = JSON.parse(ok.stdout) as PolicyReport & { ok: boolean };
  t.ok(doc.ok);
  t.equal(doc.deviceTypes[0]!.deviceType, 'generic-amd64');
  t.match(
    doc.deviceTypes[0]!.releases.find((r) => r.version === '2.102.1'),
    {
      line: 'rolling',
      phase: 'superseded',
      maintained: false,
      endOfLife: '2026-11-30',
      targets: [{ version: '2.103.0', guaranteed: true }],
    },
  );
  const bad = spawnSync(bin, ['releases', '--at', 'soon'], { encoding: 'utf8', env });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^huplab: error: --at "soon" is not a date \(use YYYY-MM-DD[^\n]*\)\n$/);
});
