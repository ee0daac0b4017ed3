/**
 * `huplab hup` on the resinOS 1.x -> 1.x path: a backend with the two releases (and the 1.x
 * updater and its tools), a fresh device on `from`, the update to `to` (with a 1.x fault, if
 * named), judged; the report kept in the device's folder.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { onexFaultExpectation, onexFaultRun, type OnexFault } from '../faults/onex.ts';
import type { Lab } from '../lab.ts';
import { startDevice } from '../device/start.ts';
import { updateOnexDevice, type OnexUpdateOutcome } from '../update/onex-update.ts';
import { expectOnexRefused, expectOnexSuccess } from '../update/onex-verdict.ts';
import type { Verdict } from '../update/types.ts';

export interface OnexHupRun {
  device: DeviceDriver;
  backend: UpdateBackend;
  outcome: OnexUpdateOutcome;
  verdict: Verdict;
}

export async function runOnexHup(opts: {
  lab: Lab;
  device: string;
  from: string;
  to: string;
  name?: string;
  narrator?: Narrator;
  fault?: OnexFault;
}): Promise<OnexHupRun> {
  const narrator = opts.narrator ?? silentNarrator;
  const backend = await startUpdateBackend({
    device: opts.device,
    releases: [...new Set([opts.from, opts.to])],
    narrator,
    operatorToken: opts.lab.operatorToken,
    deltas: false,
  });
  try {
    const started = await startDevice({
      lab: opts.lab,
      device: opts.device,
      release: opts.from,
      name: opts.name ?? 'hup',
      narrator,
      config: backend.newDeviceConfig(),
    });
    if (opts.fault) narrator.info?.(`fault ${opts.fault.name}: ${opts.fault.description}`);
    const outcome = await updateOnexDevice({
      device: started.device,
      backend,
      to: opts.to,
      uuid: started.record.uuid,
      logsDir: join(started.device.paths.dir, 'logs'),
      narrator,
      ...(opts.fault ? { fault: onexFaultRun(opts.fault) } : {}),
    });
    const verdict = opts.fault
      ? expectOnexRefused(outcome, onexFaultExpectation(opts.fault))
      : expectOnexSuccess(outcome);
    await writeFile(
      join(started.device.paths.dir, 'hup-report.json'),
      JSON.stringify({ method: '1.x', fault: opts.fault?.name, outcome, verdict }, null, 2),
    );
    return { device: started.device, backend, outcome, verdict };
  } catch (err) {
    await backend.services.stop();
    throw err;
  }
}
