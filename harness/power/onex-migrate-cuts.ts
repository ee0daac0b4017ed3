/**
 * Power cuts during the 1.x -> 2.x migration: a fresh 1.x device per point, the migration started
 * and the power cut when the console shows the point's step marker (plus a delay), the device
 * powered on again with no help, and what booted judged against what must hold at that stage
 * (README "The 1.x -> 2.x migration"; the field's design cannot hold a cut between the first
 * partition table and the restore of /data, and these points show what such a cut leaves).
 */
import { stepLine } from '../../lib/contract/steps.ts';
import { ONEX_MIGRATE_PATH, onexMigrateCommand, type OnexMigrateStep } from '../../lib/contract/onex.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startUpdateBackend } from '../backend/update-backend.ts';
import { startDevice } from '../device/start.ts';
import type { Lab } from '../lab.ts';
import { onexFacts, type OnexDeviceFacts, waitForApplication } from '../update/onex-migrate.ts';
import type { Check } from '../update/types.ts';

/**
 * What must hold after a cut, by stage:
 * - `1x-intact`: the 1.x OS boots from resin-root with every file of /data as it was;
 * - `1x-data-lost`: the 1.x OS boots (its root and boot files are untouched) but its /data is on
 *   a partition the migration has replaced: the field's design cannot hold this stage;
 * - `1x-data-restored`: the 1.x OS boots and finds /data restored on the new data partition
 *   (its resin-conf is gone: the layout is the 2.x one already);
 * - `2x`: the new 2.x OS boots from resin-rootB with /data as it was, and its supervisor fetches
 *   the application the migration removed.
 */
export type OnexCutExpectation = '1x-intact' | '1x-data-lost' | '1x-data-restored' | '2x';

export interface OnexCutPoint {
  name: string;
  step: OnexMigrateStep;
  delayMs: number;
  expect: OnexCutExpectation;
}

/** The points, in the migration's order: one per stage where what holds changes. */
export const ONEX_CUT_POINTS: OnexCutPoint[] = [
  { name: 'stop-services', step: 'stop-services', delayMs: 0, expect: '1x-intact' },
  { name: 'backup', step: 'backup', delayMs: 0, expect: '1x-intact' },
  // The layout is the 2.x one; /data is the backup tarball on the new data partition.
  { name: 'fetch', step: 'fetch', delayMs: 0, expect: '1x-data-lost' },
  { name: 'restore-data', step: 'restore-data', delayMs: 0, expect: '1x-data-lost' },
  { name: 'boot-files', step: 'boot-files', delayMs: 0, expect: '1x-data-restored' },
  { name: 'bootloader-switch', step: 'bootloader-switch', delayMs: 0, expect: '2x' },
  { name: 'reboot', step: 'reboot', delayMs: 0, expect: '2x' },
];

export interface OnexCutResult {
  point: OnexCutPoint;
  /** What booted: the version and the root label, or nothing. */
  booted: { version: string; root: string } | undefined;
  before: OnexDeviceFacts;
  after?: OnexDeviceFacts;
  checks: Check[];
  ok: boolean;
  seconds: { toCut: number; toBoot: number };
}

const check = (what: string, ok: boolean, detail: string): Check => ({ what, ok, detail });

/** What holds after one cut, judged against the point's expectation. */
export function judgeCut(
  point: OnexCutPoint,
  from: string,
  to: string,
  before: OnexDeviceFacts,
  after: OnexDeviceFacts | undefined,
): Check[] {
  if (!after) return [check('an OS boots after the cut', false, 'no OS came back')];
  const dataSame =
    Object.keys(before.data).length > 0 && Object.keys(before.data).every((f) => after.data[f] === before.data[f]);
  const is1x = after.version === from && after.rootLabel === 'resin-root';
  const is2x = after.version === to && after.rootLabel === 'resin-rootB';
  const data = `${Object.keys(after.data).length} of ${Object.keys(before.data).length} files of /data as before: ${dataSame}`;
  switch (point.expect) {
    case '1x-intact':
      return [
        check('1.x boots from resin-root', is1x, `${after.version} from ${after.rootLabel}`),
        check('/data as it was', dataSame, data),
      ];
    case '1x-data-lost':
      return [
        check('1.x boots from resin-root', is1x, `${after.version} from ${after.rootLabel}`),
        check("/data is not the 1.x one any more (the field's design cannot hold here)", !dataSame, data),
      ];
    case '1x-data-restored':
      return [
        check('1.x boots from resin-root', is1x, `${after.version} from ${after.rootLabel}`),
        check('/data restored on the new data partition', dataSame, data),
      ];
    case '2x':
      return [
        check('2.x boots from resin-rootB', is2x, `${after.version} from ${after.rootLabel}`),
        check('/data as it was', dataSame, data),
        check(
          'the supervisor fetched the application again and it runs',
          after.appFetched && after.appRunning,
          `fetched: ${after.appFetched}, running: ${after.appRunning}`,
        ),
      ];
  }
}

