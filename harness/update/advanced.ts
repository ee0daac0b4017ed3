/**
 * Runs an advanced update (takeover) on a running device and follows it to the end: the method
 * is asked of the API first (it must say advanced), the advanced updater is handed over SSH and
 * run, then the console is followed through takeover's stage 2 (its step markers), the flash and
 * the reboot, into whichever OS comes up. What the device kept (uuid, SSH host key, network
 * files) is compared before and after.
 */
import {
  findFailedStep,
  parseImageDownload,
  parseKept,
  STATE_FILES,
  statePath,
  stepLine,
  stepPrefix,
  stepRe,
  takeoverReboot,
} from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { capability } from '../driver/capabilities.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { ConsoleTimeline } from '../console/timeline.ts';
import { inspectDevice, type DeviceFacts } from '../device/inspect.ts';
import { installUpdater, runUpdater } from './launch.ts';
import { parseSteps } from './updater-output.ts';
import { collectLogs } from './collect.ts';
import { fetchProgress } from './api-progress.ts';
import { readyForUpdate } from './follow.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import type { AdvancedOutcome, DeviceIdentity, MethodDecision, StepTiming } from './types.ts';

/** The network file the harness leaves on the boot partition to see that takeover keeps it. */
export const PROBE_CONNECTION = 'system-connections/huplab-probe';
const HOST_KEY = `${statePath(STATE_FILES.rootOverlay)}/etc/dropbear/dropbear_ed25519_host_key`;

/** Stage 2's step markers, each with its step and phase. */
const TAKEOVER_STEP = stepRe({ source: 'takeover', flags: 'g' });

/** Stage 2's done and failed markers, with the whole seconds a done one carries and the rest of the line. */
const TAKEOVER_STEP_END = stepRe({
  source: 'takeover',
  phase: ['done', 'failed'],
  after: String.raw` ?(?:\((\d+)s\))? ?(.*)$`,
  flags: 'gm',
});

/** Longest from the handover to the new OS answering: a whole-disk flash and read-back under TCG. */
const TAKEOVER_TIMEOUT_MS = 20 * 60_000;

/** Asks the API which method takes the device from `from` to `to`; the harness never picks one itself. */
export async function askUpdateMethod(
  backend: UpdateBackend,
  q: { deviceType: string; from: string; to: string; toDeviceType: string },
): Promise<MethodDecision> {
  const r = await fetch(`${backend.services.urls.api}/v1/update-method?${new URLSearchParams(q)}`, {
    headers: backend.services.operatorHeaders(),
  });
  const body = (await r.json()) as MethodDecision & { error?: string };
  if (!r.ok)
    throw new HuplabError('method-unknown', `the API cannot decide the update method: ${body.error ?? r.status}`);
  return { method: body.method, reason: body.reason, ...(body.hint ? { hint: body.hint } : {}) };
}

export async function readIdentity(device: DeviceDriver): Promise<DeviceIdentity> {
  const ssh = await device.ssh();
  const rel = JSON.parse(await ssh.execOk('cat /etc/huplab-release.json')) as { layout: string; arch: string };
  const { uuid, deviceType } = JSON.parse(await ssh.execOk('cat /mnt/boot/config.json')) as {
    uuid: string;
    deviceType: string;
  };
  const hostKey = (await ssh.exec(`dropbearkey -y -f ${HOST_KEY} 2>/dev/null | grep '^ssh-'`)).stdout.trim();
  const connection = (await ssh.exec(`cat /mnt/boot/${PROBE_CONNECTION} 2>/dev/null`)).stdout;
  const firmware = (await ssh.exec('test -d /sys/firmware/efi')).code === 0 ? 'uefi' : 'other';
  return { uuid, deviceType, hostKey, connection, layout: rel.layout, arch: rel.arch, firmware };
}

