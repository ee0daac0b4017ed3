import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { updateState } from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { inspectDevice } from '../device/inspect.ts';
import { FAULTS, type Fault } from '../faults/index.ts';
import { verdictFor } from '../faults/scenario.ts';
import { expectSuccess } from '../update/verdict.ts';
import { parseRecords } from '../update/records.ts';
import type { Lab } from '../lab.ts';
import { capability } from '../driver/capabilities.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { installUpdater, rebootAsTheUpdater, runUpdater, startUpdater } from '../update/launch.ts';
import type { TimelineEntry } from '../console/timeline.ts';
import {
  cutPoints,
  rollbackCutPoints,
  ROLLBACK_SCENARIOS,
  selectPoints,
  type CampaignKind,
  type CutPoint,
} from './cut-points.ts';
import { followUntilSettled, readyForUpdate, stateFiles } from '../update/follow.ts';
import { startUpdateBackend, type UpdateBackend } from '../backend/update-backend.ts';
import type { ExternalRegistry } from '../backend/external-registry.ts';
import { updateDevice } from '../update/standard.ts';
import { startDevice } from '../device/start.ts';
import type { StartedDevice } from '../device/boot.ts';
import { runPool } from './pool.ts';
import { restoreDevice, saveDevice, type SavedDevice } from '../device/saved.ts';

/**
 * The power-cut campaign: the same standard HUP on fresh devices, the power cut at a different
 * point each time (a volatile-cache disk, so unflushed writes are lost as on a device), the device
 * powered on again with no help, and what must hold checked: an OS boots (old or new, never
 * neither), SSH answers, the bootloader env agrees with the running root, /data holds every record
 * flushed before the cut, and a device back on the old OS takes the same update again.
 *
 * The rollback campaign does the same on the rollback paths: each device is driven into a
 * rollback by a fault (health-fail: rollback-health; unbootable-root: GRUB's boot counting, then
 * rollback-altboot) and the power is cut inside that rollback. There the device must come back on
 * the old OS, knowing it rolled back, and then take the update (without the fault).
 */
export interface CutOutcome {
  point: string;
  phase: CutPoint['phase'];
  /** The fault driving the device down a rollback path, for rollback-campaign points. */
  scenario?: string;
  describe: string;
  /** Seconds from the updater's start to the cut. */
  cutAtSeconds: number;
  /** Unflushed 4 KiB blocks the cut dropped. */
  lostBlocks: number;
  booted: 'old' | 'new' | 'none';
  version: string;
  root: string;
  /** Seconds from power-on to the device settled (committed, rolled back, or idle on the old OS). */
  recoverSeconds: number;
  env: string;
  envConsistent: boolean;
  dataIntact: boolean;
  dataDetail: string;
  /** Which rollback the device recorded (rollback-*-triggered), if any. */
  rollback: 'health' | 'altboot' | 'none';
  /**
   * The point could not be run (the lab failed, not the device: an SSH hiccup before the cut, a
   * backend that went away). Counted as a failure, never shown as a device result.
   */
  notRun?: boolean;
  /** After a comeback on the old OS: the same update again. */
  retry: 'ok' | 'failed' | 'not needed';
  ok: boolean;
  problems: string[];
  keptDisk?: string;
  serialLog: string;
  /** The device's uuid at the API: each point's own, a restored copy's included. */
  uuid: string;
}

/** An uncut run of a campaign's scenario: from the updater's start to committed (or rolled back). */
export interface ReferenceRun {
  scenario: string;
  seconds: number;
}

export interface CampaignResult {
  kind: CampaignKind;
  /** Devices that ran points at once. */
  workers: number;
  references: ReferenceRun[];
  device: string;
  from: string;
  to: string;
  seed: number;
  keep: 'none' | 'random';
  startedAt: string;
  wallSeconds: number;
  points: CutOutcome[];
  failures: number;
  /** Whether each point started from a saved device (else: flashed and cold-booted). */
  fromSaved: boolean;
  /** Seconds from the first point's start to the last one's end (saving the device included). */
  pointsSeconds: number;
  /** The reference runs' console timelines, by scenario ('update' or a fault's name). */
  timelines: Record<string, TimelineEntry[]>;
}

