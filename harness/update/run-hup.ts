import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildImage, type ReleaseBuild } from '../../images/builder/index.ts';
import { buildRelease } from '../../images/builder/release-build.ts';
import { loadRelease } from '../../images/recipe.ts';
import { HuplabError } from '../../lib/errors.ts';
import { loadProfile, type Profile } from '../../lib/profile.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { startBackend, type Backend } from '../backend/index.ts';
import { startDevice } from '../device/session.ts';
import { inspectDevice, type DeviceFacts } from '../device/inspect.ts';
import type { Lab } from '../lab.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { deltaBetween, TAKEOVER_TOOLS, takeoverTool, updaterBundle } from '../backend/artifacts.ts';
import { ADVANCED_ENTRY } from '../../updater/bundle.ts';
import { BOOT_FLASH_DIR, type BootFlashManifest } from '../../images/builder/boot-flash.ts';
import { exportRawImage } from '../../images/builder/raw-image.ts';
import { parseDownload, parseSteps } from './updater-output.ts';
import { runDetached } from '../device/detached-run.ts';
import { analyseRecords, type RecordsAnalysis } from './records.ts';
import { findFault } from '../faults/index.ts';
import { ConsoleTimeline, type TimelineEntry } from '../console/timeline.ts';
import { runScenario, scenarioReleases } from '../faults/scenario.ts';
import type { Verdict } from './verdict.ts';
import { rebootFromShell } from '../faults/device-actions.ts';

/** Shortened rollback-health timings for the lab (the field default is 60 s + 15 x 60 s). */
export const LAB_ROLLBACK_TIMINGS = { initialDelaySec: 5, intervalSec: 5, attempts: 6 };

export interface UpdateBackend {
  /** The API, the registries and the delta service. */
  services: Backend;
  profile: Profile;
  builds: Map<string, ReleaseBuild>;
  updater: { path: string; sha256: string };
  /** config.json fields that point a device at this backend. */
  deviceConfig: Record<string, string>;
  /** The OS line an advanced update leads to, when the lab publishes one. */
  advanced?: { profile: Profile; builds: Map<string, ReleaseBuild>; updater: { path: string; sha256: string } };
}

/**
 * Starts the backend with the given releases published (hostapps, deltas between them, updater).
 * With `advanced`, also the releases of another profile of the same board (JetPack 5 for a
 * JetPack 4 device, a Pi's 64-bit OS for its 32-bit one), each with its raw disk image for the
 * advanced update, and the advanced updater and its tools.
 */
export async function startUpdateBackend(opts: {
  device: string;
  releases: string[];
  narrator?: Narrator;
  deltas?: boolean;
  /** `images`: the releases to serve raw disk images of (default: all of them). */
  advanced?: { device: string; releases: string[]; images?: string[] };
}): Promise<UpdateBackend> {
  const narrator = opts.narrator ?? silentNarrator;
  const profile = await loadProfile(opts.device);
  const target = opts.advanced ? await loadProfile(opts.advanced.device) : undefined;
  const updater = await narrator.step('bundle the updater', () => updaterBundle());
  const advancedUpdater = target
    ? await narrator.step('bundle the advanced updater', () => updaterBundle(ADVANCED_ENTRY, 'hup-advanced'))
    : undefined;
  // Takeover's native tools run on the device's kernel (a 32-bit Pi OS runs on the board's 64-bit kernel here).
  const kernelArch = profile.kernel.arch ?? profile.arch;
  const tools = target
    ? await narrator.step(`build takeover's tools for ${kernelArch}`, async () =>
        Promise.all(TAKEOVER_TOOLS.map((t) => takeoverTool(t, kernelArch))),
      )
    : [];
  const backend = await narrator.step('start the backend (API, registries, delta service)', () =>
    startBackend({
      updaterBundlePath: updater.path,
      ...(advancedUpdater ? { advancedUpdaterPath: advancedUpdater.path } : {}),
      ...(tools.length ? { takeoverTools: Object.fromEntries(tools.map((t) => [t.name, t.path])) } : {}),
    }),
  );
  try {
    const builds = await publishLine(backend, profile, opts.releases, narrator, opts.deltas !== false);
    let advanced: UpdateBackend['advanced'];
    if (target && opts.advanced) {
      const targetBuilds = await publishLine(backend, target, opts.advanced.releases, narrator, opts.deltas !== false);
      for (const version of opts.advanced.images ?? opts.advanced.releases) {
        const raw = await narrator.step(`raw disk image of ${version} for ${target.name} (advanced update)`, async () =>
          exportRawImage((await buildImage({ device: target.name, release: version, narrator })).disk),
        );
        await backend.api.addOsImage({
          deviceType: target.deviceType,
          version,
          file: raw.file,
          sha256: raw.sha256,
          compression: raw.compression === 'gzip' ? 'gzip' : undefined,
          format: raw.format,
          raw: { sha256: raw.rawSha256, size: raw.rawSize },
        });
      }
      advanced = { profile: target, builds: targetBuilds, updater: advancedUpdater! };
    }
    const g = backend.guestUrls;
    return {
      services: backend,
      profile,
      builds,
      updater,
      ...(advanced ? { advanced } : {}),
      deviceConfig: {
        apiEndpoint: g.api,
        registryEndpoint: g.primaryRegistry,
        fallbackRegistryEndpoint: g.fallbackRegistry,
        deltaEndpoint: g.delta,
      },
    };
  } catch (err) {
    await backend.stop();
    throw err;
  }
}