export async function advancedUpdateDevice(opts: {
  device: DeviceDriver;
  backend: UpdateBackend;
  to: string;
  uuid: string;
  logsDir: string;
  narrator?: Narrator;
  /** Cut the power when this takeover step starts (a step of stage 1 or 2), then power on again. */
  powerCutAt?: string;
  /** How long after the step starts to cut (the flash: some of the disk written, not all). */
  powerCutAfterMs?: number;
}): Promise<AdvancedOutcome> {
  const narrator = opts.narrator ?? silentNarrator;
  const { device, backend } = opts;
  const target = backend.advanced;
  if (!target)
    throw new HuplabError('no-advanced-line', 'this lab publishes no target line for an advanced update', {
      hint: 'start it with startUpdateBackend({ advanced })',
    });
  const ssh = await device.ssh();
  // The application writing to /data, so that what the data partition kept (or lost) shows.
  await readyForUpdate(device);
  const before = await inspectDevice(device);
  // A network configuration as a device in the field has one, to see that takeover keeps it.
  await ssh.execOk(
    `mkdir -p /mnt/boot/system-connections && printf '[connection]\\nid=huplab-probe\\nuuid=${opts.uuid}\\ntype=ethernet\\n' > /mnt/boot/${PROBE_CONNECTION} && sync`,
  );
  const identityBefore = await readIdentity(device);
  const method = await askUpdateMethod(backend, {
    deviceType: backend.profile.deviceType,
    from: before.version,
    to: opts.to,
    toDeviceType: target.profile.deviceType,
  });
  if (method.method !== 'advanced') {
    throw new HuplabError(
      'not-advanced',
      `${before.version} -> ${opts.to} (${target.profile.deviceType}) is ${method.method}: ${method.reason}`,
    );
  }
  await installUpdater(device, target.updater, 'advanced');
  const mark = device.console.mark();
  const timeline = new ConsoleTimeline(device.paths.serialLog, mark).start();
  const started = Date.now();
  try {
    let cutAt: string | undefined;
    const cutter = opts.powerCutAt
      ? watchAndCut(device, mark, opts.powerCutAt, opts.powerCutAfterMs ?? 0).then((c) => {
          cutAt = c;
        })
      : undefined;
    const r = await narrator.step(
      `run the advanced updater: ${before.version} -> ${opts.to} (${target.profile.name})`,
      () =>
        runUpdater(
          device,
          { kind: 'advanced', to: opts.to, deviceType: target.profile.deviceType },
          { timeoutMs: 10 * 60_000, pollMs: 500 },
        ).catch((err: unknown) => {
          if (cutAt === undefined && !opts.powerCutAt) throw err;
          return { code: null, stdout: '', stderr: String(err), endedByReboot: true };
        }),
    );
    const updaterSeconds = (Date.now() - started) / 1000;
    const handedOver = () => device.console.text(mark).includes(stepLine('handover', 'done'));
    let booted: AdvancedOutcome['booted'] = 'old';
    let bootFailure: string | undefined;
    if (cutter) {
      await cutter;
      await narrator.step('power on after the cut and follow the boot', async () => {
        await device.powerOn();
        // A cut during the flash leaves a disk that may boot nothing: that is an outcome to judge
        // (the seeds: no way back once the flash started), not an error of the run.
        await device.waitForOs({ timeoutMs: 300_000 }).catch((err: unknown) => {
          if (!(err instanceof HuplabError)) throw err;
          bootFailure = err.oneLine();
        });
      });
    } else if (handedOver()) {
      await narrator.step('follow takeover: stage 2, the flash and the reboot', () => followTakeover(device, mark));
    }
    const toBoot = (Date.now() - started) / 1000;
    const consoleText = device.console.text(mark);
    let after: DeviceFacts | undefined;
    let identityAfter: DeviceIdentity | undefined;
    try {
      identityAfter = await readIdentity(device);
      after = await inspectDevice(device);
      booted =
        identityAfter.layout === target.profile.layout && identityAfter.arch === target.profile.arch ? 'new' : 'old';
    } catch (err) {
      booted = 'none';
      narrator.info?.(`the device does not answer after the update: ${(err as Error).message}`);
    }
    if (booted === 'new') await capability(device, 'profileChange').adoptProfile(target.profile);
    const stepsText = `${r.stdout}\n${consoleText}`;
    const failed = findFailedStep(stepsText, 'any');
    const logs = booted === 'none' ? [] : await collectLogs(device, opts.logsDir);
    // Stage 2's last report may come from the next OS (report-pending sends what stage 2 could
    // not): give it a minute once stage 2 has run.
    const history = await finalProgress(
      backend,
      opts.uuid,
      consoleText.includes(stepPrefix('takeover')) && booted !== 'none' ? 60_000 : 0,
    );
    return {
      to: opts.to,
      toDeviceType: target.profile.deviceType,
      method,
      exitCode: r.code,
      before,
      identityBefore,
      ...(after ? { after } : {}),
      ...(identityAfter ? { identityAfter } : {}),
      steps: uniqueSteps([
        ...parseSteps(r.stdout.includes(stepPrefix()) ? r.stdout : consoleText),
        ...parseTakeoverSteps(consoleText),
      ]),
      ...(failed ? { failedStep: failed.step, failure: failed.why } : {}),
      flashStarted: consoleText.includes(stepLine('flash', 'start', '', 'takeover')),
      ...(cutAt ? { powerCut: cutAt } : {}),
      ...(bootFailure ? { bootFailure } : {}),
      booted,
      keptReported: consoleText.includes(stepLine('restore', 'done', '', 'takeover'))
        ? (parseKept(consoleText) ?? '')
        : '',
      logs,
      progress: history,
      download: parseAdvancedDownload(`${r.stdout}\n${consoleText}`),
      seconds: { updater: updaterSeconds, toBoot },
      updaterOutput: r.stdout + r.stderr,
      console: consoleText,
      timeline: timeline.stop(),
    };
  } finally {
    timeline.stop();
  }
}

