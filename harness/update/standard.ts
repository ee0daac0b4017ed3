/**
 * The standard HUP runner: the updater handed over SSH and run on a running device, fault hooks
 * around it, then the device followed across its reboot until the new OS commits (or a rollback
 * brings the old one back), and everything collected into an UpdateOutcome.
 */
import { basename } from 'node:path';
import { readFile } from 'node:fs/promises';
import { countBoots, findFailedStep, STANDARD_LOG_NAME_RE, stepLine, updateState } from '../../lib/contract/index.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import { ConsoleTimeline } from '../console/timeline.ts';
import { inspectDevice, type DeviceFacts } from '../device/inspect.ts';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { fetchProgress } from './api-progress.ts';
import { collectLogs } from './collect.ts';
import { followUntilSettled, LAB_ROLLBACK_TIMINGS, readyForUpdate, stateFiles } from './follow.ts';
import { analyseRecords } from './records.ts';
import type { DeviceHooks, FaultFacts, UpdateOutcome } from './types.ts';
import { uncountedPendingBoot } from './verdict.ts';
import { parseDownload, parseSteps } from './updater-output.ts';
import { installUpdater, rebootAsTheUpdater, runUpdater } from './launch.ts';

/**
 * Longest an updater run may take, download retries included: well past the slowest fault seen
 * (network-drop, about 2.5 min under load) and inside a test's budget, so a hang is reported as
 * what it is, not as a test timeout.
 */
const UPDATER_TIMEOUT_MS = 6 * 60_000;

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
  if (opts.hooks?.prepare) await opts.hooks.prepare(device);
  const before = await inspectDevice(device);
  const recordsBefore = await ssh.execOk('cat /mnt/data/demo-app/records.log 2>/dev/null || true');
  await installUpdater(device, opts.backend.updater, 'standard');
  if (opts.hooks?.beforeUpdate) await opts.hooks.beforeUpdate(device);
  const mark = device.console.mark();
  const timeline = new ConsoleTimeline(device.paths.serialLog, mark).start();
  const started = Date.now();
  try {
    // A fault aimed between the updater and the reboot runs the updater with --no-reboot, acts,
    // and reboots the device itself, the way the updater would have.
    const between = opts.hooks?.beforeReboot;
    const exited = new AbortController();
    const updater = runUpdater(
      device,
      { kind: 'standard', to: opts.to, noReboot: !!between },
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
      await rebootAsTheUpdater(device, r);
    }
    const updateSeconds = (Date.now() - started) / 1000;
    // The reboot step is the updater's last: once it is done the updater returns 0. When the
    // device's reboot outran the wrapper that records the status, that is the status it had.
    const exitCode = r.code ?? (r.endedByReboot && r.stdout.includes(stepLine('reboot', 'done')) ? 0 : null);
    const steps = parseSteps(r.stdout);
    const failed = findFailedStep(r.stdout);
    let rebooted = false;
    let committed = false;
    // A pending update the bootloader does not count is judged as soon as its first boot shows
    // it, not after the boot timeout: the device may never come up, or come up on either root.
    let uncounted = false;
    let down = false;
    if (exitCode === 0 && r.stdout.includes(stepLine('reboot', 'done'))) {
      rebooted = true;
      const up = await narrator.step('follow the reboot into the new OS', () =>
        followFirstBoot(device, mark, () => (uncounted = true)),
      );
      down = !up;
      if (up) {
        const deadline =
          Date.now() +
          (opts.commitTimeoutMs ?? (timings.initialDelaySec + timings.attempts * timings.intervalSec + 120) * 1000);
        committed = await narrator.step('wait for rollback-health to commit or roll back', () =>
          followUntilSettled(device, deadline, `the update to ${opts.to}`),
        );
      }
    }
    const toCommit = (Date.now() - started) / 1000;
    const consoleTimeline = timeline.stop();
    // After an uncounted boot the device may be unreachable: what cannot be read is reported so,
    // and a device that did not come up is not asked at all (each SSH attempt would wait out its timeout).
    const notUp = new HuplabError('device-down', 'the device did not come up after an uncounted boot');
    const orElse = <T>(read: () => Promise<T>, fallback: (err: unknown) => T): Promise<T> =>
      down ? Promise.resolve(fallback(notUp)) : uncounted ? read().catch(fallback) : read();
    const after = await orElse(
      () => inspectDevice(device),
      (err) => unreachableFacts(before, err),
    );
    const files = await orElse(
      () => stateFiles(device),
      () => [],
    );
    const logs = await orElse(
      () => collectLogs(device, opts.logsDir),
      () => [],
    );
    const recordsAfter = await orElse(
      () => device.ssh().then((ssh) => ssh.execOk('cat /mnt/data/demo-app/records.log')),
      () => '',
    );
    const history = await fetchProgress(opts.backend, opts.uuid);
    const updaterLog = await thisRunsLog(logs);
    const targetSupervisor = opts.backend.services.api
      .releases(opts.backend.profile.deviceType)
      .find((x) => x.version === opts.to)?.supervisorVersion;
    const download = parseDownload(r.stdout);
    const consoleText = device.console.text(mark);
    const reboots = countBoots(consoleText);
    const state = updateState(files);
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
      ...(failed ? { failedStep: failed.step, failure: failed.why } : {}),
      rollback: state.rolledBack,
      breadcrumbs: state.breadcrumbs,
      download,
      progress: history,
      records: analyseRecords(recordsBefore, recordsAfter),
      logs,
      seconds: { update: updateSeconds, toCommit },
      updaterOutput: r.stdout + r.stderr,
      updaterLog,
      ...(targetSupervisor ? { targetSupervisor } : {}),
    };
  } finally {
    timeline.stop();
  }
}