/** Builds and publishes one profile's releases (hostapps, and the deltas between them). */
async function publishLine(
  backend: Backend,
  profile: Profile,
  versions: string[],
  narrator: Narrator,
  deltas: boolean,
): Promise<Map<string, ReleaseBuild>> {
  const builds = new Map<string, ReleaseBuild>();
  for (const v of versions) builds.set(v, await buildRelease(profile, await loadRelease(v), narrator));
  for (const [version, b] of builds) {
    const recipe = await loadRelease(version);
    const flashManifest = join(b.rootfsDir, BOOT_FLASH_DIR, 'boot-flash.json');
    const bootFlash = existsSync(flashManifest)
      ? (JSON.parse(await readFile(flashManifest, 'utf8')) as BootFlashManifest)
      : undefined;
    await backend.publishRelease({
      deviceType: profile.deviceType,
      version,
      supervisorVersion: recipe.supervisorVersion,
      layout: recipe.layout,
      arch: profile.arch,
      hostappDir: b.hostapp.dir,
      manifestDigest: b.hostapp.manifest.digest,
      ...(bootFlash
        ? {
            bootFlash: {
              file: bootFlash.file,
              sha256: bootFlash.sha256,
              size: bootFlash.size,
              physBase: bootFlash.physBase,
              bankBytes: bootFlash.bankBytes,
            },
          }
        : {}),
    });
  }
  if (deltas) {
    const list = [...builds.values()];
    for (const from of list) {
      for (const to of list) {
        if (from === to) continue;
        const file = await narrator.step(`make the delta ${from.version} -> ${to.version}`, () =>
          deltaBetween(from, to),
        );
        await backend.delta.addDelta({ src: from.hostapp.manifest.digest, dest: to.hostapp.manifest.digest, file });
      }
    }
  }
  return builds;
}

/** What a fault acting during the update can use: the lab, the device's uuid, the console mark of the start. */
export interface UpdateContext {
  backend: UpdateBackend;
  uuid: string;
  since: number;
  /** Aborted when the updater exits: a hook waiting for a moment that will never come stops. */
  updaterExited: AbortSignal;
}

/** Facts a fault measured while acting (e.g. how long the reboot waited on a lock), kept in the outcome. */
export type FaultFacts = Record<string, string | number | boolean | null>;

/** Fault hooks that act on the device around the updater run. */
export interface DeviceHooks {
  beforeUpdate?: (device: DeviceDriver) => Promise<void>;
  /** Runs with the updater (which is then run with --no-reboot), between its end and the reboot. */
  beforeReboot?: (device: DeviceDriver) => Promise<void>;
  /** Runs alongside the updater, from its start until the hook returns. */
  whileUpdating?: (device: DeviceDriver, ctx: UpdateContext) => Promise<FaultFacts | void>;
  /** Takes the fault away from the device again, so that a later update can succeed. */
  undo?: (device: DeviceDriver) => Promise<void>;
}

