import type { Command } from 'commander';
import { openLab } from '../lab.ts';
import { describeOutcome } from '../update/verdict.ts';
import { makeOutput, verdictFailure } from './output.ts';
import { run } from './run.ts';
import { HuplabError } from '../../lib/errors.ts';
import { planUpdate } from '../update/plan.ts';
import { runHup } from '../jobs/hup.ts';

/**
 * `npm start`: the main job. An emulated generic-amd64 device on the first release is updated to
 * the next one with the standard HUP, followed across its reboot to the commit, and reported.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('update an emulated generic-amd64 device from 2.101.0 to 2.102.0 and report what happened')
    .option('--from <version>', 'release the device starts on', '2.101.0')
    .option('--to <version>', 'release to update to', '2.102.0')
    .option('--keep', 'leave the device running')
    .option('--json', 'print the report as JSON')
    .action(
      run(async (o: { from: string; to: string; keep?: boolean; json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const plan = await planUpdate({ device: 'generic-amd64', from: o.from, to: o.to });
        if (plan.decision.method === 'refused')
          throw new HuplabError('update-refused', `generic-amd64 ${o.from} -> ${o.to}: ${plan.decision.reason}`, {
            hint: plan.decision.hint,
          });
        const r = await runHup({
          lab: openLab(),
          device: 'generic-amd64',
          from: o.from,
          to: o.to,
          name: 'demo',
          narrator: out.narrator,
        });
        const { verdict } = r;
        out.result(
          { verdict, outcome: r.outcome, bootTimingsMs: r.bootTimingsMs, serialLog: r.device.paths.serialLog },
          () => [
            ...describeOutcome(r.outcome, verdict),
            `  console log: ${r.device.paths.serialLog}`,
            o.keep ? '  device left running: huplab device ssh --name demo' : '  device powered off',
          ],
          verdictFailure(verdict),
        );
        await r.backend.services.stop();
        if (!o.keep) await r.device.powerOff({ clean: true, timeoutMs: 60_000 }).catch(() => r.device.powerCut());
        r.device.close();
        return verdict.ok ? 0 : 1;
      }),
    );
}
