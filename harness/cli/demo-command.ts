import type { Command } from 'commander';
import { buildImage } from '../../images/builder/index.ts';
import { startDevice } from '../device/session.ts';
import { inspectDevice } from '../device/inspect.ts';
import { openLab } from '../lab.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';

/**
 * `npm start`: the main job. Today it builds both releases, boots a generic-amd64 device on the
 * first and reports what it runs; the update itself (issue 3, standard HUP) is not there yet,
 * and the report says so rather than pretending.
 */
export function registerDemo(program: Command): void {
  program.command('demo')
    .description('build 2.101.0 and 2.102.0 for generic-amd64, boot a device on 2.101.0 and report on it')
    .option('--from <version>', 'release the device starts on', '2.101.0')
    .option('--to <version>', 'release to update to', '2.102.0')
    .option('--keep', 'leave the device running')
    .option('--json', 'print the report as JSON')
    .action(run(async (o: { from: string; to: string; keep?: boolean; json?: boolean }) => {
      const out = makeOutput(!!o.json);
      const lab = openLab();
      const target = await buildImage({ device: 'generic-amd64', release: o.to, progress: out.progress });
      const started = await startDevice({ lab, device: 'generic-amd64', release: o.from, name: 'demo', progress: out.progress });
      const facts = await out.progress.step('inspect the device over SSH', () => inspectDevice(started.device));
      if (!o.keep) await out.progress.step('shut the device down', () => started.device.powerOff({ clean: true, timeoutMs: 60_000 }));
      started.device.close();
      const report = {
        device: 'generic-amd64', from: o.from, to: o.to, running: facts,
        bootTimingsMs: started.timings, accel: started.device.accel,
        targetHostapp: target.releaseBuilds[0]?.hostapp.manifest.digest,
        update: { status: 'not-run', reason: 'the standard HUP updater is issue 3 and is not implemented yet' },
      };
      out.result(report, () => [
        `huplab demo: generic-amd64 ${o.from} -> ${o.to}`,
        `  booted:   ${facts.version} from ${facts.root} (${started.device.accel}), SSH ready after ${((started.timings.sshReady ?? 0) / 1000).toFixed(1)} s`,
        `  app:      ${facts.appRecords} records on /mnt/data, last "${facts.lastRecord}"`,
        `  bootenv:  ${Object.entries(facts.bootEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`,
        `  target:   ${o.to} hostapp ${report.targetHostapp}`,
        `  update:   NOT RUN: ${report.update.reason}`,
        o.keep ? `  device left running: huplab device ssh --name demo` : '  device shut down',
      ]);
    }));
}
