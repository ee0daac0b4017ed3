import t from 'tap';
import { HuplabError } from '../lib/errors.ts';
import { orderedSteps, runSteps, type StepContext, type UpdateStep } from '../updater/common/step-runner.ts';

/** A context that records, in order, every marker, log line and report the runner makes. */
function recorder(): StepContext & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    log: {
      marker: (step, phase, detail = '') =>
        seen.push(`marker ${step} ${phase} ${detail.replace(/\([\d.]+s\)/, '(Ns)')}`),
      line: (m) => seen.push(`line ${m}`),
    },
    progress: {
      milestone: async (percent, message) => {
        seen.push(`milestone ${percent} ${message}`);
        return true;
      },
      report: async (percent, message, status, attempts) => {
        seen.push(`report ${percent} ${message} ${status} ${attempts}`);
        return true;
      },
    },
  };
}

const step = (name: string, run: UpdateStep<StepContext>['run'], milestone?: [number, string]) => ({
  name,
  run,
  ...(milestone ? { milestone } : {}),
});

t.test('steps run in order between their markers, milestones first, and exit 0', async (t) => {
  const ctx = recorder();
  const code = await runSteps(
    ctx,
    [step('checks', async () => 'device ok', [25, 'Preparing OS update']), step('reboot', async () => {})],
    { failedLine: (why) => `OS update failed: ${why}`, cleanup: () => void t.fail('no cleanup on success') },
  );
  t.equal(code, 0);
  t.same(ctx.seen, [
    'marker checks start ',
    'milestone 25 Preparing OS update',
    'marker checks done (Ns) device ok',
    'marker reboot start ',
    'marker reboot done (Ns)',
  ]);
});

t.test('a failure is marked on its step, logged, cleaned up after, reported, and exits 1', async (t) => {
  const ctx = recorder();
  const code = await runSteps(
    ctx,
    [
      step('checks', async () => 'ok'),
      step('fetch', async () => {
        throw new HuplabError('fetch-failed', 'no registry delivered the new OS');
      }),
      step('never', async () => void t.fail('a step after the failure ran')),
    ],
    {
      failedLine: (why) => `OS update failed: ${why}; nothing was flashed`,
      cleanup: async (c) => void c.log.line('cleaned up'),
    },
  );
  t.equal(code, 1);
  t.same(ctx.seen.slice(2), [
    'marker fetch start ',
    `marker fetch failed ${new HuplabError('fetch-failed', 'no registry delivered the new OS').oneLine()}`,
    `line OS update failed: ${new HuplabError('fetch-failed', 'no registry delivered the new OS').oneLine()}; nothing was flashed`,
    'line cleaned up',
    `report 100 OS update failed: ${new HuplabError('fetch-failed', 'no registry delivered the new OS').oneLine()} failed 2`,
    'report 100 OS update failed failed 10',
  ]);
});

t.test('orderedSteps: the contract order, each step its own run and milestone, none where it has none', async (t) => {
  const ran: string[] = [];
  const steps = orderedSteps(
    ['b', 'a'] as const,
    {
      a: async () => void ran.push('a'),
      b: async () => void ran.push('b'),
    },
    { a: [40, 'Writing'] },
  );
  t.same(
    steps.map((s) => [s.name, s.milestone]),
    [
      ['b', undefined],
      ['a', [40, 'Writing']],
    ],
  );
  t.notOk('milestone' in steps[0]!, 'no milestone key at all for a step without one');
  const ctx = recorder();
  await runSteps(ctx, steps, { failedLine: (w) => w, cleanup: () => {} });
  t.same(ran, ['b', 'a']);
  t.match(ctx.seen, ['marker b start ', /marker b done/, 'marker a start ', 'milestone 40 Writing', /marker a done/]);
});
