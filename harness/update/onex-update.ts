/**
 * The resinOS 1.x -> 1.x update run on a running 1.x device: the updater copied over SSH and run
 * detached (as the field ran it), the device followed across its reboot, and what the verdict
 * needs collected: which root and release came up, the new root against its fingerprint, the
 * kept files, the log the field keeps on the data partition, the progress at the API, and for a
 * fault that must be refused the partitions the update writes, compared before and after.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ONEX_KEPT_PATHS,
  ONEX_LOG,
  ONEX_UPDATE_PATHS,
  onexUpdateCommand,
  parseFingerprintFailures,
  parseOnexChecks,
} from '../../lib/contract/onex.ts';
import { findFailedStep, parseStepTimings, stepLine } from '../../lib/contract/index.ts';
import { FINGERPRINT_FILES } from '../../lib/fingerprint.ts';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import { runDetached } from '../device/detached-run.ts';
import { inspectDevice, type DeviceFacts } from '../device/inspect.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { fetchProgress } from './api-progress.ts';
import type { ApiProgressEntry, DeviceHooks, StepTiming } from './types.ts';

/**
 * Longest the updater may run: there is no delta on this path, and the emulated Pi's network
 * carries about 90 KB/s under TCG (the 50 MB image took 545 s there), then writes its SD card.
 */
const UPDATER_TIMEOUT_MS = 40 * 60_000;

/** What the 1.x update is judged on, besides the common facts of a device. */
export interface OnexFacts extends DeviceFacts {
  /** Files listed in /resin-root.fingerprint, and how many of them do not match it. */
  fingerprint: { listed: number; mismatched: string[] };
  /** md5 of each kept path that exists (a folder: of its files' md5 lines). */
  kept: Record<string, string>;
  /** The demo application's service. */
  appRunning: boolean;
}

export interface OnexUpdateOutcome {
  from: string;
  to: string;
  fault?: string;
  exitCode: number | null;
  rebooted: boolean;
  before: OnexFacts;
  after: OnexFacts;
  /** The updater's and its tools' steps, from this run's part of the log. */
  steps: StepTiming[];
  failedStep?: string;
  failure?: string;
  refused?: { code: string; message: string };
  fingerprintFailures: string[];
  /** This run's lines of /mnt/data/resinhup/run-resinhup.sh.log. */
  log: string;
  /** Where the whole log was copied on the host. */
  logCopy: string;
  progress: ApiProgressEntry[];
  /** With a fault: the partitions the update writes, md5 before and after. */
  partitions?: { before: Record<string, string>; after: Record<string, string> };
  targetSupervisor?: string;
  seconds: { update: number; toBoot: number };
  updaterOutput: string;
}

/** The 1.x facts of a device: the common ones, the root fingerprint, the kept files, the application. */
export async function onexFacts(device: DeviceDriver): Promise<OnexFacts> {
  const common = await inspectDevice(device);
  const ssh = await device.ssh();
  const fp = await ssh.exec(
    `cd / && grep -c . ${FINGERPRINT_FILES.root}; md5sum -c ${FINGERPRINT_FILES.root} 2>/dev/null | grep -v ': OK$' | sed 's/: .*//'`,
    { timeoutMs: 180_000 },
  );
  const [listed = '0', ...mismatched] = fp.stdout.trim().split('\n');
  const digestEach = ONEX_KEPT_PATHS.map(
    (p) => `[ -e ${p} ] && echo "${p} $(find ${p} -type f -exec md5sum {} + | sort | md5sum | cut -c1-32)"`,
  ).join('; ');
  const kept = await ssh.execOk(`${digestEach}; true`);
  const app = await ssh.exec('service status demo-app');
  return {
    ...common,
    fingerprint: { listed: Number(listed) || 0, mismatched: mismatched.filter(Boolean) },
    kept: Object.fromEntries(
      kept
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ') as [string, string]),
    ),
    appRunning: app.stdout.trim() === 'running',
  };
}

/**
 * The md5 of what the 1.x update writes, read from the device's own disk: the partition table
 * (MBR and the extended partition's first EBR), the boot partition (p1), the spare root (p3) and
 * resin-conf (p5). The disk is found from the running root.
 */
export async function onexPartitionDigests(device: DeviceDriver): Promise<Record<string, string>> {
  const ssh = await device.ssh();
  const out = await ssh.execOk(
    [
      'root=$(awk \'$2 == "/" && $1 ~ /^\\/dev\\// { print $1 }\' /proc/mounts | tail -n 1)',
      'root=$(readlink -f $root)',
      'disk=/dev/$(basename $(readlink -f /sys/class/block/$(basename $root)/..))',
      'part() { ls $disk*$1 | grep -v "$disk$" | head -1; }',
      'sync',
      'echo "table $(dd if=$disk bs=512 count=1 2>/dev/null | md5sum | cut -d" " -f1)"',
      'echo "ebr $(dd if=$(part 4) bs=512 count=1 2>/dev/null | md5sum | cut -d" " -f1)"',
      'for n in 1 3 5; do echo "p$n $(md5sum < $(part $n) | cut -d" " -f1)"; done',
    ].join('; '),
    { timeoutMs: 180_000 },
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]),
  );
}

