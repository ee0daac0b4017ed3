import t from 'tap';
import {
  cutPoints,
  possiblePoints,
  rollbackCutPoints,
  selectPoints,
  ROLLBACK_SCENARIOS,
} from '../harness/power/cut-points.ts';
import { HUP_STEPS } from '../lib/contract/index.ts';
import { FAULTS } from '../harness/faults/index.ts';
import { checkRecords, type CampaignResult, type CutOutcome } from '../harness/power/campaign.ts';
import { campaignHtml, campaignText } from '../harness/report/powercut.ts';
import { isHuplabError } from '../lib/errors.ts';

// A reference timeline as the console timeline records it (seconds since the updater started).
const ref = [
  ...HUP_STEPS.flatMap((s, i) => [
    { at: i * 2, line: `[hup] step ${s} start` },
    { at: i * 2 + (s === 'write-root' ? 1.6 : 0.4), line: `[hup] step ${s} done (1s)` },
  ]),
  { at: 20, line: '[huplab] shutting down' },
  { at: 30, line: '[huplab] os ready: version 2.102.0 root resin-rootB' },
  { at: 31, line: '[hup] step rollback-health start checking' },
  { at: 37, line: '[hup] step commit start' },
  { at: 37.5, line: '[hup] step commit done' },
];

t.test(
  'cut points: every step, inside the long ones, across the reboot and the commit, seeded random ones',
  async (t) => {
    const points = cutPoints(ref, { to: '2.102.0', random: 3, seed: 7 });
    const names = points.map((p) => p.name);
    for (const s of HUP_STEPS) t.ok(names.includes(s), `a cut as ${s} starts`);
    t.same(
      points.filter((p) => p.name.startsWith('write-root@')).map((p) => p.delayMs),
      [400, 800, 1200],
      'inside write-root, from its reference duration',
    );
    for (const n of [
      'reboot-pending',
      'shutdown',
      'new-bootloader',
      'new-initramfs',
      'new-os-ready',
      'health-check',
      'commit',
      'committed',
    ])
      t.ok(names.includes(n), n);
    const random = points.filter((p) => p.phase === 'random');
    t.equal(random.length, 3);
    t.ok(
      random.every((p) => p.delayMs >= 0 && p.delayMs <= 37_500),
      'random points fall between the start and the commit',
    );
    t.same(
      cutPoints(ref, { to: '2.102.0', random: 3, seed: 7 }).filter((p) => p.phase === 'random'),
      random,
      'same seed, same points',
    );
    t.notSame(
      cutPoints(ref, { to: '2.102.0', random: 3, seed: 8 })
        .filter((p) => p.phase === 'random')
        .map((p) => p.delayMs),
      random.map((p) => p.delayMs),
    );
    t.equal(new Set(names).size, names.length, 'names are unique');
  },
);

t.test(
  "rollback cut points: inside rollback-health, GRUB's boot counting and rollback-altboot, each with its fault",
  async (t) => {
    const health = [
      { at: 40, line: '[hup] step rollback-health start checking' },
      { at: 80, line: '[hup] step rollback-boot-files start restoring' },
      { at: 83, line: '[hup] step rollback-switch start' },
    ];
    const altboot = [
      { at: 50, line: '[hup] step rollback-altboot start restoring' },
      { at: 51.2, line: '[hup] step rollback-altboot-switch start' },
    ];
    const points = rollbackCutPoints({ 'health-fail': health, 'unbootable-root': altboot });
    const names = points.map((p) => p.name);
    for (const n of [
      'rh-waiting',
      'rh-boot-files',
      'rh-boot-files@50%',
      'rh-switch',
      'rh-rolled-back',
      'rh-old-boot',
      'bc-first-boot',
      'bc-refused',
      'bc-give-up',
      'altboot',
      'altboot@50%',
      'altboot-switch',
      'altboot-done',
    ])
      t.ok(names.includes(n), n);
    t.equal(points.find((p) => p.name === 'rh-boot-files@50%')!.delayMs, 1500, 'half of the reference restore');
    t.equal(points.find((p) => p.name === 'altboot@50%')!.delayMs, 600);
    t.ok(
      points.every((p) => p.scenario && (ROLLBACK_SCENARIOS as readonly string[]).includes(p.scenario)),
      'every point names its fault',
    );
    for (const sc of ROLLBACK_SCENARIOS)
      t.ok(
        FAULTS.some((f) => f.name === sc && f.expect.startsWith('rollback')),
        `${sc} is a rollback fault in harness/faults`,
      );
    t.same(
      rollbackCutPoints({})
        .map((p) => p.name)
        .filter((n) => n.includes('@')),
      [],
      'without references, only the points at console markers',
    );
    t.equal(new Set(names).size, names.length, 'names are unique');
  },
);

