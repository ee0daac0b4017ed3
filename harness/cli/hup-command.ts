import type { Command } from 'commander';
import { openLab } from '../lab.ts';
import { runHup } from '../hup/run-hup.ts';
import { describeOutcome, expectRollback, expectSuccess } from '../hup/verdict.ts';
import { attachTerminal } from '../console/attach.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { FAULTS, findFault, type Fault } from '../faults/index.ts';
import type { LabBackend } from '../hup/run-hup.ts';

/** The download a fault's scenario expects, in terms of this lab's endpoints. */
export function expectedDownload(fault: Fault | undefined, lab: LabBackend): { kind: 'delta' | 'full'; source?: string } {
  switch (fault?.expectDownload ?? 'delta') {
    case 'full-primary': return { kind: 'full', source: lab.deviceConfig.registryEndpoint! };
    case 'full-fallback': return { kind: 'full', source: lab.deviceConfig.fallbackRegistryEndpoint! };
    default: return { kind: 'delta' };
  }
}

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
      const verdict = fault?.expect === 'rollback-health' ? expectRollback(r.outcome, 'health')
        : fault?.expect === 'rollback-altboot' ? expectRollback(r.outcome, 'altboot')
          : expectSuccess(r.outcome, expectedDownload(fault, r.lab));
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