/** Cuts the power at each point on a fresh device; one device at a time. */
export async function runOnexCutCampaign(opts: {
  lab: Lab;
  device: string;
  target: string;
  from: string;
  to: string;
  points?: OnexCutPoint[];
  narrator?: Narrator;
  storageMiB: number;
}): Promise<OnexCutResult[]> {
  const narrator = opts.narrator ?? silentNarrator;
  const backend = await startUpdateBackend({
    device: opts.device,
    releases: [],
    narrator,
    operatorToken: opts.lab.operatorToken,
    migration: { device: opts.target, releases: [opts.to] },
  });
  const results: OnexCutResult[] = [];
  try {
    for (const point of opts.points ?? ONEX_CUT_POINTS) {
      const started = await startDevice({
        lab: opts.lab,
        device: opts.device,
        release: opts.from,
        name: `cut-${point.name.replace(/[^a-z0-9-]/g, '-')}`,
        narrator,
        config: backend.newDeviceConfig(),
        storageMiB: opts.storageMiB,
      });
      const { device } = started;
      try {
        const before = await onexFacts(device);
        const ssh = await device.ssh();
        await ssh.putFile(backend.migration!.updater.path, ONEX_MIGRATE_PATH);
        const mark = device.console.mark();
        const t0 = Date.now();
        // Detached: the session must not hold the run, which the cut ends anyway.
        await ssh.execOk(
          `setsid sh -c '${onexMigrateCommand({ to: opts.to })} > /tmp/migrate.out 2>&1' < /dev/null > /dev/null 2>&1 &`,
        );
        await device.console.expect(stepLine(point.step, 'start'), {
          since: mark,
          timeoutMs: 10 * 60_000,
          what: `cut point ${point.name}`,
        });
        if (point.delayMs) await new Promise((r) => setTimeout(r, point.delayMs));
        await narrator.step(`cut the power at ${point.name}`, () => device.powerCut());
        const toCut = (Date.now() - t0) / 1000;
        const on = Date.now();
        const sinceOn = device.console.mark();
        await device.powerOn();
        let after: OnexDeviceFacts | undefined;
        try {
          await device.waitForOs({ since: sinceOn, timeoutMs: 5 * 60_000 });
          // On 2.x the supervisor fetches the application the migration removed: read after it.
          after = point.expect === '2x' ? await waitForApplication(device) : await onexFacts(device);
        } catch {
          after = undefined;
        }
        const checks = judgeCut(point, opts.from, opts.to, before, after);
        results.push({
          point,
          booted: after ? { version: after.version, root: after.rootLabel } : undefined,
          before,
          ...(after ? { after } : {}),
          checks,
          ok: checks.every((c) => c.ok),
          seconds: { toCut, toBoot: (Date.now() - on) / 1000 },
        });
      } finally {
        await device.force('off').catch(() => {});
        await device.close();
      }
    }
  } finally {
    await backend.services.stop();
  }
  return results;
}

/** One line per point: where it was cut, what booted, what held. */
export function describeOnexCuts(results: OnexCutResult[]): string[] {
  return results.map(
    (r) =>
      `${r.ok ? 'ok  ' : 'FAIL'} ${r.point.name.padEnd(18)} ${r.point.expect.padEnd(17)} booted ${r.booted ? `${r.booted.version} from ${r.booted.root}` : 'nothing'}; ${r.checks.map((c) => `${c.ok ? '' : 'NOT '}${c.what} (${c.detail})`).join('; ')}`,
  );
}
