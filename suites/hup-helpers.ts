import { basename, join } from 'node:path';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import type { Fault } from '../harness/faults/index.ts';
import { runScenario, scenarioReleases, type ScenarioResult } from '../harness/faults/scenario.ts';
import { expectSuccess } from '../harness/update/verdict.ts';
import { BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE, expect, test } from './fixtures.ts';
import { startUpdateBackend, type UpdateBackend } from '../harness/backend/update-backend.ts';
import { resolveExternalRegistry } from '../harness/backend/external-registry.ts';
import { inventoryPath, loadInventory } from '../harness/board/inventory.ts';
import { updateDevice } from '../harness/update/standard.ts';
import type { DeviceHooks, UpdateOutcome, Verdict } from '../harness/update/types.ts';
import type { StartedDevice } from '../harness/device/boot.ts';
import type { Variant } from '../lib/contract/index.ts';

export { PATCH_RELEASE };

/** Every standard HUP that should succeed must satisfy the same verdict; show why when not. */
export function expectCommitted(o: UpdateOutcome): void {
  const v = expectSuccess(o);
  expect(
    v.checks.filter((c) => !c.ok),
    JSON.stringify(o.steps),
  ).toEqual([]);
}

/**
 * Attaches what a person needs to read an update from the report alone: the device's logs and
 * the outcome with its verdict (the huplab reporter draws the step timeline from it).
 */
async function attachUpdate(outcome: UpdateOutcome, verdict: Verdict | undefined, fault?: string): Promise<void> {
  const info = test.info();
  for (const l of outcome.logs) await info.attach(basename(l), { path: l, contentType: 'text/plain' });
  await info.attach('hup-outcome.json', {
    body: JSON.stringify({ ...(fault ? { fault } : {}), outcome, verdict: verdict ?? expectSuccess(outcome) }, null, 1),
    contentType: 'application/json',
  });
}

/**
 * The backend with the three releases and the deltas between them, shared by a file's tests
 * (each worker that runs them starts its own). Faults set by a test are cleared after it.
 * `variant` builds the releases and the devices of `device()` in that OS variant; `releases`
 * narrows the releases published (default: base, next and patch).
 */
export function useLabBackend(opts: { variant?: Variant; releases?: () => string[] } = {}): {
  backend: () => UpdateBackend;
  device: (flash: (o: object) => Promise<StartedDevice<DeviceDriver>>) => Promise<StartedDevice<DeviceDriver>>;
  update: (d: StartedDevice<DeviceDriver>, to: string, logs?: string, hooks?: DeviceHooks) => Promise<UpdateOutcome>;
  fault: (fault: Fault, flash: (o: object) => Promise<StartedDevice<DeviceDriver>>) => Promise<ScenarioResult>;
} {
  let backend: UpdateBackend | undefined;
  let variant: Variant | undefined;
  test.beforeAll(async ({ deviceProfile, osVariant }) => {
    test.setTimeout(10 * 60_000);
    // HUPLAB_REGISTRY (set by `huplab qualify --registry`): the lab's registry instead of the built-in one.
    const external = await resolveExternalRegistry({});
    // Boards of the lab network reach the backend where the inventory says it listens.
    const listen = process.env.HUPLAB_INVENTORY ? (await loadInventory(inventoryPath())).backend?.listen : undefined;
    variant = opts.variant ?? osVariant;
    backend = await startUpdateBackend({
      device: deviceProfile,
      releases: opts.releases?.() ?? [BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE],
      ...(variant ? { variant } : {}),
      ...(external ? { external } : {}),
      ...(listen ? { listen } : {}),
    });
  });
  test.afterAll(async () => {
    await backend?.services.stop();
  });
  test.afterEach(async () => {
    backend?.services.faults.clear();
  });
  return {
    backend: () => backend!,
    device: (flash) =>
      flash({
        release: BASE_RELEASE,
        config: backend!.newDeviceConfig(),
        ...(variant ? { variant } : {}),
      }),
    update: async (d, to, logs = 'logs', hooks) => {
      const o = await updateDevice({
        device: d.device,
        backend: backend!,
        to,
        uuid: d.record.uuid,
        logsDir: join(d.device.paths.dir, logs),
        ...(hooks ? { hooks } : {}),
      });
      await attachUpdate(o, undefined);
      return o;
    },
    // One fault scenario, judged by the fault's own expectations (harness/faults).
    fault: async (fault, flash) => {
      test.info().annotations.push({ type: 'fault', description: fault.name });
      const { start, target } = scenarioReleases(fault, BASE_RELEASE, NEXT_RELEASE);
      const d = await flash({ release: start, config: backend!.newDeviceConfig() });
      const r = await runScenario({
        device: d.device,
        backend: backend!,
        uuid: d.record.uuid,
        fault,
        to: target,
        logsDir: join(d.device.paths.dir, 'logs'),
      });
      await attachUpdate(r.outcome, r.verdict, fault.name);
      for (const o of r.followUps)
        for (const l of o.logs)
          await test.info().attach(`follow-up-${basename(l)}`, { path: l, contentType: 'text/plain' });
      expect(
        r.verdict.checks.filter((c) => !c.ok),
        `${fault.name}: ${fault.description}`,
      ).toEqual([]);
      return r;
    },
  };
}

/** A suite for a family of faults: one test per fault, each judged by its entry in harness/faults. */
export function faultSuite(family: Fault['family'], faults: Fault[]): void {
  test.describe(family, () => {
    // Each test has a device of its own: the tests of a family spread over the workers.
    test.describe.configure({ mode: 'parallel' });
    const h = useLabBackend();
    for (const fault of faults) {
      test(`${fault.name}: ${fault.description}`, { tag: fault.qualifyOnly ? ['@qualify'] : [] }, async ({ flash }) => {
        await h.fault(fault, flash);
      });
    }
  });
}