export interface StepTiming {
  step: string;
  seconds: number;
  detail: string;
}

export interface UpdateOutcome {
  to: string;
  exitCode: number | null;
  /** False when the device rebooted before the updater's exit status was recorded (exitCode is then read from its output). */
  exitRecorded: boolean;
  before: DeviceFacts;
  after: DeviceFacts;
  steps: StepTiming[];
  failedStep?: string;
  failure?: string;
  rebooted: boolean;
  /** Boots the bootloader started from the updater's start to the end (a rollback adds its own). */
  reboots: number;
  committed: boolean;
  rollback: { health: boolean; altboot: boolean; healthFailed: boolean };
  breadcrumbs: string[];
  download: { source: string; kind: string; bytes: number } | undefined;
  progress: Array<{ percent: number; message: string; status?: string; at?: string }>;
  records: RecordsAnalysis;
  logs: string[];
  seconds: { update: number; toCommit: number };
  updaterOutput: string;
  /** What the fault's hooks measured, if any. */
  faultFacts: FaultFacts;
  /** The console from the updater's start to the end (cleaned text). */
  console: string;
  /** Console marker lines (bootloader, OS, updater steps) with seconds since the updater started. */
  timeline: TimelineEntry[];
}

/**
 * Longest an updater run may take, download retries included: well past the slowest fault seen
 * (network-drop, about 2.5 min under load) and inside a test's budget, so a hang is reported as
 * what it is, not as a test timeout.
 */
const UPDATER_TIMEOUT_MS = 6 * 60_000;

const STATE_FILES = [
  'rollback-health-breadcrumb',
  'rollback-altboot-breadcrumb',
  'rollback-health-triggered',
  'rollback-altboot-triggered',
  'rollback-health-failed',
];

/**
 * Follows the device until no rollback breadcrumb is left (rollback-health committed, or a
 * rollback brought the old OS back), following every reboot on the way. True when it committed.
 */
export async function followUntilSettled(device: DeviceDriver, deadline: number, what: string): Promise<boolean> {
  let seen = device.console.mark();
  for (;;) {
    // A rollback reboots the device again: follow that boot before looking at the state.
    if (/\[huplab\] (shutting down|bootloader: booting)/.test(device.console.text(seen))) {
      await device.waitForOs({ since: seen, timeoutMs: 240_000 });
      seen = device.console.mark();
    }
    const files = await stateFiles(device).catch(() => undefined);
    if (files && !files.includes('rollback-health-breadcrumb') && !files.includes('rollback-altboot-breadcrumb')) {
      const committed = !files.some((f) => f.endsWith('triggered') || f.endsWith('failed'));
      // A rollback reboots once it has cleared its breadcrumbs: let that reboot happen and follow
      // it (the top of the loop), or whoever uses the device next meets it going down. (It used
      // to return at once when the shutdown was already on the console: seen on jetson-xavier-jp4,
      // whose rollback-health reboots sooner after clearing than GRUB's timing had shown.)
      const rebooting = () => /\[huplab\] (shutting down|bootloader: booting)/.test(device.console.text(seen));
      // rollback-health announces its reboot in its last marker ("...; rebooting"); the shutdown
      // can come many seconds later on a slow board (raspberrypi3 under load: over 5 s, and the
      // logs were then read from a data partition being unmounted).
      const announced = () => /\[hup\] step rollback-[\w-]+ failed [^\n]*rebooting/.test(device.console.text(seen));
      if (!committed) {
        const quietUntil = Date.now() + 5_000;
        while (!rebooting() && (Date.now() < quietUntil || (announced() && Date.now() < deadline))) {
          await new Promise((res) => setTimeout(res, 1_000));
        }
        if (rebooting()) continue;
        if (announced())
          throw new HuplabError('commit-timeout', `${what}: rollback-health announced a reboot that did not come`, {
            hint: `see ${device.paths.serialLog}`,
          });
      }
      return committed;
    }
    if (Date.now() > deadline)
      throw new HuplabError('commit-timeout', `${what} neither committed nor rolled back in time`, {
        hint: `see ${device.paths.serialLog}`,
      });
    await new Promise((res) => setTimeout(res, 3_000));
  }
}