export interface CampaignOptions {
  lab: Lab;
  /** The lab's registry to pull from instead of the built-in ones. */
  external?: ExternalRegistry;
  device: string;
  from: string;
  to: string;
  /** Cuts across the update (default), or across its rollback paths. */
  kind?: CampaignKind;
  /** Seeded random points added to the fixed ones (update campaign). */
  random?: number;
  seed?: number;
  /** Only these points (names, or prefixes ending in '*'). */
  only?: string[];
  /** What happens to the unflushed cache at a cut: lost, or a seeded random half kept. */
  keep?: 'none' | 'random';
  outDir: string;
  narrator?: Narrator;
  /**
   * Run the uncut reference update first (default), which places the points inside long steps and
   * the random ones; without it only the points at console markers exist.
   */
  reference?: boolean;
  /** Reuse a started backend (suites); otherwise one is started and stopped here. */
  backend?: UpdateBackend;
  /** Called with each outcome as it is known (live table); with workers, in the order they end. */
  onPoint?: (o: CutOutcome, index: number, total: number) => void;
  /**
   * Devices at once (default 1: one point after the other). Each point has a device of its own
   * whatever this is, so a point's verdict does not depend on it; the outcomes keep the points'
   * order and each point keeps its seed (the campaign's seed + its index).
   */
  workers?: number;
  /**
   * Start each point from a saved device instead of a flash and a cold boot: one device is
   * booted, made ready for the update (application writing, updater installed) and saved
   * (machine state and disk); each point runs on a restored copy of it. Every point of both
   * campaigns begins there (the cuts in the boot and the boot counting come after the update's
   * reboot), so none needs a cold boot of its own.
   */
  fromSaved?: boolean;
  /**
   * The reference timelines of an earlier run (its result's `timelines`): no reference run, and
   * the same points as that run, placed alike (to run the same seeded points another way).
   */
  timelines?: Record<string, TimelineEntry[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const narrator = opts.narrator ?? silentNarrator;
  const seed = opts.seed ?? 1;
  const workers = opts.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 1)
    throw new HuplabError('option-invalid', `workers must be a whole number of at least 1, not ${workers}`, {
      hint: 'leave it out for one point at a time',
    });
  const started = Date.now();
  // The devices of the points running now: on an error, every worker's device is powered off.
  const live = new Set<StartedDevice>();
  await mkdir(opts.outDir, { recursive: true });
  const backend =
    opts.backend ??
    (await startUpdateBackend({
      device: opts.device,
      releases: [opts.from, opts.to],
      narrator,
      // The lab's token, as `huplab hup` uses: an operator can query this run's API by hand.
      operatorToken: opts.lab.operatorToken,
      ...(opts.external ? { external: opts.external } : {}),
    }));
  try {
    const kind = opts.kind ?? 'update';
    const references: ReferenceRun[] = [];
    const timelines: Record<string, TimelineEntry[]> = {};
    const timeline = async (fault: Fault | undefined) => {
      const key = fault?.name ?? 'update';
      timelines[key] = opts.timelines?.[key] ?? (await reference(opts, backend, fault, narrator, references));
      return timelines[key];
    };
    let all: CutPoint[];
    if (kind === 'update') {
      all = cutPoints(await timeline(undefined), {
        to: opts.to,
        random: opts.random ?? 0,
        seed,
      });
    } else {
      const refs: Partial<Record<(typeof ROLLBACK_SCENARIOS)[number], TimelineEntry[]>> = {};
      for (const name of ROLLBACK_SCENARIOS) refs[name] = await timeline(faultNamed(name));
      all = rollbackCutPoints(refs);
    }
    const points = selectPoints(all, opts.only);
    const pointsStarted = Date.now();
    let saved: SavedDevice | undefined;
    if (opts.fromSaved && points.length > 0)
      saved = await narrator.step('boot one device, make it ready for the update and save it', async () => {
        const d = await fresh(opts, backend, `saved-${kind}`);
        live.add(d);
        try {
          await readyForUpdate(d.device);
          await installUpdater(d.device, backend.updater, 'standard');
          return await saveDevice(d, join(opts.outDir, `saved-${kind}`));
        } finally {
          live.delete(d);
          // Its disk and state are in the saved folder now: its own folder goes, as a point's does.
          await retire(d);
        }
      });
    const outcomes = await runPool(points, workers, async (point, i) => {
      const o = await narrator.step(`cut ${i + 1}/${points.length}: ${point.name} (${point.describe})`, () =>
        cutOnce(opts, backend, point, seed + i, live, saved),
      );
      opts.onPoint?.(o, i, points.length);
      return o;
    });
    const result: CampaignResult = {
      kind,
      workers,
      references,
      device: opts.device,
      from: opts.from,
      to: opts.to,
      seed,
      keep: opts.keep ?? 'none',
      startedAt: new Date(started).toISOString(),
      wallSeconds: (Date.now() - started) / 1000,
      points: outcomes,
      failures: outcomes.filter((o) => !o.ok).length,
      fromSaved: !!saved,
      pointsSeconds: (Date.now() - pointsStarted) / 1000,
      timelines,
    };
    if (saved) await rm(saved.dir, { recursive: true, force: true });
    await writeFile(join(opts.outDir, 'powercut.json'), JSON.stringify(result, null, 2));
    return result;
  } catch (err) {
    await Promise.all([...live].map((d) => d.device.force('off').catch(() => undefined)));
    throw err;
  } finally {
    if (!opts.backend) await backend.services.stop();
  }
}