/** Waits for the demo application to be writing: the update stops it, so it must be running first. */
async function appWriting(device: DeviceDriver): Promise<void> {
  const ssh = await device.ssh();
  const deadline = Date.now() + 120_000;
  while (Number((await ssh.exec('wc -l < /mnt/data/demo-app/records.log 2>/dev/null || echo 0')).stdout.trim()) < 2) {
    if (Date.now() > deadline)
      throw new HuplabError('app-not-running', 'the demo application wrote fewer than 2 records in 120 s', {
        hint: `see ${device.paths.serialLog}`,
      });
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export async function updateOnexDevice(opts: {
  device: DeviceDriver;
  backend: UpdateBackend;
  to: string;
  uuid: string;
  logsDir: string;
  /** A fault's name, its edits before the update and their undoing after it; its partitions are compared. */
  fault?: { name: string; hooks: Pick<DeviceHooks, 'prepare' | 'undo'> };
  narrator?: Narrator;
}): Promise<OnexUpdateOutcome> {
  const { device, backend, fault } = opts;
  const narrator = opts.narrator ?? silentNarrator;
  if (!backend.onex)
    throw new HuplabError('not-1x', `the backend of ${backend.profile.name} has no 1.x updater: not a 1.x profile`);
  await appWriting(device);
  const ssh = await device.ssh();
  await fault?.hooks.prepare?.(device);
  try {
    const before = await narrator.step('inspect the device before the update', () => onexFacts(device));
    const partsBefore = fault ? await onexPartitionDigests(device) : undefined;
    await ssh.putFile(backend.onex.updater.path, ONEX_UPDATE_PATHS.updater);
    const logStart = Number((await ssh.execOk(`stat -c %s ${ONEX_LOG} 2>/dev/null || echo 0`)).trim()) || 0;
    const mark = device.console.mark();
    const started = Date.now();
    const r = await narrator.step(`run the 1.x updater: ${before.version} -> ${opts.to}`, () =>
      runDetached(device, onexUpdateCommand({ hostosVersion: opts.to }), { timeoutMs: UPDATER_TIMEOUT_MS }),
    );
    const updateSeconds = (Date.now() - started) / 1000;
    // The reboot can outrun the wrapper that records the status; the log on the data partition
    // (not the detached output, which stays on the old root) says how the run ended.
    const readLog = async () =>
      (await (await device.ssh()).exec(`tail -c +${logStart + 1} ${ONEX_LOG} 2>/dev/null`)).stdout;
    let log = await readLog();
    const rebootDone = log.includes(stepLine('reboot', 'done'));
    let rebooted = false;
    if (rebootDone) {
      await narrator.step('follow the reboot into the new OS', () =>
        device.waitForOs({ since: mark, timeoutMs: 300_000 }),
      );
      rebooted = true;
      log = await readLog();
    }
    const toBoot = (Date.now() - started) / 1000;
    const after = await narrator.step('inspect the device after the update', () => onexFacts(device));
    const partsAfter = fault ? await onexPartitionDigests(device) : undefined;
    const logCopy = join(opts.logsDir, 'resinhup', 'run-resinhup.sh.log');
    await mkdir(join(opts.logsDir, 'resinhup'), { recursive: true });
    await (await device.ssh()).getFile(ONEX_LOG, logCopy).catch(() => writeFile(logCopy, ''));
    const exitCode = r.code ?? (rebootDone ? 0 : null);
    const failed = findFailedStep(log);
    const checks = parseOnexChecks(log);
    const targetSupervisor = backend.services.api
      .releases(backend.profile.deviceType)
      .find((x) => x.version === opts.to)?.supervisorVersion;
    return {
      from: before.version,
      to: opts.to,
      ...(fault ? { fault: fault.name } : {}),
      exitCode,
      rebooted,
      before,
      after,
      steps: parseStepTimings(log),
      ...(failed ? { failedStep: failed.step, failure: failed.why } : {}),
      ...(checks.refused ? { refused: checks.refused } : {}),
      fingerprintFailures: parseFingerprintFailures(log),
      log,
      logCopy,
      progress: await fetchProgress(backend, opts.uuid),
      ...(partsBefore && partsAfter ? { partitions: { before: partsBefore, after: partsAfter } } : {}),
      ...(targetSupervisor ? { targetSupervisor } : {}),
      seconds: { update: updateSeconds, toBoot },
      updaterOutput: r.stdout + r.stderr,
    };
  } finally {
    await fault?.hooks.undo?.(device).catch(() => undefined);
  }
}
