import t from 'tap';
import type { CampaignResult, CutOutcome } from '../harness/power/campaign.ts';
import { compareVerdicts, verdictOf } from '../harness/power/compare.ts';

const point = (over: Partial<CutOutcome>): CutOutcome => ({
  point: 'commit',
  phase: 'commit',
  describe: 'as rollback-health commits',
  cutAtSeconds: 40,
  lostBlocks: 12,
  booted: 'new',
  version: '2.102.0',
  root: 'resin-rootB',
  recoverSeconds: 20,
  env: 'resin_root_part=B upgrade_available=0',
  envConsistent: true,
  dataIntact: true,
  dataDetail: 'ok',
  rollback: 'none',
  retry: 'not needed',
  ok: true,
  problems: [],
  serialLog: 'x',
  uuid: 'a1',
  ...over,
});
const run = (points: CutOutcome[]) => ({ points }) as CampaignResult;

t.test('times and lost blocks are measurements: the verdict does not hold them', async (t) => {
  t.equal(
    verdictOf(point({})),
    verdictOf(point({ cutAtSeconds: 71, lostBlocks: 2048, recoverSeconds: 55, uuid: 'b2' })),
    'nor which device ran the point',
  );
});

t.test('any verdict field that differs is a different verdict', async (t) => {
  const base = verdictOf(point({}));
  for (const over of [
    { ok: false },
    { booted: 'old' as const },
    { rollback: 'altboot' as const },
    { retry: 'ok' as const },
    { envConsistent: false },
    { dataIntact: false },
    { notRun: true },
  ])
    t.not(verdictOf(point(over)), base, JSON.stringify(over));
});

t.test('two runs compared point by point, by name, a missing point is a difference', async (t) => {
  const a = run([point({}), point({ point: 'reboot', booted: 'old', retry: 'ok' })]);
  const b = run([point({ point: 'reboot', booted: 'old', retry: 'ok', cutAtSeconds: 9 }), point({ booted: 'old' })]);
  const c = compareVerdicts(a, b);
  t.same(
    c.map((x) => [x.point, x.same]),
    [
      ['commit', false],
      ['reboot', true],
    ],
  );
  const d = compareVerdicts(a, run([point({})]));
  t.same(
    d.find((x) => x.point === 'reboot'),
    { point: 'reboot', a: verdictOf(a.points[1]!), b: 'missing', same: false },
  );
});
