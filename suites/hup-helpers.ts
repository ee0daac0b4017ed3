import { join } from 'node:path';
import type { StartedDevice } from '../harness/device/session.ts';
import { startLabBackend, updateDevice, type DeviceHooks, type LabBackend, type UpdateOutcome } from '../harness/hup/run-hup.ts';
import { expectSuccess } from '../harness/hup/verdict.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';

export const PATCH_RELEASE = process.env.HUPLAB_PATCH_RELEASE ?? '2.102.1';

/** Every standard HUP that should succeed must satisfy the same verdict; show why when not. */
export function expectCommitted(o: UpdateOutcome): void {
  const v = expectSuccess(o);
  expect(v.checks.filter((c) => !c.ok), JSON.stringify(o.steps)).toEqual([]);
}

/**
 * The backend with the three releases and the deltas between them, shared by a file's tests
 * (each file runs in one worker). Faults set by a test are cleared after it.
 */
export function useLabBackend(): { lab: () => LabBackend; device: (flash: (o: object) => Promise<StartedDevice>) => Promise<StartedDevice>; update: (d: StartedDevice, to: string, logs?: string, hooks?: DeviceHooks) => Promise<UpdateOutcome> } {
  let lab: LabBackend | undefined;
  test.beforeAll(async ({ deviceProfile }) => {
    test.setTimeout(10 * 60_000);
    lab = await startLabBackend({ device: deviceProfile, releases: [BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE] });
  });
  test.afterAll(async () => { await lab?.backend.stop(); });
  test.afterEach(async () => { lab?.backend.faults.clear(); });
  return {
    lab: () => lab!,
    device: (flash) => flash({ release: BASE_RELEASE, config: lab!.deviceConfig }),
    update: (d, to, logs = 'logs', hooks) => updateDevice({ device: d.device, lab: lab!, to, uuid: d.record.uuid, logsDir: join(d.device.paths.dir, logs), ...(hooks ? { hooks } : {}) }),
  };
}
