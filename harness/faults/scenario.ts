import { expectFailedAfterStop, expectRefused, expectRollback, expectSuccess } from '../update/verdict.ts';
import { capability } from '../driver/capabilities.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import type { Narrator } from '../../lib/narrator.ts';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import type { Fault } from './index.ts';
import type { UpdateOutcome, Verdict } from '../update/types.ts';
import { updateDevice } from '../update/standard.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';

/**
 * One fault scenario, the same for the CLI (`huplab hup --fault`), the suites and `huplab
 * qualify`: inject, update, judge against the fault's expectation and its own checks, follow up.
 */

/** The releases a scenario really uses: some faults start elsewhere or aim elsewhere. */
export function scenarioReleases(
  fault: Fault | undefined,
  from: string,
  to: string,
): { start: string; target: string } {
  return { start: fault?.start?.(from, to) ?? from, target: fault?.target?.(from, to) ?? to };
}

/** The download a fault's scenario expects, in terms of this backend's endpoints. */
export function expectedDownload(
  fault: Fault | undefined,
  backend: UpdateBackend,
): { kind: 'delta' | 'full'; source?: string } {
  switch (fault?.expectDownload ?? 'delta') {
    case 'full-primary':
      return { kind: 'full', source: backend.deviceConfig.registryEndpoint! };
    case 'full-fallback':
      return { kind: 'full', source: backend.deviceConfig.fallbackRegistryEndpoint! };
    default:
      return { kind: 'delta' };
  }
}

/** The verdict for an outcome: the expectation's checks, then the fault's own. */
export function verdictFor(fault: Fault | undefined, o: UpdateOutcome, backend: UpdateBackend): Verdict {
  const base =
    fault?.expect === 'rollback-health'
      ? expectRollback(o, 'health')
      : fault?.expect === 'rollback-altboot'
        ? expectRollback(o, 'altboot')
        : fault?.expect === 'refused'
          ? expectRefused(o, fault.reason ?? /./, { reportsToApi: fault.reportsToApi !== false })
          : fault?.expect === 'failed'
            ? expectFailedAfterStop(o, fault.failsAt ?? 'fetch', fault.reason ?? /./)
            : expectSuccess(o, expectedDownload(fault, backend));
  const hook = o.faultFacts.hookError;
  const checks = [
    ...(hook !== undefined ? [{ what: 'the fault acted as planned', ok: false, detail: String(hook) }] : []),
    ...base.checks,
    ...(fault?.checks?.(o) ?? []),
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

export interface ScenarioResult {
  outcome: UpdateOutcome;
  verdict: Verdict;
  followUps: UpdateOutcome[];
}

export async function runScenario(opts: {
  device: DeviceDriver;
  backend: UpdateBackend;
  uuid: string;
  fault?: Fault;
  to: string;
  logsDir: string;
  narrator?: Narrator;
}): Promise<ScenarioResult> {
  const { fault, backend } = opts;
  for (const need of fault?.needs ?? []) capability(opts.device, need);
  if (fault?.inject) await fault.inject(backend);
  // A fault on the built-in registries cannot act on the lab's registry: it would pass untested.
  const onRegistries = backend.services.faults.list().filter((f) => f.group === 'primary' || f.group === 'fallback');
  if (backend.external && fault && onRegistries.length > 0) {
    throw new HuplabError(
      'fault-needs-built-in-registry',
      `fault ${fault.name} acts on the built-in registries, and this run pulls from ${backend.external.url}`,
      { hint: 'run it without --registry (HUPLAB_REGISTRY)' },
    );
  }
  const outcome = await updateDevice({
    device: opts.device,
    backend,
    to: opts.to,
    uuid: opts.uuid,
    logsDir: opts.logsDir,
    ...(opts.narrator ? { progress: opts.narrator } : {}),
    ...(fault?.device ? { hooks: fault.device } : {}),
  });
  const verdict = verdictFor(fault, outcome, backend);
  const followUps: UpdateOutcome[] = [];
  if (fault?.followUp) {
    // A follow-up runs without the fault: what is checked is the recovery.
    backend.services.faults.clear();
    const more = await fault.followUp({
      device: opts.device,
      backend,
      uuid: opts.uuid,
      outcome,
      update: async (to, logs) => {
        const o = await updateDevice({
          device: opts.device,
          backend,
          to,
          uuid: opts.uuid,
          logsDir: join(opts.logsDir, '..', logs),
          ...(opts.narrator ? { progress: opts.narrator } : {}),
        });
        followUps.push(o);
        return o;
      },
    });
    verdict.checks.push(...more);
    verdict.ok = verdict.checks.every((c) => c.ok);
  }
  return { outcome, verdict, followUps };
}