/**
 * The text of this run's update log among the collected ones: the newest standard updater log
 * (their names carry the start time, so the newest sorts last); '' when there is none.
 */
async function thisRunsLog(logs: string[]): Promise<string> {
  const newest = logs
    .filter((l) => STANDARD_LOG_NAME_RE.test(basename(l)))
    .sort((a, b) => basename(a).localeCompare(basename(b)))
    .at(-1);
  return newest ? readFile(newest, 'utf8').catch(() => '') : '';
}

/** How long a device whose pending boot was not counted is given to come up anyway (on either root). */
const UNCOUNTED_GRACE_MS = 30_000;

/**
 * Follows the first boot after the updater's reboot up to SSH. When the bootloader's first env
 * line shows the pending update is not counted (upgrade_available is not 1), `onUncounted` is
 * called at once and the device is given a short grace to come up; false when it did not.
 */
async function followFirstBoot(device: DeviceDriver, mark: number, onUncounted: () => void): Promise<boolean> {
  const booting = device.waitForOs({ since: mark, timeoutMs: 240_000 });
  let stop = false;
  const watch = (async () => {
    while (!stop) {
      if (uncountedPendingBoot(device.console.text(mark))) return 'uncounted' as const;
      await new Promise((res) => setTimeout(res, 500));
    }
    return 'up' as const;
  })();
  try {
    const first = await Promise.race([booting.then(() => 'up' as const), watch]);
    if (first === 'up') {
      // The OS came up before the watch saw the console line: judge the line anyway.
      if (uncountedPendingBoot(device.console.text(mark))) onUncounted();
      return true;
    }
    onUncounted();
    // The boot wait goes on in the background; its failure is the verdict's, not an error.
    booting.catch(() => {});
    const grace = new Promise<false>((res) => setTimeout(() => res(false), UNCOUNTED_GRACE_MS).unref());
    return await Promise.race([booting.then(() => true).catch(() => false), grace]);
  } finally {
    stop = true;
  }
}

/** The facts of a device that cannot be asked: the OS and root unknown, the reason kept. */
function unreachableFacts(before: DeviceFacts, err: unknown): DeviceFacts {
  const why = err instanceof HuplabError ? err.oneLine() : String(err);
  return {
    ...before,
    version: '',
    root: '',
    cmdlineRoot: '',
    bootEnv: { unreadable: `device unreachable: ${why}` },
    appRecords: 0,
    lastRecord: '',
    supervisorVersion: '',
    supervisorRunning: false,
    supervisorChoice: '',
    bootFilesMismatch: [],
  };
}
