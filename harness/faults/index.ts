import {
  bootloaderBooting,
  escapeRegExp,
  installedSupervisorCode,
  SUPERVISOR_CHOICE,
  supervisorConf,
  noInitOn,
  OS_READY_LINE,
  STATE_FILES,
  statePath,
  stepLine,
} from '../../lib/contract/index.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { HupStep } from '../../lib/contract/step-names.ts';
import { capability, type Capabilities } from '../driver/capabilities.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { LOST_CLUSTERS_SCRIPT } from './fat-damage.ts';
import { findings as fsckReportFindings } from '../../updater/common/boot-health.ts';
import { readLogicalBootEnv } from '../device/inspect.ts';
import type { Check, DeviceHooks, UpdateOutcome } from '../update/types.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import { apiMessages, waitForApiMessage } from '../update/api-progress.ts';
import {
  INACTIVE_ROOT_SH,
  rebootFromShell,
  secondsUntilShutdown,
  setAppLock,
  sh,
  shuttingDownSince,
} from '../device/shell.ts';

/**
 * Faults as data: each has a name, the suite family it belongs to, what it does to the backend and
 * the device, and what must hold afterwards. Adding a fault is a new entry here, not a new suite:
 * the suites (suites/<family>.spec.ts), `huplab hup --fault` and `huplab qualify` read this list.
 */

/**
 * `failed`: the update fails after the supervisor was stopped (at `failsAt`), and nothing is
 * switched (harness/update/verdict.ts, expectFailedAfterStop).
 */
export type Expectation = 'success' | 'rollback-health' | 'rollback-altboot' | 'refused' | 'failed';

/** What a fault's follow-up can use once the update is over. */
export interface FollowUp {
  device: DeviceDriver;
  backend: UpdateBackend;
  uuid: string;
  outcome: UpdateOutcome;
  /** Runs another update of the same device (no fault), e.g. to show it recovers. */
  update(to: string, logs: string): Promise<UpdateOutcome>;
}

export interface Fault {
  name: string;
  family: 'rollback' | 'locks' | 'faults';
  description: string;
  /** What it does to the backend before the update. */
  inject?(backend: UpdateBackend): void | Promise<void>;
  /** What it does to the device around the updater run. */
  device?: DeviceHooks;
  /** The device capabilities it acts through: a device without one is refused before anything starts. */
  needs?: Array<keyof Capabilities>;
  /** The outcome the scenario expects. */
  expect: Expectation;
  /** For refusals and failures: what the updater's reason must say. */
  reason?: RegExp;
  /** For failures: the updater step that must fail (after stop-supervisor). */
  failsAt?: HupStep;
  /** False when the fault leaves the device unable to tell the API (default true). */
  reportsToApi?: boolean;
  /** The release the device starts on instead of the scenario's `from` (downgrade). */
  start?: (from: string, to: string) => string;
  /** The release to update to instead of the scenario's target (same-version, downgrade). */
  target?: (from: string, to: string) => string;
  /** Where the OS must have come from, when that is the point of the fault. */
  expectDownload?: 'delta' | 'full-primary' | 'full-fallback';
  /** Further checks on the outcome, specific to this fault. */
  checks?: (o: UpdateOutcome) => Check[];
  /** Checks that need the device after the update (recovery, reports), run last. */
  followUp?: (f: FollowUp) => Promise<Check[]>;
  /**
   * Run by `huplab qualify` only, not by `npm test` (tagged @qualify): kept out of the quick run
   * when another fault of the suite covers the same path and the test run's time is short.
   */
  qualifyOnly?: boolean;
}

const check = (what: string, ok: boolean, detail: string): Check => ({ what, ok, detail });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REBOOT_WAITING = 'Reboot waiting on application lock';
/** The updater looks at the locks every 5 s and reboots 2 s after deciding: 10 s is "within seconds". */
const REBOOT_AFTER_RELEASE_MAX_S = 10;

/** Reboots the device from its own shell and waits for an OS to come up: "it still boots". */
/**
 * Reboots the device from its own shell and waits for an OS to come up on the console: "it still
 * boots". The console, not SSH: a device whose config.json is broken boots without its SSH keys.
 */
