import type { Command } from 'commander';
import { openLab } from '../lab.ts';
import { runHup } from '../hup/run-hup.ts';
import { describeOutcome } from '../hup/verdict.ts';
import { attachTerminal } from '../console/attach.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { FAULTS, findFault } from '../faults/index.ts';

export function registerHup(program: Command): void {
  program.command('hup')
    .description('flash a fresh emulated device with --from, update it to --to through the backend, follow it to the end and report')
    .requiredOption('--device <profile>', 'device profile, e.g. generic-amd64')
    .requiredOption('--from <version>', 'release the device starts on')
    .requiredOption('--to <version>', 'release to update to')
    .option('--name <name>', 'device name in the lab', 'hup')
    .option('--fault <name>', `inject a fault and check its expected outcome (${FAULTS.map((f) => f.name).join(', ')})`)
    .option('--keep', 'leave the device running and attach to its console at the end')
    .option('--json', 'print the report as JSON')
    .action(run(async (o: { device: string; from: string; to: string; name: string; fault?: string; keep?: boolean; json?: boolean }) => {
      const out = makeOutput(!!o.json);
      const lab = openLab();
      const fault = o.fault ? findFault(o.fault) : undefined;
      const r = await runHup({ lab, device: o.device, from: o.from, to: o.to, name: o.name, progress: out.progress, ...(fault ? { fault: fault.name } : {}) });
      const { verdict } = r;
      out.result({ verdict, outcome: r.outcome, device: r.device.name, serialLog: r.device.paths.serialLog }, () => [
        ...describeOutcome(r.outcome, verdict),
        `  console log: ${r.device.paths.serialLog}`,
      ]);
      await r.lab.backend.stop();
      if (!o.keep) await r.device.powerCut();
      r.device.close();
      if (o.keep && !o.json && process.stdin.isTTY) await attachTerminal(r.device.paths.serialSock, { name: r.device.name });
      return verdict.ok ? 0 : 1;
    }));
}