export async function stateFiles(device: DeviceDriver): Promise<string[]> {
  const ssh = await device.ssh();
  const r = await ssh.exec(`cd /mnt/state && ls ${STATE_FILES.join(' ')} 2>/dev/null`);
  return r.stdout.trim().split('\n').filter(Boolean);
}

/**
 * Gets a running device ready for an update: rollback-health's timings for the lab, and the
 * application writing, so that continuity up to the reboot and the downtime are measured on a
 * running application, not one that is still starting.
 */
export async function readyForUpdate(device: DeviceDriver, timings = LAB_ROLLBACK_TIMINGS): Promise<void> {
  const ssh = await device.ssh();
  await ssh.execOk(`printf '%s' '${JSON.stringify(timings)}' > /mnt/state/rollback-health.json && sync`);
  const appDeadline = Date.now() + 90_000;
  while (
    Number((await ssh.exec('wc -l < /mnt/data/demo-app/records.log 2>/dev/null || echo 0')).stdout.trim() || 0) < 3
  ) {
    if (Date.now() > appDeadline)
      throw new HuplabError(
        'app-not-running',
        'the demo application wrote fewer than 3 records in 90 s before the update',
        { hint: `see ${device.paths.serialLog}` },
      );
    await new Promise((res) => setTimeout(res, 1_000));
  }
}

/**
 * Runs a standard HUP on a running device through the backend, as the seeds describe: the
 * updater is handed over SSH and run; then the device is followed across its reboot until the
 * new OS commits (or a rollback brings the old one back), and everything is collected.
 */
export async function updateDevice(opts: {
  device: DeviceDriver;
  backend: UpdateBackend;
  to: string;
  uuid: string;
  narrator?: Narrator;
  timings?: typeof LAB_ROLLBACK_TIMINGS;
  commitTimeoutMs?: number;
  logsDir: string;
  /** Fault hooks: before the updater runs, and between the updater and the reboot. */
  hooks?: DeviceHooks;
}): Promise<UpdateOutcome> {
  const narrator = opts.narrator ?? silentNarrator;
  const { device } = opts;
  const timings = opts.timings ?? LAB_ROLLBACK_TIMINGS;
  const ssh = await device.ssh();
  await readyForUpdate(device, timings);
  const before = await inspectDevice(device);
  const recordsBefore = await ssh.execOk('cat /mnt/data/demo-app/records.log 2>/dev/null || true');
  await ssh.putFile(opts.backend.updater.path, '/tmp/hup.mjs');
  if (opts.hooks?.beforeUpdate) await opts.hooks.beforeUpdate(device);
  const mark = device.console.mark();
  const timeline = new ConsoleTimeline(device.paths.serialLog, mark).start();
  const started = Date.now();
  try {
    // A fault aimed between the updater and the reboot runs the updater with --no-reboot, acts,
    // and reboots the device itself, the way the updater would have.
    const between = opts.hooks?.beforeReboot;
    const exited = new AbortController();
    const updater = runDetached(
      device,
      `/usr/bin/node /tmp/hup.mjs --hostos-version ${opts.to}${between ? ' --no-reboot' : ''}`,
      { timeoutMs: UPDATER_TIMEOUT_MS },
    ).finally(() => exited.abort(new HuplabError('updater-exited', 'the updater exited before the fault could act')));
    // A hook that fails does not hide the update's outcome: its error becomes a fact the verdict fails on.
    const during = opts.hooks
      ?.whileUpdating?.(device, { backend: opts.backend, uuid: opts.uuid, since: mark, updaterExited: exited.signal })
      .catch((err: unknown): FaultFacts => ({ hookError: err instanceof HuplabError ? err.oneLine() : String(err) }));
    // Whatever the hook does, the updater's end is awaited too, so that a failing hook never leaves
    // an update running unobserved.
    const [r, facts] = await narrator.step(`run the updater: ${before.version} -> ${opts.to}`, () =>
      Promise.all([updater, during ?? Promise.resolve()]),
    );
    if (between && r.code === 0) {
      await between(device);
      await rebootFromShell(device);
      r.stdout += '\n[hup] step reboot done (0.0s) rebooted by the harness after the fault\n';
    }
    const updateSeconds = (Date.now() - started) / 1000;
    // The reboot step is the updater's last: once it is done the updater returns 0. When the
    // device's reboot outran the wrapper that records the status, that is the status it had.
    const exitCode = r.code ?? (r.endedByReboot && /\[hup\] step reboot done/.test(r.stdout) ? 0 : null);
    const steps = parseSteps(r.stdout);
    const failed = /\[hup\] step (\S+) failed (.*)$/m.exec(r.stdout);
    let rebooted = false;
    let committed = false;
    if (exitCode === 0 && /\[hup\] step reboot done/.test(r.stdout)) {
      await narrator.step('follow the reboot into the new OS', () =>
        device.waitForOs({ since: mark, timeoutMs: 240_000 }),
      );
      rebooted = true;
      const deadline =
        Date.now() +
        (opts.commitTimeoutMs ?? (timings.initialDelaySec + timings.attempts * timings.intervalSec + 120) * 1000);
      committed = await narrator.step('wait for rollback-health to commit or roll back', () =>
        followUntilSettled(device, deadline, `the update to ${opts.to}`),
      );
    }
    const toCommit = (Date.now() - started) / 1000;
    const consoleTimeline = timeline.stop();
    const after = await inspectDevice(device);
    const files = await stateFiles(device);
    const logs = await collectLogs(device, opts.logsDir);
    const recordsAfter = await (await device.ssh()).execOk('cat /mnt/data/demo-app/records.log');
    const history = await fetchProgress(opts.backend, opts.uuid);
    const download = parseDownload(r.stdout);
    const consoleText = device.console.text(mark);
    const reboots = consoleText.match(/\[huplab\] bootloader: booting/g)?.length ?? 0;
    return {
      to: opts.to,
      exitCode,
      exitRecorded: !r.endedByReboot,
      before,
      after,
      steps,
      rebooted,
      reboots,
      committed,
      faultFacts: facts ?? {},
      console: consoleText,
      timeline: consoleTimeline,
      ...(failed ? { failedStep: failed[1]!, failure: failed[2]! } : {}),
      rollback: {
        health: files.includes('rollback-health-triggered'),
        altboot: files.includes('rollback-altboot-triggered'),
        healthFailed: files.includes('rollback-health-failed'),
      },
      breadcrumbs: files.filter((f) => f.endsWith('breadcrumb')),
      download,
      progress: history,
      records: analyseRecords(recordsBefore, recordsAfter),
      logs,
      seconds: { update: updateSeconds, toCommit },
      updaterOutput: r.stdout + r.stderr,
    };
  } finally {
    timeline.stop();
  }
}