function faultNamed(name: string): Fault {
  const f = FAULTS.find((x) => x.name === name);
  if (!f)
    throw new HuplabError(
      'unknown-fault',
      `the rollback campaign needs fault ${name}, which harness/faults does not define`,
    );
  return f;
}

/**
 * The reference run: the same scenario uncut, whose console timeline places the points inside
 * long steps. It must do what it should (succeed, or roll back for a fault), or no cut can be judged.
 */
async function reference(
  opts: CampaignOptions,
  backend: UpdateBackend,
  fault: Fault | undefined,
  narrator: Narrator,
  refs: ReferenceRun[],
): Promise<TimelineEntry[]> {
  if (opts.reference === false) return [];
  const what = fault ? `${fault.name} (${fault.expect})` : 'the update';
  return narrator.step(
    `reference run of ${what}, no cut: the console timeline that places the cut points`,
    async () => {
      const d = await fresh(opts, backend, `ref-${fault?.name ?? 'update'}`);
      try {
        const o = await updateDevice({
          device: d.device,
          backend: backend,
          to: opts.to,
          uuid: d.record.uuid,
          logsDir: join(opts.outDir, `ref-${fault?.name ?? 'update'}-logs`),
          ...(fault?.device ? { hooks: fault.device } : {}),
        });
        const v = fault ? verdictFor(fault, o, backend) : expectSuccess(o);
        refs.push({ scenario: fault?.name ?? 'update', seconds: o.seconds.toCommit });
        if (!v.ok)
          throw new HuplabError(
            'reference-failed',
            `the uncut ${what} ${opts.from} -> ${opts.to} does not go as it should: ${v.checks
              .filter((c) => !c.ok)
              .map((c) => `${c.what} (${c.detail})`)
              .join('; ')}`,
            { hint: 'fix that first: `huplab hup`' },
          );
        return o.timeline;
      } finally {
        await retire(d);
      }
    },
  );
}

async function fresh(opts: CampaignOptions, backend: UpdateBackend, name: string): Promise<StartedDevice> {
  return startDevice({
    lab: opts.lab,
    device: opts.device,
    release: opts.from,
    name,
    config: backend.newDeviceConfig(),
    volatileCache: {},
  });
}

async function retire(d: StartedDevice): Promise<void> {
  await d.device.force('off').catch(() => undefined);
  d.device.close();
  await rm(d.device.paths.dir, { recursive: true, force: true }).catch(() => undefined);
}

async function cutOnce(
  opts: CampaignOptions,
  backend: UpdateBackend,
  point: CutPoint,
  seed: number,
  live: Set<StartedDevice>,
  saved: SavedDevice | undefined,
): Promise<CutOutcome> {
  const name = `cut-${point.name.replace(/[^a-z0-9-]/gi, '_')}`;
  const d = saved
    ? await restoreDevice(opts.lab, saved, name, backend.newDeviceConfig())
    : await fresh(opts, backend, name);
  live.add(d);
  try {
    return await cutOn(opts, backend, point, seed, d, name, !saved);
  } finally {
    live.delete(d);
  }
}