async function rebootsIntoAnOs(device: DeviceDriver, root: string): Promise<Check[]> {
  const mark = device.console.mark();
  await rebootFromShell(device);
  try {
    const m = await device.console.expect(OS_READY_LINE, {
      since: mark,
      timeoutMs: 240_000,
      what: 'an OS to come up after the reboot',
    });
    return [
      check(
        'the device still boots an OS after the fault',
        m.groups[1] === root,
        `booted ${m.groups[1]} version ${m.groups[0]}`,
      ),
    ];
  } catch (err) {
    return [check('the device still boots an OS after the fault', false, (err as Error).message.split('\n')[0]!)];
  }
}

async function updatesAfterwards(f: FollowUp, what: string): Promise<Check[]> {
  const again = await f.update(f.outcome.to, 'logs-again');
  return [
    check(
      what,
      again.committed && again.after.version === f.outcome.to,
      `then ${again.before.version} -> ${again.after.version}, committed ${again.committed}`,
    ),
  ];
}

async function rollbackReported(f: FollowUp): Promise<Check[]> {
  // altboot reports once the old OS has its network back, so this is polled.
  const deadline = Date.now() + 60_000;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = await apiMessages(f.backend, f.uuid);
    if (last.some((m) => /^OS update failed: rolled back/.test(m))) break;
    await sleep(2_000);
  }
  return [
    check(
      'the API hears of the rollback',
      last.some((m) => /^OS update failed: rolled back/.test(m)),
      last.at(-1) ?? 'nothing',
    ),
  ];
}

/** The bootloader's env with the failed boots counted (2 or more), then its boot of the old root. */
const BOOTCOUNT_THEN_OLD_ROOT = new RegExp(
  `bootcount=([2-9]|1\\d)\\n${escapeRegExp(bootloaderBooting('resin-rootA'))}`,
);

const num = (v: unknown) => (typeof v === 'number' ? v : NaN);

/** The registries' blob requests: the manifests still answer, so the checks pass and the download fails. */
const BLOBS = '/blobs/';

/** A supervisor version newer than any release ships, installed on the device by the supervisor-upgrade path. */
const NEWER_SUPERVISOR = '99.0.0';

/**
 * A file the delta copies from the running root (unchanged between the releases: e2fsprogs'
 * own config, read by nobody at run time) changed on the device, as a developer's hand or a
 * damaged filesystem leaves a root: the delta's check of its base finds it.
 */
async function driftRunningRoot(d: DeviceDriver): Promise<void> {
  await sh(
    d,
    "mount -o remount,rw / && echo '# changed on the device' >> /etc/e2scrub.conf && sync && (mount -o remount,ro / || true)",
  );
}

/**
 * A supervisor upgraded on its own (supervisor-upgrades.md), as the device records it: its code on
 * the data partition, its version as the state partition's choice, then restarted.
 */
async function installSupervisorOnItsOwn(d: DeviceDriver, version: string): Promise<void> {
  const code = installedSupervisorCode(version);
  await sh(
    d,
    `mkdir -p "$(dirname ${code})" && cp /usr/lib/huplab/supervisor.mjs ${code} && printf '%s' '${supervisorConf(version)}' > ${SUPERVISOR_CHOICE}.new && mv ${SUPERVISOR_CHOICE}.new ${SUPERVISOR_CHOICE} && sync && /etc/rc.d/S70balena-supervisor stop && /etc/rc.d/S70balena-supervisor start`,
  );
}

/** The spare root's block device made read-only (or writable again), checked as the kernel reports it. */
async function spareRootReadOnly(d: DeviceDriver, ro: boolean): Promise<void> {
  const [set, want] = ro ? ['--setro', 1] : ['--setrw', 0];
  await sh(d, `${INACTIVE_ROOT_SH} && blockdev ${set} "$dev" && [ "$(blockdev --getro "$dev")" = ${want} ]`);
}

function deltaRefused(o: UpdateOutcome): Check {
  const m = /delta could not be applied \((.*)\); falling back to the full image/.exec(o.updaterLog);
  return check(
    'the delta was refused for its base, and the updater fell back to the full image',
    !!m && /running root differs from what the delta expects/.test(m[1]!),
    m?.[0] ?? 'no such line in the update log',
  );
}

