/**
 * `huplab hup` on the 1.x-to-2.x method: a backend with the 2.x releases of the board's 2.x
 * profile (and the migration's bundle and tool), a fresh 1.x device on `from` flashed onto storage
 * larger than its image (as a board's is: the 2.x layout reaches further than the 1.x image), the
 * fault's preparation if one is named, the migration to `to`, judged; then, when `next` is given,
 * a standard 2.x update on top, judged as the standard path judges it.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadRelease } from '../../images/recipe.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import { startDevice } from '../device/start.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { findOnexFault, type OnexFault } from '../faults/onex-migrate.ts';
import { verdictFor } from '../faults/scenario.ts';
import type { Lab } from '../lab.ts';
import { migrateDevice, type MigrationOutcome } from '../update/onex-migrate.ts';
import { migrationVerdict } from '../update/onex-migrate-verdict.ts';
import { updateDevice } from '../update/standard.ts';
import type { UpdateOutcome, Verdict } from '../update/types.ts';

/**
 * The storage a migrated device is flashed onto, MiB: the 2.x layout puts resin-data at 696 MiB
 * (lib/partition/resin-1x.ts), past the end of the 1.x image (680 MiB on generic-amd64-1x).
 */
export const MIGRATION_STORAGE_MIB = 1024;

export interface OnexMigrationRun {
  device: DeviceDriver;
  backend: UpdateBackend;
  uuid: string;
  outcome: MigrationOutcome;
  verdict: Verdict;
  /** The standard 2.x update made on top, when `next` was given and the migration succeeded. */
  next?: { outcome: UpdateOutcome; verdict: Verdict };
  /** The partition table and untouched partitions before and after, for a refused migration. */
  bootTimingsMs: Record<string, number>;
}

export async function runOnexMigration(opts: {
  lab: Lab;
  /** The 1.x profile. */
  device: string;
  /** The board's 2.x profile (the plan's target). */
  target: string;
  from: string;
  to: string;
  /** A later 2.x release to update to with the standard path once migrated. */
  next?: string;
  name?: string;
  narrator?: Narrator;
  fault?: string | OnexFault;
  /** Runs on the device before the fault's preparation (a test's own measurements). */
  beforeMigration?: (device: DeviceDriver) => Promise<void>;
}): Promise<OnexMigrationRun> {
  const narrator = opts.narrator ?? silentNarrator;
  const fault = typeof opts.fault === 'string' ? findOnexFault(opts.fault) : opts.fault;
  const backend = await startUpdateBackend({
    device: opts.device,
    releases: [],
    narrator,
    operatorToken: opts.lab.operatorToken,
    migration: { device: opts.target, releases: [opts.to, ...(opts.next ? [opts.next] : [])] },
  });
  try {
    const started = await startDevice({
      lab: opts.lab,
      device: opts.device,
      release: opts.from,
      name: opts.name ?? 'onex-migrate',
      narrator,
      config: backend.newDeviceConfig(),
      storageMiB: MIGRATION_STORAGE_MIB,
    });
    const { device } = started;
    if (opts.beforeMigration) await opts.beforeMigration(device);
    if (fault?.prepare) await narrator.step(`fault ${fault.name}: ${fault.description}`, () => fault.prepare!(device));
    const outcome = await migrateDevice({
      device,
      backend,
      to: opts.to,
      uuid: started.record.uuid,
      narrator,
      ...(fault?.dataLimit !== undefined ? { dataLimit: fault.dataLimit } : {}),
    });
    const wifiConnect = (await loadRelease(opts.from)).onex?.wifiConnect;
    const verdict = migrationVerdict(outcome, {
      ...(fault ? { fault } : {}),
      ...(wifiConnect ? { wifiConnect } : {}),
    });
    let next: OnexMigrationRun['next'];
    if (opts.next && verdict.ok && fault?.expect !== 'refused') {
      const o = await narrator.step(`standard 2.x update on top: ${opts.to} -> ${opts.next}`, () =>
        updateDevice({
          device,
          backend,
          to: opts.next!,
          uuid: started.record.uuid,
          narrator,
          logsDir: join(device.paths.dir, 'logs'),
        }),
      );
      next = { outcome: o, verdict: verdictFor(undefined, o, backend) };
    }
    await writeFile(
      join(device.paths.dir, 'onex-migrate-report.json'),
      JSON.stringify({ fault: fault?.name, outcome, verdict, next }, null, 2),
    );
    return {
      device,
      backend,
      uuid: started.record.uuid,
      outcome,
      verdict,
      ...(next ? { next } : {}),
      bootTimingsMs: started.timings,
    };
  } catch (err) {
    await backend.services.stop();
    throw err;
  }
}
