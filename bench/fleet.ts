import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLab, type Lab } from '../harness/lab.ts';
import { parseRecords } from '../harness/update/records.ts';
import { suiteReleasesFor } from '../harness/update/suite-releases.ts';
import {
  appRecords,
  huplab,
  json,
  operator,
  serve,
  startDevice,
  type TargetResults,
  type WaitOutcomes,
} from '../suites/fleet-cli.ts';
import { seconds, table } from './stats.ts';

/**
 * The fleet flow as a release engineer drives it (`huplab serve`, `huplab fleet`), on emulated
 * generic-amd64 devices, in one run:
 * - an independent supervisor upgrade next to an OS update of the same device: trigger to done,
 *   bytes the registries and the delta service sent, the application's downtime;
 * - a batch OS update of N = 1, 2, 4 devices: trigger to every device done, against one device.
 * BENCH_BATCH=1,2 limits the batch sizes.
 */
export async function benchFleet(): Promise<string> {
  // The suites' pinned releases, which the support policy may no longer maintain on the day the
  // bench runs: the OS targets pass --allow-unsupported (the bench measures the update).
  const { base, next } = suiteReleasesFor('generic-amd64');
  const sizes = (process.env.BENCH_BATCH ?? '1,2,4').split(',').map(Number);
  return [await supervisorVersusOs(base, next), await batches(base, next, sizes)].join('\n\n');
}

interface Measured {
  ms: number;
  bytes: number;
  downtimeMs: number;
}

async function supervisorVersusOs(base: string, next: string): Promise<string> {
  return withLab('sup', async (lab) => {
    await startDevice(lab, 'b1', base);
    const sup = await measure(lab, 'b1', ['fleet', 'supervisor', '--version', '16.9.0', 'b1']);
    const os = await measure(lab, 'b1', ['fleet', 'os', '--version', next, '--allow-unsupported', 'b1']);
    const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(3) : '-');
    return [
      `## Supervisor upgrade vs OS update, generic-amd64 (TCG, one device, one run)`,
      table([
        ['what', 'supervisor 16.9.0', `OS ${base} -> ${next}`, 'ratio supervisor / OS'],
        ['trigger to done', seconds(sup.ms), seconds(os.ms), ratio(sup.ms, os.ms)],
        [
          'bytes sent by the registries and delta service',
          String(sup.bytes),
          String(os.bytes),
          ratio(sup.bytes, os.bytes),
        ],
        [
          'application downtime (largest record gap)',
          seconds(sup.downtimeMs),
          seconds(os.downtimeMs),
          ratio(sup.downtimeMs, os.downtimeMs),
        ],
      ]),
    ].join('\n');
  });
}

async function batches(base: string, next: string, sizes: number[]): Promise<string> {
  const rows: string[][] = [['devices', 'trigger to all done', 'ratio to one device']];
  let one: number | undefined;
  for (const n of sizes) {
    const ms = await withLab(`batch${n}`, async (lab) => {
      const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
      await Promise.all(names.map((name) => startDevice(lab, name, base)));
      const t0 = Date.now();
      await target(lab, ['fleet', 'os', '--version', next, '--allow-unsupported', ...names]);
      await waitReached(lab, names);
      return Date.now() - t0;
    });
    one ??= n === 1 ? ms : undefined;
    rows.push([String(n), seconds(ms), one ? (ms / one).toFixed(2) : '-']);
  }
  return [
    `## Batch OS update ${base} -> ${next}, N generic-amd64 devices on this host's cores (TCG)`,
    table(rows),
  ].join('\n');
}

/** One target carried out on one device: time, bytes served meanwhile, the application's downtime. */
async function measure(lab: Lab, name: string, command: string[]): Promise<Measured> {
  await operator(lab, '/v1/lab/requests', { method: 'DELETE' });
  const t0 = Date.now();
  await target(lab, command);
  await waitReached(lab, [name]);
  const ms = Date.now() - t0;
  const served = (await (await operator(lab, '/v1/lab/requests')).json()) as {
    requests: Array<{ group: string; bytesSent: number }>;
  };
  const bytes = served.requests.filter((r) => r.group !== 'api').reduce((s, r) => s + r.bytesSent, 0);
  const records = parseRecords(await appRecords(lab, name)).filter((r) => r.ms >= t0 - 2_000);
  let gap = 0;
  for (let i = 1; i < records.length; i++) gap = Math.max(gap, records[i]!.ms - records[i - 1]!.ms);
  return { ms, bytes, downtimeMs: gap };
}

async function target(lab: Lab, command: string[]): Promise<void> {
  const r = await json<TargetResults>(lab, command);
  const refused = r.results.filter((x) => !x.ok);
  if (refused.length) throw new Error(`${command.join(' ')} refused: ${JSON.stringify(refused)}`);
}

async function waitReached(lab: Lab, names: string[]): Promise<void> {
  const w = await json<WaitOutcomes>(lab, ['fleet', 'wait', ...names, '--timeout', '1800'], 35 * 60_000);
  const bad = w.devices.filter((d) => d.targetProgress !== 'reached');
  if (bad.length || w.devices.length !== names.length) throw new Error(`not reached: ${JSON.stringify(w.devices)}`);
}

/** A lab of its own with a server, torn down (devices, server, folder) whatever happens. */
async function withLab<T>(what: string, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = openLab(mkdtempSync(join(tmpdir(), `huplab-bench-fleet-${what}-`)));
  const server = await serve(lab);
  try {
    return await fn(lab);
  } finally {
    const listed = await json<{ devices: Array<{ name: string; running: boolean }> }>(lab, ['device', 'list']).catch(
      () => ({ devices: [] }),
    );
    for (const d of listed.devices) await huplab(lab, ['device', 'stop', '--force', '--name', d.name], 60_000);
    await huplab(lab, ['serve', '--stop']);
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(lab.dir, { recursive: true, force: true });
  }
}