async function cutOn(
  opts: CampaignOptions,
  backend: UpdateBackend,
  point: CutPoint,
  seed: number,
  d: StartedDevice,
  name: string,
  install: boolean,
): Promise<CutOutcome> {
  const { device } = d;
  const problems: string[] = [];
  const fault = point.scenario ? faultNamed(point.scenario) : undefined;
  // The application must be writing before the update starts: its records are the data checked.
  await readyForUpdate(device);
  // A restored device has it already: it was installed before the device was saved.
  if (install) await installUpdater(device, backend.updater, 'standard');
  if (fault?.device?.beforeUpdate) await fault.device.beforeUpdate(device);
  const mark = device.console.mark();
  const t0 = Date.now();
  // The last record seen: every record before it was fsynced before it was written (the app
  // writes the next one only after its fsync), so all of those must survive any cut.
  let lastSeen = 0;
  const watch = setInterval(() => {
    void device
      .ssh()
      .then((s) => s.exec('tail -n 1 /mnt/data/demo-app/records.log', { timeoutMs: 3000, connectTimeoutMs: 3000 }))
      .then((r) => {
        const seq = Number(r.stdout.split(' ')[0]);
        if (seq > lastSeen) lastSeen = seq;
      })
      .catch(() => undefined);
  }, 1000);
  let cutAtSeconds = NaN;
  let lostBlocks = 0;
  try {
    await startUpdate(device, opts.to, fault);
    await device.console.expect(point.marker, {
      since: mark,
      timeoutMs: 8 * 60_000,
      what: `cut point ${point.name} (${point.marker})`,
    });
    await sleep(point.delayMs);
    clearInterval(watch);
    const safeSeq = lastSeen - 1;
    const cut = await capability(device, 'volatileDisk').powerCut({ keep: opts.keep ?? 'none', seed });
    cutAtSeconds = (Date.now() - t0) / 1000;
    lostBlocks = cut.lostBlocks;

    // Power on again, with no help, and let the device settle.
    const on = Date.now();
    const sinceOn = device.console.mark();
    await device.powerOn();
    try {
      await device.waitForOs({ since: sinceOn, timeoutMs: 6 * 60_000 });
      await followUntilSettled(device, Date.now() + 5 * 60_000, `the device after a cut at ${point.name}`);
    } catch (err) {
      problems.push(`no OS came back: ${(err as Error).message.split('\n')[0]}`);
      return await finish(opts, d, point, {
        cutAtSeconds,
        lostBlocks,
        booted: 'none',
        version: '',
        root: '',
        recoverSeconds: (Date.now() - on) / 1000,
        env: '',
        envConsistent: false,
        dataIntact: false,
        dataDetail: 'not checked',
        rollback: 'none',
        retry: 'not needed',
        problems,
      });
    }
    const recoverSeconds = (Date.now() - on) / 1000;
    const facts = await inspectDevice(device);
    const booted = facts.version === opts.to ? 'new' : facts.version === opts.from ? 'old' : 'none';
    if (booted === 'none') problems.push(`runs ${facts.version}, neither ${opts.from} nor ${opts.to}`);
    const slot = facts.root.slice(-1);
    const envConsistent = facts.bootEnv.resin_root_part === slot && facts.bootEnv.upgrade_available === '0';
    const env = Object.entries(facts.bootEnv)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    if (!envConsistent) problems.push(`bootloader env (${env}) does not settle on the running root ${facts.root}`);
    if (facts.bootFilesMismatch.length)
      problems.push(`boot files are not those of the running OS: ${facts.bootFilesMismatch.join(' ')}`);
    const data = checkRecords(await (await device.ssh()).execOk('cat /mnt/data/demo-app/records.log'), safeSeq);
    if (!data.ok) problems.push(`/data: ${data.detail}`);
    const files = await stateFiles(device);
    const { rolledBack } = updateState(files);
    const rollback = rolledBack.health ? 'health' : rolledBack.altboot ? 'altboot' : 'none';
    if (fault) {
      // On a rollback path the new OS is broken: only the old one is a good end, and the device
      // must know it rolled back, or nobody hears that the update failed.
      if (booted !== 'old')
        problems.push(
          `came back on ${facts.version || 'nothing'}: after a cut on the ${fault.name} rollback path only ${opts.from} is right`,
        );
      if (rollback === 'none')
        problems.push(`no rollback recorded (rollback-*-triggered): ${files.join(' ') || 'no state files'}`);
    }
    let retry: CutOutcome['retry'] = 'not needed';
    if (booted === 'old') {
      // The retry is the update itself: whatever the fault did to the device is taken away first.
      if (fault?.device?.undo) await fault.device.undo(device);
      const again = await updateDevice({
        device,
        backend: backend,
        to: opts.to,
        uuid: d.record.uuid,
        logsDir: join(opts.outDir, name, 'retry-logs'),
      }).catch((err: Error) => err);
      const v = again instanceof Error ? undefined : expectSuccess(again);
      retry = v?.ok ? 'ok' : 'failed';
      if (!v?.ok)
        problems.push(
          `the same update again failed: ${
            again instanceof Error
              ? again.message.split('\n')[0]
              : v!.checks
                  .filter((c) => !c.ok)
                  .map((c) => `${c.what} (${c.detail})`)
                  .join('; ')
          }`,
        );
    }
    return await finish(opts, d, point, {
      cutAtSeconds,
      lostBlocks,
      booted,
      version: facts.version,
      root: facts.root,
      recoverSeconds,
      env,
      envConsistent,
      dataIntact: data.ok,
      dataDetail: data.detail,
      rollback,
      retry,
      problems,
    });
  } catch (err) {
    clearInterval(watch);
    problems.push(`the campaign could not run this point: ${(err as Error).message.split('\n')[0]}`);
    return await finish(opts, d, point, {
      notRun: true,
      cutAtSeconds,
      lostBlocks,
      booted: 'none',
      version: '',
      root: '',
      recoverSeconds: NaN,
      env: '',
      envConsistent: false,
      dataIntact: false,
      dataDetail: 'not checked',
      rollback: 'none',
      retry: 'not needed',
      problems,
    });
  }
}

