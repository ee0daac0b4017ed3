/**
 * The migration verdict's application checks (harness/update/onex-migrate-verdict.ts): the first
 * 2.x boot must come up without the application's image, the supervisor must fetch it again,
 * and it must run; each check fails when its fact says otherwise.
 */
import t from 'tap';
import { ONEX_MIGRATE_STEPS } from '../lib/contract/onex.ts';
import type { MigrationOutcome, OnexDeviceFacts } from '../harness/update/onex-migrate.ts';
import { migrationVerdict } from '../harness/update/onex-migrate-verdict.ts';

const facts = (o: Partial<OnexDeviceFacts> = {}): OnexDeviceFacts => ({
  version: '2.101.0',
  rootLabel: 'resin-rootB',
  labels: {},
  data: { './1/README': 'a' },
  keyfiles: {},
  appRunning: true,
  appRelease: '1.0.0',
  appFetched: true,
  containers: 0,
  ...o,
});

const outcome = (o: Partial<MigrationOutcome> = {}, after: Partial<OnexDeviceFacts> = {}): MigrationOutcome => ({
  to: '2.101.0',
  runs: [
    {
      exitCode: 0,
      output: '',
      steps: ONEX_MIGRATE_STEPS.map((step) => ({ step, phase: 'done' as const, seconds: 1, detail: '' })),
    },
  ],
  switchedRoot: false,
  before: facts({ version: '1.26.1', rootLabel: 'resin-root', appFetched: false }),
  after: facts(after),
  firstBootWithoutApp: true,
  progress: [],
  seconds: { migration: 1, toFirstBoot: 2 },
  ...o,
});

const APP_CHECKS = [
  'first 2.x boot without the application image',
  'application fetched again by the supervisor',
  'application back after the first boot',
];
const failedAppChecks = (o: MigrationOutcome) =>
  migrationVerdict(o)
    .checks.filter((c) => APP_CHECKS.includes(c.what) && !c.ok)
    .map((c) => c.what);

t.test('the application checks hold for a first boot without it, fetched and running', async (t) => {
  const checks = migrationVerdict(outcome()).checks.filter((c) => APP_CHECKS.includes(c.what));
  t.same(
    checks.map((c) => c.what),
    APP_CHECKS,
    'all three are judged',
  );
  t.same(failedAppChecks(outcome()), []);
});

t.test('each application check fails when its fact says otherwise', async (t) => {
  t.same(failedAppChecks(outcome({ firstBootWithoutApp: false })), [APP_CHECKS[0]], 'the image survived');
  t.same(failedAppChecks(outcome({}, { appFetched: false })), [APP_CHECKS[1]], 'not fetched by the supervisor');
  t.same(failedAppChecks(outcome({}, { appRelease: '' })), [APP_CHECKS[1]], 'nothing in the store');
  t.same(failedAppChecks(outcome({}, { appRunning: false })), [APP_CHECKS[2]], 'not running');
});