function fullImageAfterDelta(o: UpdateOutcome): Check {
  const detail = o.steps.find((s) => s.step === 'write-root')?.detail ?? 'no write-root step';
  return check(
    'the full image was written after the delta failed',
    /full image written after the delta failed/.test(detail),
    detail,
  );
}

function bothRegistriesTried(o: UpdateOutcome): Check {
  const tried = [...o.updaterLog.matchAll(/registry (\S+) failed: /g)].map((m) => m[1]);
  return check(
    'both registries were tried (primary, then the fallback)',
    new Set(tried).size >= 2,
    tried.join(', ') || 'none in the update log',
  );
}

export const FAULTS: Fault[] = [
  // --- rollback --------------------------------------------------------------------------------
  {
    name: 'health-fail',
    family: 'rollback',
    description: 'the new OS boots but never passes its health check: rollback-health must bring the old OS back',
    // The marker lives on the state partition, which both OSes share, so the new OS sees it.
    device: {
      beforeUpdate: (d) => sh(d, `touch ${statePath(STATE_FILES.faultHealth)} && sync`).then(() => {}),
      undo: (d) => sh(d, `rm -f ${statePath(STATE_FILES.faultHealth)} && sync`).then(() => {}),
    },
    expect: 'rollback-health',
    checks: (o) => [
      check(
        'rollback-health logged why',
        o.logs.some((l) => /rollback-health/.test(l)),
        o.logs.map((l) => l.split('/').at(-1)).join(' '),
      ),
    ],
    followUp: rollbackReported,
  },
  {
    name: 'unbootable-root',
    family: 'rollback',
    description:
      "the new root cannot boot (its /sbin/init removed before the reboot): the bootloader's boot counting and rollback-altboot must bring the old OS back",
    device: {
      beforeReboot: (d) =>
        sh(
          d,
          `${INACTIVE_ROOT_SH}; mkdir -p /run/fault && mount -t ext4 "$dev" /run/fault && rm -f /run/fault/sbin/init && umount /run/fault && sync`,
        ).then(() => {}),
    },
    expect: 'rollback-altboot',
    checks: (o) => [
      check('the initramfs refused the broken root', o.console.includes(noInitOn('resin-root')), 'console'),
      // GRUB (generic-amd64) gives up at bootcount 2, U-Boot and the JetPack 5 launcher above os_bc_lim (3).
      check(
        'the bootloader counted the failed boots and booted the old root',
        BOOTCOUNT_THEN_OLD_ROOT.test(o.console),
        'console',
      ),
    ],
    followUp: rollbackReported,
  },

  // --- locks -----------------------------------------------------------------------------------
  {
    name: 'lock-held',
    family: 'locks',
    description:
      'the application holds an exclusive lock on its updates.lock: the update is written, the reboot waits ("Reboot waiting on application lock") and happens within seconds of the release',
    device: {
      beforeUpdate: (d) => setAppLock(d, 'exclusive'),
      whileUpdating: async (d, ctx) => {
        let released = false;
        try {
          await waitForApiMessage(ctx.backend, ctx.uuid, REBOOT_WAITING, 5 * 60_000, ctx.updaterExited);
          // Held on purpose for longer than two of the updater's 5 s rounds: it must not give up.
          await sleep(12_000);
          const logical = await readLogicalBootEnv(d);
          const env = `resin_root_part=${logical.resin_root_part ?? '?'} upgrade_available=${logical.upgrade_available ?? '?'}`;
          const rebootedWhileHeld = shuttingDownSince(d, ctx.since);
          const mark = d.console.mark();
          const releasedAt = Date.now();
          released = true;
          await setAppLock(d, 'none');
          await secondsUntilShutdown(d, mark, 60_000);
          return {
            rebootedWhileHeld,
            envWhileWaiting: env,
            rebootSecondsAfterRelease: (Date.now() - releasedAt) / 1000,
          };
        } finally {
          // Whatever failed above, the lock goes: an updater left waiting on it would run into its
          // 6-minute timeout and hide this hook's own error (seen in CI as "did not finish in 360 s").
          if (!released) await setAppLock(d, 'none').catch(() => {});
        }
      },
    },
    expect: 'success',
    checks: (o) => [
      check(
        `"${REBOOT_WAITING}" reported`,
        o.progress.some((p) => p.message === REBOOT_WAITING),
        o.progress.map((p) => p.message).join(' | '),
      ),
      check(
        'no reboot while the lock was held',
        o.faultFacts.rebootedWhileHeld === false,
        String(o.faultFacts.rebootedWhileHeld),
      ),
      check(
        'the update was written before the wait (bootloader already switched)',
        /upgrade_available=1/.test(String(o.faultFacts.envWhileWaiting)) &&
          !String(o.faultFacts.envWhileWaiting).includes(`resin_root_part=${o.before.bootEnv.resin_root_part}`),
        String(o.faultFacts.envWhileWaiting),
      ),
      check(
        `reboot within ${REBOOT_AFTER_RELEASE_MAX_S} s of the release`,
        num(o.faultFacts.rebootSecondsAfterRelease) <= REBOOT_AFTER_RELEASE_MAX_S,
        `${num(o.faultFacts.rebootSecondsAfterRelease).toFixed(1)} s`,
      ),
      check(
        'the updater log names the lock',
        /reboot waiting on application lock: \/tmp\/balena-supervisor\/services\/\S+\/updates\.lock/.test(
          o.updaterOutput,
        ),
        'updater output',
      ),
    ],
  },
  {
    name: 'lock-shared',
    qualifyOnly: true,
    family: 'locks',
    description:
      'the application holds only a shared lock on its updates.lock: HUP does not respect shared locks and reboots at once',
    device: { beforeUpdate: (d) => setAppLock(d, 'shared') },
    expect: 'success',
    checks: (o) => [
      check(
        `no "${REBOOT_WAITING}"`,
        !o.progress.some((p) => p.message === REBOOT_WAITING),
        o.progress.map((p) => p.message).join(' | '),
      ),
    ],
  },
  {
    name: 'lock-override',
    qualifyOnly: true,
    family: 'locks',
    description:
      'the application holds its lock and SUPERVISOR_OVERRIDE_LOCK is then set in target-state-config: the waiting reboot happens at once, lock or not',
    device: {
      beforeUpdate: (d) => setAppLock(d, 'exclusive'),
      whileUpdating: async (d, ctx) => {
        await waitForApiMessage(ctx.backend, ctx.uuid, REBOOT_WAITING, 5 * 60_000, ctx.updaterExited);
        const mark = d.console.mark();
        const set = Date.now();
        await sh(d, `printf '%s' '{"SUPERVISOR_OVERRIDE_LOCK":"1"}' > /tmp/balena-supervisor/target-state-config`);
        const lockAtOverride = (await sh(d, 'cat /run/demo-app/lock-state')).trim();
        await secondsUntilShutdown(d, mark, 60_000);
        return { lockAtOverride, rebootSecondsAfterOverride: (Date.now() - set) / 1000 };
      },
    },
    expect: 'success',
    checks: (o) => [
      check(
        `"${REBOOT_WAITING}" reported first`,
        o.progress.some((p) => p.message === REBOOT_WAITING),
        o.progress.map((p) => p.message).join(' | '),
      ),
      check(
        'the lock was still held when the override was set',
        o.faultFacts.lockAtOverride === 'exclusive',
        String(o.faultFacts.lockAtOverride),
      ),
      check(
        `reboot within ${REBOOT_AFTER_RELEASE_MAX_S} s of the override`,
        num(o.faultFacts.rebootSecondsAfterOverride) <= REBOOT_AFTER_RELEASE_MAX_S,
        `${num(o.faultFacts.rebootSecondsAfterOverride).toFixed(1)} s`,
      ),
      check(
        'the updater log says the override decided',
        /lock override set: rebooting now/.test(o.updaterOutput),
        'updater output',
      ),
    ],
  },

  // --- faults: refusals ------------------------------------------------------------------------
  {
    name: 'same-version',
    qualifyOnly: true,
    family: 'faults',
    description: 'the target is the release the device already runs: refused, device untouched',
    target: (from) => from,
    expect: 'refused',
    reason: /already runs/,
  },
  {
    name: 'downgrade',
    qualifyOnly: true,
    family: 'faults',
    description: 'the target is older than the running release: refused, device untouched',
    start: (_from, to) => to,
    target: (from) => from,
    expect: 'refused',
    reason: /older than the running .*downgrades are refused/,
  },
  {
    name: 'wrong-device-type',
    family: 'faults',
    description: "the device's config.json names another device type: refused, device untouched",
    device: {
      beforeUpdate: (d) =>
        sh(d, 'sed -i \'s/"deviceType": *"[^"]*"/"deviceType": "raspberrypi3"/\' /mnt/boot/config.json && sync').then(
          () => {},
        ),
    },
    expect: 'refused',
    reason: /device type raspberrypi3 but the OS is built for/,
  },
  {
    name: 'data-full',
    family: 'faults',
    description:
      '/mnt/data is full before the update: refused before anything is touched; once space is freed the update succeeds',
    device: {
      beforeUpdate: (d) =>
        sh(d, 'dd if=/dev/zero of=/mnt/data/huplab-filler bs=1M 2>/dev/null; sync; true').then(() => {}),
    },
    expect: 'refused',
    reason: /\/mnt\/data has .* MiB free/,
    checks: (o) => [
      check(
        'the reason is in the updater log',
        /OS update failed: .*\/mnt\/data has/.test(o.updaterOutput),
        'updater output',
      ),
    ],
    followUp: async (f) => {
      await sh(f.device, 'rm -f /mnt/data/huplab-filler && sync');
      return updatesAfterwards(f, 'with space freed, the same update succeeds');
    },
  },

  // --- faults: a damaged boot partition ----------------------------------------------------------
  {
    name: 'boot-corrupt-config',
    qualifyOnly: true,
    family: 'faults',
    description:
      'config.json (a kept-back boot file) truncated: refused before anything is touched, and the device still boots',
    device: {
      beforeUpdate: (d) =>
        sh(
          d,
          'head -c 37 /mnt/boot/config.json > /run/config.head && cat /run/config.head > /mnt/boot/config.json && sync',
        ).then(() => {}),
    },
    expect: 'refused',
    reason: /cannot read \/mnt\/boot\/config\.json/,
    // The API's address is in the file that is broken: the refusal can only be in the log.
    reportsToApi: false,
    followUp: (f) => rebootsIntoAnOs(f.device, f.outcome.before.root),
  },
  {
    name: 'boot-corrupt-fat',
    family: 'faults',
    description:
      "the boot partition's FAT damaged (a lost cluster chain in every FAT copy): repaired by fsck.fat before the boot files are written; the update succeeds",
    device: {
      beforeUpdate: async (d) => {
        await sh(
          d,
          `cat > /run/fat-damage.cjs <<'EOF'\n${LOST_CLUSTERS_SCRIPT}\nEOF\nsync; /usr/bin/node /run/fat-damage.cjs "$(findfs LABEL=resin-boot)" 16 && ! /sbin/fsck.fat -n "$(findfs LABEL=resin-boot)" >/dev/null`,
        );
      },
    },
    expect: 'success',
    checks: (o) => [
      check(
        'the updater found and repaired the damage',
        /boot partition \S+ has filesystem errors: .*repairing it unmounted/.test(o.updaterOutput) &&
          /boot partition repaired/.test(o.updaterOutput),
        'updater output',
      ),
    ],
    followUp: async (f) => {
      // Judged as the updater judges it: the dirty bit of the mounted FAT is not damage.
      const r = await (await f.device.ssh()).exec('/sbin/fsck.fat -n "$(findfs LABEL=resin-boot)"');
      const left = fsckReportFindings(r.stdout + r.stderr);
      return [
        check(
          'the boot filesystem is clean afterwards',
          left === '' && r.code !== null && r.code <= 1,
          left || r.stdout.trim().split('\n').slice(-1)[0] || '',
        ),
      ];
    },
  },
  {
    name: 'boot-corrupt-env',
    qualifyOnly: true,
    family: 'faults',
    description:
      'the bootloader env (grubenv, or resinOS_uEnv.txt) garbled: the bootloader falls back to its defaults and boots; the updater rewrites the env for the running root and the update succeeds',
    // The env file of this device's bootloader, from the description the image carries.
    device: {
      beforeUpdate: (d) =>
        sh(
          d,
          `f=$(sed -n 's/.*"envFile": *"\\([^"]*\\)".*/\\1/p' /etc/huplab/bootloader.json); f=\${f:-/EFI/BOOT/grubenv}; dd if=/dev/urandom of=/run/junk bs=1024 count=1 2>/dev/null && cat /run/junk > "/mnt/boot$f" && sync`,
        ).then(() => {}),
    },
    expect: 'success',
    checks: (o) => [
      check(
        'the updater rewrote the env for the running root',
        /bootloader env \S+ was unreadable .*rewritten for the running root: resin_root_part=A/.test(o.updaterOutput),
        'updater output',
      ),
    ],
  },

  // --- faults: the network and the servers ------------------------------------------------------
  {
    name: 'delta-missing',
    qualifyOnly: true,
    family: 'faults',
    description: 'the delta service has no delta: the full image comes from the primary registry',
    inject: (backend) => backend.services.faults.set('delta', { kind: 'missing-delta' }),
    expect: 'success',
    expectDownload: 'full-primary',
  },
  {
    name: 'registry-down',
    qualifyOnly: true,
    family: 'faults',
    description: 'no delta and the primary registry is down: the fallback registry delivers',
    inject: (backend) => {
      backend.services.faults.set('delta', { kind: 'missing-delta' });
      backend.services.faults.set('primary', { kind: 'down' });
    },
    expect: 'success',
    expectDownload: 'full-fallback',
    checks: (o) => [
      check(
        'the updater says why it used the fallback',
        /registry .* failed: .*trying the fallback registry/.test(o.updaterOutput),
        'updater output',
      ),
    ],
  },
  {
    name: 'blob-corrupt',
    qualifyOnly: true,
    family: 'faults',
    description:
      'no delta and the primary registry serves a corrupted layer: the digest check rejects it and the fallback delivers',
    inject: (backend) => {
      backend.services.faults.set('delta', { kind: 'missing-delta' });
      backend.services.faults.set('primary', { kind: 'corrupt', offset: 4096, path: '/blobs/' });
    },
    expect: 'success',
    expectDownload: 'full-fallback',
    checks: (o) => [
      check(
        'the digest check rejected the primary copy',
        /registry .* failed: .*(digest|hashes to)/.test(o.updaterOutput),
        'updater output',
      ),
    ],
  },
  {
    name: 'network-drop',
    family: 'faults',
    description:
      "the device's link goes down (QMP set_link) for 40 s in the middle of the full image download: the download resumes where it stopped and the update succeeds, never booting a partly written OS",
    inject: (backend) => {
      backend.services.faults.set('delta', { kind: 'missing-delta' });
      // Slowed so that the download is surely in flight when the link drops.
      backend.services.faults.set('primary', { kind: 'slow', bytesPerSecond: 4 * 2 ** 20, path: '/blobs/' });
    },
    needs: ['networkLink'],
    device: {
      whileUpdating: async (d, ctx) => {
        const link = capability(d, 'networkLink');
        await d.console.expect(stepLine('fetch', 'start'), {
          since: ctx.since,
          timeoutMs: 5 * 60_000,
          what: 'the updater to start downloading',
          signal: ctx.updaterExited,
        });
        await sleep(4_000);
        await link.setLink(false);
        const down = Date.now();
        await sleep(40_000);
        await link.setLink(true);
        return { linkDownSeconds: (Date.now() - down) / 1000 };
      },
    },
    expect: 'success',
    expectDownload: 'full-primary',
    checks: (o) => [
      check(
        'the link was down for 40 s during the update',
        num(o.faultFacts.linkDownSeconds) >= 40,
        `${num(o.faultFacts.linkDownSeconds).toFixed(1)} s`,
      ),
      check(
        'the download resumed rather than starting over',
        /download of \S+ resumed \d+ time\(s\)/.test(o.updaterOutput),
        o.steps.find((s) => s.step === 'fetch')?.detail ?? 'no fetch step',
      ),
    ],
  },

  // --- faults: failures after the supervisor was stopped ----------------------------------------
  {
    name: 'registries-down-at-fetch',
    qualifyOnly: true,
    family: 'faults',
    description:
      'no delta, and both registries refuse every blob (manifests still answer, so the checks pass): the download fails after the supervisor was stopped; nothing switched, the supervisor runs again, "OS update failed" at the API, the reason in the update log',
    inject: (backend) => {
      backend.services.faults.set('delta', { kind: 'missing-delta' });
      backend.services.faults.set('primary', { kind: 'down', path: BLOBS });
      backend.services.faults.set('fallback', { kind: 'down', path: BLOBS });
    },
    expect: 'failed',
    failsAt: 'fetch',
    reason: /no registry delivered the new OS/,
    checks: (o) => [bothRegistriesTried(o)],
    followUp: (f) => updatesAfterwards(f, 'with the registries back, the same update succeeds'),
  },
  {
    name: 'delta-base-drift',
    qualifyOnly: true,
    family: 'faults',
    description:
      'a file of the running root the delta copies from differs from what the delta expects (a drifted root): the delta fails to apply, the updater falls back to the full image and the update succeeds',
    device: { beforeUpdate: (d) => driftRunningRoot(d) },
    expect: 'success',
    checks: (o) => [deltaRefused(o), fullImageAfterDelta(o)],
  },
  {
    name: 'delta-fails-registries-down',
    family: 'faults',
    description:
      'the delta fails to apply (a drifted running root) and both registries refuse every blob, so the fallback to the full image cannot save it: the root write fails after the spare root was formatted; nothing switched, the supervisor runs again, "OS update failed" at the API, the reason in the update log',
    inject: (backend) => {
      backend.services.faults.set('primary', { kind: 'down', path: BLOBS });
      backend.services.faults.set('fallback', { kind: 'down', path: BLOBS });
    },
    device: { beforeUpdate: (d) => driftRunningRoot(d) },
    expect: 'failed',
    failsAt: 'write-root',
    reason: /no registry delivered the new OS/,
    checks: (o) => [
      deltaRefused(o),
      bothRegistriesTried(o),
      check(
        'the delta was downloaded first (the failure is in the write)',
        o.download?.kind === 'delta',
        o.download ? `${o.download.kind} from ${o.download.source}` : 'nothing downloaded',
      ),
    ],
    // The root stays drifted: the delta fails again and the full image saves it this time.
    followUp: (f) => updatesAfterwards(f, 'with the registries back, the same update succeeds (by the full image)'),
  },
  {
    name: 'root-write-fails',
    family: 'faults',
    description:
      'the spare root partition refuses writes (its block device set read-only, as a worn-out eMMC ends): the root write fails after the supervisor was stopped; nothing switched, the supervisor runs again, "OS update failed" at the API, the reason in the update log',
    device: { beforeUpdate: (d) => spareRootReadOnly(d, true), undo: (d) => spareRootReadOnly(d, false) },
    expect: 'failed',
    failsAt: 'write-root',
    reason: /mke2fs .*failed/,
    followUp: async (f) => {
      await spareRootReadOnly(f.device, false);
      return updatesAfterwards(f, 'once the spare root takes writes again, the same update succeeds');
    },
  },

  // --- faults: the supervisor step's skip branch ------------------------------------------------
  {
    name: 'supervisor-newer-on-device',
    qualifyOnly: true,
    family: 'faults',
    description: `the device already runs a newer supervisor (${NEWER_SUPERVISOR}, upgraded on its own as the seeds allow) than the new OS ships: the supervisor step is skipped (no downgrade) and ${NEWER_SUPERVISOR} still runs after the update`,
    device: { prepare: (d) => installSupervisorOnItsOwn(d, NEWER_SUPERVISOR) },
    expect: 'success',
    checks: (o) => [
      check(
        `${NEWER_SUPERVISOR} ran before the update`,
        o.before.supervisorVersion === NEWER_SUPERVISOR && o.before.supervisorChoice === NEWER_SUPERVISOR,
        `before: running ${o.before.supervisorVersion || 'none'}, chose ${o.before.supervisorChoice || 'none'}`,
      ),
    ],
  },
];

export function findFault(name: string): Fault {
  const f = FAULTS.find((x) => x.name === name);
  if (!f)
    throw new HuplabError('unknown-fault', `unknown fault "${name}"`, {
      hint: `known faults: ${FAULTS.map((x) => x.name).join(', ')}`,
    });
  return f;
}

export function faultsOf(family: Fault['family']): Fault[] {
  return FAULTS.filter((f) => f.family === family);
}