/**
 * Starts the update the way the point's scenario wants it: straight, or, for a fault that acts
 * between the updater and its reboot, the updater without its reboot, the fault, then the reboot
 * the updater would have made.
 */
async function startUpdate(device: DeviceDriver, to: string, fault: Fault | undefined): Promise<void> {
  const between = fault?.device?.beforeReboot;
  if (!between) {
    await startUpdater(device, { kind: 'standard', to });
    return;
  }
  const r = await runUpdater(device, { kind: 'standard', to, noReboot: true }, { timeoutMs: 6 * 60_000 });
  if (r.code !== 0) {
    const why =
      r.stdout
        .split('\n')
        .filter((l) => / failed /.test(l))
        .at(-1) ?? `exit ${r.code}`;
    throw new HuplabError('scenario-failed', `the updater failed before fault ${fault!.name} could act: ${why}`);
  }
  await between(device);
  await rebootAsTheUpdater(device, r);
}

/**
 * Every record up to the last one surely fsynced before the cut is there, once, in order; any
 * later ones (written after the comeback) continue the sequence. A torn last line before the cut
 * is allowed (the application ends it); a missing flushed record is not.
 */
export function checkRecords(text: string, safeSeq: number): { ok: boolean; detail: string } {
  const recs = parseRecords(text);
  const seqs = recs.map((r) => r.seq);
  const missing: number[] = [];
  const present = new Set(seqs);
  for (let s = 1; s <= safeSeq; s++) if (!present.has(s)) missing.push(s);
  const dupes = seqs.length - present.size;
  const ordered = seqs.every((s, i) => i === 0 || s > seqs[i - 1]!);
  const ok = missing.length === 0 && dupes === 0 && ordered;
  const detail = ok
    ? `${seqs.length} records, all ${safeSeq} flushed before the cut present, in order`
    : `${missing.length ? `missing ${missing.slice(0, 5).join(',')}${missing.length > 5 ? '...' : ''} ` : ''}${dupes ? `${dupes} duplicates ` : ''}${ordered ? '' : 'out of order'}`.trim();
  return { ok, detail };
}

async function finish(
  opts: CampaignOptions,
  d: StartedDevice,
  point: CutPoint,
  r: Omit<CutOutcome, 'point' | 'phase' | 'describe' | 'ok' | 'serialLog' | 'uuid'>,
): Promise<CutOutcome> {
  const ok = r.problems.length === 0;
  const dir = join(opts.outDir, `cut-${point.name.replace(/[^a-z0-9-]/gi, '_')}`);
  await mkdir(dir, { recursive: true });
  const serialLog = join(dir, 'serial.log');
  await copyFile(d.device.paths.serialLog, serialLog).catch(() => undefined);
  let keptDisk: string | undefined;
  await d.device.force('off').catch(() => undefined);
  if (!ok) {
    // For a person to replay: `huplab device start --disk <file>`.
    keptDisk = join(dir, 'disk.img');
    await execa('cp', ['--sparse=always', d.record.disk, keptDisk]).catch(() => {
      keptDisk = undefined;
    });
  }
  d.device.close();
  await rm(d.device.paths.dir, { recursive: true, force: true }).catch(() => undefined);
  return {
    point: point.name,
    phase: point.phase,
    ...(point.scenario ? { scenario: point.scenario } : {}),
    describe: point.describe,
    ...r,
    ok,
    serialLog,
    uuid: d.record.uuid,
    ...(keptDisk ? { keptDisk } : {}),
  };
}
