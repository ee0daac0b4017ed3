import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseRecords } from '../harness/update/records.ts';
import { openLab } from '../harness/lab.ts';
import { seconds, table } from './stats.ts';
import { runHup } from '../harness/jobs/hup.ts';

/**
 * A full standard HUP on generic-amd64 (trigger to committed), and the application's downtime
 * during it (the largest gap in its /data records) next to the gap a plain reboot of the same
 * device causes, measured in the same run.
 */
export async function benchHup(from = '2.101.0', to = '2.102.0'): Promise<string> {
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-hup-')));
  try {
    const r = await runHup({ lab, device: 'generic-amd64', from, to, name: 'bench' });
    const o = r.outcome;
    // A plain reboot of the same (updated) device, measured the same way.
    const ssh = await r.device.ssh();
    const before = await ssh.execOk('cat /mnt/data/demo-app/records.log');
    const mark = r.device.console.mark();
    await ssh.exec('sync; reboot');
    await r.device.waitForOs({ since: mark, timeoutMs: 240_000 });
    // Let the application come back and write a few records after the reboot.
    await new Promise((res) => setTimeout(res, 15_000));
    const after = await (await r.device.ssh()).execOk('cat /mnt/data/demo-app/records.log');
    const plain = analyseRecords(before, after);
    await r.backend.services.stop();
    await r.device.powerCut();
    r.device.close();
    return [
      `## Standard HUP, generic-amd64 ${from} -> ${to} (TCG, one run)`,
      table([
        ['what', 'value'],
        ['updater (trigger to reboot)', seconds(o.seconds.update * 1000)],
        ['trigger to committed (incl. reboot and health check)', seconds(o.seconds.toCommit * 1000)],
        ['download', `${o.download?.kind ?? '-'}, ${o.download?.bytes ?? 0} bytes`],
        ['application downtime during the update (largest /data record gap)', seconds(o.records.maxGapSeconds * 1000)],
        ['application downtime across a plain reboot (same device, same run)', seconds(plain.maxGapSeconds * 1000)],
        ['ratio update downtime / plain reboot', (o.records.maxGapSeconds / plain.maxGapSeconds).toFixed(2)],
      ]),
      `steps: ${o.steps.map((s) => `${s.step} ${s.seconds.toFixed(1)} s`).join(', ')}`,
    ].join('\n');
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
}
