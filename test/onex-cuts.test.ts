/**
 * The judgement of a power cut during the 1.x -> 2.x migration (harness/power/onex-migrate-cuts.ts):
 * each stage's expectation passes what it says and fails what it does not, and the points cover
 * the migration's stages in its order.
 */
import t from 'tap';
import { judgeCut, ONEX_CUT_POINTS, type OnexCutPoint } from '../harness/power/onex-migrate-cuts.ts';
import type { OnexDeviceFacts } from '../harness/update/onex-migrate.ts';
import { ONEX_MIGRATE_STEPS } from '../lib/contract/onex.ts';

const facts = (o: Partial<OnexDeviceFacts>): OnexDeviceFacts => ({
  version: '1.26.1',
  rootLabel: 'resin-root',
  labels: {},
  data: { './1001/README': 'a', './1001/network.config': 'b' },
  keyfiles: {},
  appRunning: true,
  appRelease: '1.0.0',
  appFetched: false,
  containers: 0,
  ...o,
});
const point = (expect: OnexCutPoint['expect']): OnexCutPoint => ({ name: 'p', step: 'fetch', delayMs: 0, expect });
const ok = (p: OnexCutPoint, after: OnexDeviceFacts | undefined) =>
  judgeCut(p, '1.26.1', '2.101.0', facts({}), after).every((c) => c.ok);

t.test('each expectation passes its own outcome and fails the others', async (t) => {
  const intact1x = facts({});
  const lost1x = facts({ data: {} });
  const new2x = facts({ version: '2.101.0', rootLabel: 'resin-rootB', appFetched: true });
  t.ok(ok(point('1x-intact'), intact1x));
  t.notOk(ok(point('1x-intact'), lost1x), '/data lost is not intact');
  t.notOk(ok(point('1x-intact'), new2x), '2.x is not 1.x');
  t.ok(ok(point('1x-data-lost'), lost1x));
  t.notOk(ok(point('1x-data-lost'), intact1x), 'a stage said to lose /data that keeps it is reported');
  t.ok(ok(point('1x-data-restored'), intact1x));
  t.ok(ok(point('2x'), new2x));
  t.notOk(ok(point('2x'), facts({ version: '2.101.0', rootLabel: 'resin-rootB', data: {} })));
  t.notOk(ok(point('2x'), undefined), 'nothing booted fails every stage');
  t.notOk(ok(point('2x'), { ...new2x, appFetched: false }), 'on 2.x the supervisor must fetch the application');
  t.notOk(ok(point('2x'), { ...new2x, appRunning: false }), 'and it must run');
});

t.test('the points follow the migration, and each lies in a stage of its expectation', async (t) => {
  const order = ONEX_CUT_POINTS.map((p) => ONEX_MIGRATE_STEPS.indexOf(p.step));
  t.same(
    order,
    [...order].sort((a, b) => a - b),
    'in step order',
  );
  const at = (s: string) => ONEX_MIGRATE_STEPS.indexOf(s as (typeof ONEX_MIGRATE_STEPS)[number]);
  for (const p of ONEX_CUT_POINTS) {
    const i = at(p.step);
    const want =
      i <= at('repartition')
        ? '1x-intact'
        : i <= at('restore-data')
          ? '1x-data-lost'
          : i < at('bootloader-switch')
            ? '1x-data-restored'
            : '2x';
    t.equal(p.expect, want, p.name);
  }
});
