/**
 * `huplab hup` on an advanced path: a backend with the device's release and the target line's, a
 * fresh device on `from`, taken over to `to` of the target line, judged; the report kept in the
 * device's folder.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import type { InventoryBoard } from '../board/inventory.ts';
import type { Lab } from '../lab.ts';
import { advancedUpdateDevice } from '../update/advanced.ts';
import { expectAdvancedSuccess } from '../update/advanced-verdict.ts';
import type { AdvancedOutcome, Verdict } from '../update/types.ts';
import { startDevice } from '../device/start.ts';

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
  /** The device profile; with `board`, the board's own. */
  device: string;
  /** A board of the lab inventory to run on, instead of a fresh emulated device. */
  board?: InventoryBoard;
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
    operatorToken: opts.lab.operatorToken,
    ...(opts.board?.backend?.listen ? { listen: opts.board.backend.listen } : {}),
  });
  try {
    const started = await startDevice({
      lab: opts.lab,
      ...(opts.board ? { board: opts.board } : { device: opts.device }),
      release: opts.from,
      name: opts.name ?? 'hup',
      narrator,
      config: backend.newDeviceConfig(),
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
