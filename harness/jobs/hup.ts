/**
 * `huplab hup` on the standard path: a backend with the two releases, a fresh device on `from`,
 * the update to `to` (with a fault, if named) as the fault's scenario, judged; the report kept in
 * the device's folder.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import type { ExternalRegistry } from '../backend/external-registry.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { findFault } from '../faults/index.ts';
import { runScenario, scenarioReleases } from '../faults/scenario.ts';
import type { InventoryBoard } from '../board/inventory.ts';
import type { Lab } from '../lab.ts';
import type { UpdateOutcome, Verdict } from '../update/types.ts';
import { startDevice } from '../device/start.ts';
import type { Variant } from '../../lib/contract/variant.ts';

export interface HupRun {
  device: DeviceDriver;
  backend: UpdateBackend;
  outcome: UpdateOutcome;
  verdict: Verdict;
  uuid: string;
  bootTimingsMs: Record<string, number>;
}

/** `huplab hup`: a fresh device on `from`, updated to `to` (with a fault, if named), followed to the end and judged. */
export async function runHup(opts: {
  lab: Lab;
  /** The device profile; with `board`, the board's own. */
  device: string;
  /** A board of the lab inventory to run on, instead of a fresh emulated device. */
  board?: InventoryBoard;
  from: string;
  to: string;
  name?: string;
  narrator?: Narrator;
  fault?: string;
  /** The lab's registry to pull from instead of the built-in ones. */
  external?: ExternalRegistry;
  /** The OS variant of both releases (default: each recipe's own). */
  variant?: Variant;
}): Promise<HupRun> {
  const narrator = opts.narrator ?? silentNarrator;
  const fault = opts.fault ? findFault(opts.fault) : undefined;
  const { start, target } = scenarioReleases(fault, opts.from, opts.to);
  const backend = await startUpdateBackend({
    device: opts.device,
    releases: [...new Set([start, target])],
    ...(opts.variant ? { variant: opts.variant } : {}),
    narrator,
    operatorToken: opts.lab.operatorToken,
    ...(opts.external ? { external: opts.external } : {}),
    ...(opts.board?.backend?.listen ? { listen: opts.board.backend.listen } : {}),
  });
  try {
    const started = await startDevice({
      lab: opts.lab,
      ...(opts.board ? { board: opts.board } : { device: opts.device }),
      release: start,
      ...(opts.variant ? { variant: opts.variant } : {}),
      name: opts.name ?? 'hup',
      narrator,
      config: backend.newDeviceConfig(),
    });
    if (fault) narrator.info?.(`fault ${fault.name}: ${fault.description}`);
    const { outcome, verdict } = await runScenario({
      device: started.device,
      backend,
      uuid: started.record.uuid,
      to: target,
      narrator,
      logsDir: join(started.device.paths.dir, 'logs'),
      ...(fault ? { fault } : {}),
    });
    await writeFile(
      join(started.device.paths.dir, 'hup-report.json'),
      JSON.stringify({ fault: fault?.name, outcome, verdict }, null, 2),
    );
    return {
      device: started.device,
      backend,
      outcome,
      verdict,
      uuid: started.record.uuid,
      bootTimingsMs: started.timings,
    };
  } catch (err) {
    await backend.services.stop();
    throw err;
  }
}