/** Copies the updater logs of /mnt/data/balenahup into `dir`. */
export async function collectLogs(device: DeviceDriver, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const ssh = await device.ssh();
  const list = (await ssh.exec('ls /mnt/data/balenahup/*.log 2>/dev/null')).stdout.trim().split('\n').filter(Boolean);
  const out: string[] = [];
  for (const remote of list) {
    const local = join(dir, remote.split('/').at(-1)!);
    await ssh.getFile(remote, local);
    out.push(local);
  }
  return out;
}

/** The progress history the API holds for a device (empty when it cannot be read). */
export async function fetchProgress(backend: UpdateBackend, uuid: string): Promise<UpdateOutcome['progress']> {
  try {
    const r = await fetch(`${backend.services.urls.api}/v1/devices/${uuid}`);
    const body = (await r.json()) as { history?: UpdateOutcome['progress'] };
    return body.history ?? [];
  } catch {
    return [];
  }
}

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
  device: string;
  from: string;
  to: string;
  name?: string;
  narrator?: Narrator;
  fault?: string;
}): Promise<HupRun> {
  const narrator = opts.narrator ?? silentNarrator;
  const fault = opts.fault ? findFault(opts.fault) : undefined;
  const { start, target } = scenarioReleases(fault, opts.from, opts.to);
  const backend = await startUpdateBackend({ device: opts.device, releases: [...new Set([start, target])], narrator });
  try {
    await buildImage({ device: opts.device, release: start, narrator });
    const started = await startDevice({
      lab: opts.lab,
      device: opts.device,
      release: start,
      name: opts.name ?? 'hup',
      narrator,
      config: backend.deviceConfig,
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