t.test('selecting points by name or prefix; an unknown one is a one-line error naming the known', async (t) => {
  const points = cutPoints(ref, { to: '2.102.0', random: 0, seed: 1 });
  t.same(
    selectPoints(points, ['write-root*', 'commit']).map((p) => p.name),
    ['write-root', 'write-root@25%', 'write-root@50%', 'write-root@75%', 'commit'],
  );
  const err = (() => {
    try {
      selectPoints(points, ['teatime']);
    } catch (e) {
      return e;
    }
  })();
  t.ok(isHuplabError(err, 'unknown-cut-point'));
  t.match((err as Error).message, /unknown cut point\(s\): teatime/);
});

t.test('the possible points, for checking --only before any run: every point a reference run can give', async (t) => {
  const possible = possiblePoints('update', { to: '2.102.0', random: 2, seed: 7 }).map((p) => p.name);
  const real = cutPoints(ref, { to: '2.102.0', random: 2, seed: 7 }).map((p) => p.name);
  t.same(
    real.filter((n) => !possible.includes(n)),
    [],
    'the reference run gives no point that is not possible',
  );
  t.ok(possible.includes('write-root@50%') && possible.includes('random-7-2') && possible.includes('committed'));
  const rollback = possiblePoints('rollback', { to: '2.102.0', random: 0, seed: 1 }).map((p) => p.name);
  t.ok(rollback.includes('rh-boot-files@50%') && rollback.includes('altboot@50%'));
  t.notOk(rollback.includes('write-root'), 'update points are not rollback points');
});

t.test('records: every record flushed before the cut must be there, once, in order', async (t) => {
  const rec = (n: number) => `${n} ${1000 + n} b1 2.101.0`;
  const lines = (ns: number[]) => `${ns.map(rec).join('\n')}\n`;
  t.same(checkRecords(lines([1, 2, 3, 4, 5]), 4), {
    ok: true,
    detail: '5 records, all 4 flushed before the cut present, in order',
  });
  t.equal(checkRecords(lines([1, 2, 3]), 4).ok, false, 'record 4 was flushed: its loss is a failure');
  t.match(checkRecords(lines([1, 2, 4, 5]), 4).detail, /missing 3/);
  t.match(checkRecords(lines([1, 2, 2, 3]), 3).detail, /1 duplicates/);
  t.match(checkRecords(lines([1, 3, 2]), 3).detail, /out of order/);
  t.equal(checkRecords(`${lines([1, 2, 3])}4 10`, 3).ok, true, 'a torn last line is not a record and not a failure');
});

t.test('the campaign table says what failed and how to replay it', async (t) => {
  const ok: CutOutcome = {
    point: 'write-root@50%',
    phase: 'update',
    describe: '50 % into write-root',
    cutAtSeconds: 12.3,
    lostBlocks: 812,
    booted: 'old',
    version: '2.101.0',
    root: 'resin-rootA',
    recoverSeconds: 41.2,
    env: 'resin_root_part=A upgrade_available=0 bootcount=0',
    envConsistent: true,
    dataIntact: true,
    dataDetail: 'ok',
    rollback: 'none',
    retry: 'ok',
    ok: true,
    problems: [],
    serialLog: '/x/serial.log',
    uuid: 'c0ffee',
  };
  const bad: CutOutcome = {
    ...ok,
    point: 'commit',
    booted: 'none',
    ok: false,
    problems: ['no OS came back: <timeout>'],
    keptDisk: '/x/cut-commit/disk.img',
  };
  const r: CampaignResult = {
    kind: 'update',
    workers: 1,
    fromSaved: false,
    pointsSeconds: 300,
    timelines: {},
    references: [{ scenario: 'update', seconds: 80 }],
    device: 'generic-amd64',
    from: '2.101.0',
    to: '2.102.0',
    seed: 1,
    keep: 'none',
    startedAt: '2026-11-23T00:00:00Z',
    wallSeconds: 300,
    points: [ok, bad],
    failures: 1,
  };
  const text = campaignText(r).join('\n');
  t.match(text, /2 cut points, 1 failure\(s\)/);
  t.match(text, /commit: no OS came back/);
  t.match(text, /replay: huplab device start --device generic-amd64 --disk \/x\/cut-commit\/disk\.img/);
  const notRun: CutOutcome = {
    ...bad,
    point: 'bc-refused',
    notRun: true,
    problems: ['the campaign could not run this point: Unable to exec'],
  };
  const row = campaignText({ ...r, points: [notRun] }).join('\n');
  t.match(
    row,
    /bc-refused .*not run .*not checked +not checked .*NOT RUN/,
    'a point the lab could not run shows no device result',
  );
  t.notMatch(row, /LOST|INCONSISTENT|NONE/, 'and never claims data lost or an env inconsistent');
  const html = campaignHtml(r);
  t.match(html, /&lt;timeout&gt;/, 'escaped');
  t.notMatch(html, /<script|https?:\/\//, 'self-contained');
  t.match(html, /<strong>1 failure\(s\)<\/strong>/);
});