async function finalProgress(
  backend: UpdateBackend,
  uuid: string,
  waitMs: number,
): Promise<AdvancedOutcome['progress']> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const history = await fetchProgress(backend, uuid);
    if (history.at(-1)?.percent === 100 || Date.now() >= deadline) return history;
    await new Promise((res) => setTimeout(res, 2_000));
  }
}

/** Follows stage 2 on the console until it reboots, then the boot after it, whichever OS that is. */
async function followTakeover(device: DeviceDriver, mark: number): Promise<void> {
  const deadline = Date.now() + TAKEOVER_TIMEOUT_MS;
  let lastStep = 'handover';
  for (;;) {
    const text = device.console.text(mark);
    const steps = [...text.matchAll(TAKEOVER_STEP)];
    if (steps.length) lastStep = `${steps.at(-1)![1]} ${steps.at(-1)![2]}`;
    const reboot = takeoverReboot(text);
    if (reboot) {
      if (reboot.bootFlashRewritten) capability(device, 'firmwareFlash').expectFirmwareReload();
      // No boot began between the mark and this reboot, so the boot after the mark is the next one.
      await device.waitForOs({ since: mark, timeoutMs: Math.max(60_000, deadline - Date.now()) });
      return;
    }
    if (Date.now() > deadline) {
      throw new HuplabError(
        'takeover-timeout',
        `takeover did not reboot within ${TAKEOVER_TIMEOUT_MS / 60_000} min (last step: ${lastStep})`,
        {
          hint: `last console lines:\n${text.split('\n').slice(-12).join('\n')}`,
        },
      );
    }
    await new Promise((res) => setTimeout(res, 2_000));
  }
}

/** Waits for the start marker of `step` (stage 1's or stage 2's) on the console, then `afterMs`, then cuts the power. */
async function watchAndCut(device: DeviceDriver, mark: number, step: string, afterMs: number): Promise<string> {
  const re = stepRe({ source: 'any', step, phase: 'start' });
  const deadline = Date.now() + TAKEOVER_TIMEOUT_MS;
  while (!re.test(device.console.text(mark))) {
    if (Date.now() > deadline)
      throw new HuplabError('cut-point-missed', `takeover never reached step ${step}`, {
        hint: `see ${device.paths.serialLog}`,
      });
    await new Promise((res) => setTimeout(res, 100));
  }
  if (afterMs > 0) await new Promise((res) => setTimeout(res, afterMs));
  await device.powerCut();
  return afterMs > 0 ? `${step}+${afterMs / 1000}s` : step;
}

/** What stage 1 downloaded, from its `download` step: the image and takeover's tools, all from the API. */
export function parseAdvancedDownload(text: string): AdvancedOutcome['download'] {
  return parseImageDownload(text);
}

/** Stage 2's step timings from its console markers (done ones carry whole seconds: `(12s)`). */
export function parseTakeoverSteps(text: string): StepTiming[] {
  const out: StepTiming[] = [];
  for (const m of text.matchAll(TAKEOVER_STEP_END)) {
    out.push({
      step: `takeover:${m[1]}`,
      seconds: Number(m[3] ?? NaN),
      detail: m[2] === 'failed' ? `failed: ${m[4] ?? ''}` : (m[4] ?? ''),
    });
  }
  return out;
}

function uniqueSteps(steps: StepTiming[]): StepTiming[] {
  const seen = new Set<string>();
  return steps.filter((s) => {
    if (seen.has(s.step)) return false;
    seen.add(s.step);
    return true;
  });
}
