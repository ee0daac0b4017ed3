/**
 * `huplab hup` on an advanced path: a backend with the device's release and the target line's, a
 * fresh device on `from`, taken over to `to` of the target line, judged; the report kept in the
 * device's folder.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage } from '../../images/builder/index.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import { startDevice } from '../device/session.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import type { Lab } from '../lab.ts';
import { advancedUpdateDevice } from '../update/advanced.ts';
import { expectAdvancedSuccess } from '../update/advanced-verdict.ts';
import type { AdvancedOutcome, Verdict } from '../update/types.ts';

export interface AdvancedHupRun {
  device: DeviceDriver;
  backend: UpdateBackend;
  outcome: AdvancedOutcome;
  verdict: Verdict;
  uuid: string;
}

/** `huplab hup` on an advanced path: a fresh device on `from`, taken over to `to` of `toDevice`'s line, and judged. */
export async function runAdvancedHup(opts: {
  lab: Lab;
  device: string;
  toDevice: string;
  from: string;
  to: string;
  name?: string;
  narrator?: Narrator;
}): Promise<AdvancedHupRun> {
  const narrator = opts.narrator ?? silentNarrator;
  const backend = await startUpdateBackend({
    device: opts.device,
    releases: [opts.from],
    advanced: { device: opts.toDevice, releases: [opts.to] },
    narrator,
  });
  try {
    await buildImage({ device: opts.device, release: opts.from, narrator });
    const started = await startDevice({
      lab: opts.lab,
      device: opts.device,
      release: opts.from,
      name: opts.name ?? 'hup',
      narrator,
      config: backend.deviceConfig,
    });
    const outcome = await advancedUpdateDevice({
      device: started.device,
      backend,
      to: opts.to,
      uuid: started.record.uuid,
      logsDir: join(started.device.paths.dir, 'logs'),
      narrator,
    });
    const verdict = expectAdvancedSuccess(outcome, backend.advanced!.profile);
    await writeFile(
      join(started.device.paths.dir, 'hup-report.json'),
      JSON.stringify({ method: 'advanced', outcome, verdict }, null, 2),
    );
    return { device: started.device, backend, outcome, verdict, uuid: started.record.uuid };
  } catch (err) {
    await backend.services.stop();
    throw err;
  }
}
