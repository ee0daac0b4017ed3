import {
  parseBootMarker,
  parseSupervisorUpdated,
  STATE_FILES,
  supervisorUpdatedDetail,
} from '../../lib/contract/index.ts';
import { compareVersions } from '../../lib/versions.ts';
import type { UpdateOutcome, Verdict } from './types.ts';

/**
 * What must hold after a successful standard HUP: the new OS runs from the other root, it has
 * committed (no breadcrumbs, upgrade_available=0), no rollback happened, and the application's
 * records on /data are intact and continuous across the reboot.
 */
export function expectSuccess(o: UpdateOutcome, expectDownload?: { kind: 'delta' | 'full'; source?: string }): Verdict {
  const checks = [
    { what: 'updater exited 0', ok: o.exitCode === 0, detail: exitDetail(o) },
    {
      what: 'device rebooted into the new OS',
      ok: o.after.version === o.to,
      detail: `version ${o.before.version} -> ${o.after.version}`,
    },
    {
      what: 'root switched',
      ok: o.before.root !== o.after.root && o.after.root !== '',
      detail: `${o.before.root} -> ${o.after.root}`,
    },
    {
      what: 'update committed',
      ok: o.committed && o.breadcrumbs.length === 0 && o.after.bootEnv.upgrade_available === '0',
      detail: `breadcrumbs: ${o.breadcrumbs.join(' ') || 'none'}, upgrade_available=${o.after.bootEnv.upgrade_available}`,
    },
    { what: 'no rollback', ok: !o.rollback.health && !o.rollback.altboot, detail: JSON.stringify(o.rollback) },
    pendingBootCheck(o),
    { what: 'one reboot', ok: o.reboots === 1, detail: `${o.reboots} boot(s) seen on the console` },
    bootFilesCheck(o, 'the new OS'),
    supervisorCheck(o),
    ...variantCheck(o),
    {
      what: '/data records intact',
      ok: o.records.intact,
      detail: `${o.records.before} before, ${o.records.after} after`,
    },
    {
      what: '/data records continuous',
      ok: o.records.continuous,
      detail: `largest gap ${o.records.maxGapSeconds.toFixed(1)} s`,
    },
  ];
  if (expectDownload) {
    const ok =
      o.download?.kind === expectDownload.kind &&
      (!expectDownload.source || o.download.source === expectDownload.source);
    checks.push({
      what: `OS downloaded as ${expectDownload.kind}${expectDownload.source ? ` from ${expectDownload.source}` : ''}`,
      ok,
      detail: o.download ? `${o.download.kind} from ${o.download.source}` : 'nothing downloaded',
    });
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * The OS variant is the device's, not the update's to change: a production device updated by the
 * suites' backend (which publishes the device's variant) must come back production, with no
 * console login and no password over SSH. Only judged when both sides name a variant.
 */
function variantCheck(o: UpdateOutcome): Array<{ what: string; ok: boolean; detail: string }> {
  if (!o.before.variant || !o.after.variant) return [];
  return [
    {
      what: 'OS variant kept',
      ok: o.before.variant === o.after.variant,
      detail: `${o.before.variant} -> ${o.after.variant}`,
    },
  ];
}

export function describeOutcome(o: UpdateOutcome, verdict: Verdict): string[] {
  return [
    `standard HUP ${o.before.version} -> ${o.to}: ${verdict.ok ? 'PASSED (the outcome matches the scenario)' : 'FAILED (the outcome does not match the scenario)'}`,
    `  method:      standard (delta first, then the registries)`,
    `  download:    ${o.download ? `${o.download.kind}, ${o.download.bytes} bytes from ${o.download.source}` : 'none'}`,
    `  root:        ${o.before.root} -> ${o.after.root}; version ${o.before.version} -> ${o.after.version}${
      o.after.variant ? ` (${o.before.variant ?? '?'} -> ${o.after.variant})` : ''
    }`,
    `  bootenv:     ${Object.entries(o.after.bootEnv)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    `  rollback:    health ${o.rollback.health ? 'TRIGGERED' : 'no'}, altboot ${o.rollback.altboot ? 'TRIGGERED' : 'no'}; breadcrumbs ${o.breadcrumbs.join(' ') || 'none'}`,
    `  application: ${o.records.before} records before, ${o.records.after} after, intact ${o.records.intact}, continuous ${o.records.continuous}, downtime ${o.records.maxGapSeconds.toFixed(1)} s`,
    `  time:        updater ${o.seconds.update.toFixed(1)} s, trigger to committed ${o.seconds.toCommit.toFixed(1)} s; ${o.reboots} boot(s)`,
    ...(Object.keys(o.faultFacts).length
      ? [
          `  fault facts: ${Object.entries(o.faultFacts)
            .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(1) : v}`)
            .join(' ')}`,
        ]
      : []),
    ...describeRun(o, verdict, 18),
  ];
}

/** The lines every update report ends with: steps, failure, progress at the API, logs, checks. */
export function describeRun(
  o: {
    steps: Array<{ step: string; seconds: number; detail: string }>;
    failedStep?: string;
    failure?: string;
    progress: Array<{ percent: number; message: string }>;
    logs: string[];
  },
  verdict: Verdict,
  stepWidth: number,
): string[] {
  return [
    '  steps:',
    ...o.steps.map(
      (s) =>
        `    ${s.step.padEnd(stepWidth)} ${Number.isNaN(s.seconds) ? '     -' : s.seconds.toFixed(1).padStart(6)} s  ${s.detail}`,
    ),
    ...(o.failure ? [`  failed at ${o.failedStep}: ${o.failure}`] : []),
    `  progress:    ${o.progress.map((p) => `${p.percent}% ${p.message}`).join(' | ')}`,
    '  logs:',
    ...o.logs.map((l) => `    ${l}`),
    '  checks:',
    ...verdict.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`),
  ];
}

/**
 * What must hold after an update whose new OS fails (a rollback fault): the old OS runs again
 * from its own root, the right rollback recorded itself (and not the other), nothing is left
 * pending in the bootloader, and the application's records survived.
 */
export function expectRollback(o: UpdateOutcome, kind: 'health' | 'altboot'): Verdict {
  const other = kind === 'health' ? 'altboot' : 'health';
  const checks = [
    { what: 'updater exited 0 (the failure comes after the reboot)', ok: o.exitCode === 0, detail: exitDetail(o) },
    { what: 'device rebooted', ok: o.rebooted, detail: String(o.rebooted) },
    pendingBootCheck(o),
    // health: into the new OS, then back; altboot: the new root fails at least once before GRUB gives up on it.
    {
      what: kind === 'health' ? 'two boots (new OS, old OS)' : 'at least two boots (failed new root, old root)',
      ok: kind === 'health' ? o.reboots === 2 : o.reboots >= 2,
      detail: `${o.reboots} boot(s) seen on the console`,
    },
    {
      what: 'back on the old OS',
      ok: o.after.version === o.before.version,
      detail: `version ${o.before.version} -> ${o.after.version}`,
    },
    { what: 'back on the old root', ok: o.after.root === o.before.root, detail: `${o.before.root} -> ${o.after.root}` },
    {
      what: `${kind === 'health' ? STATE_FILES.healthTriggered : STATE_FILES.altbootTriggered} exists`,
      ok: o.rollback[kind],
      detail: JSON.stringify(o.rollback),
    },
    {
      what: `no rollback-${other}`,
      ok: !o.rollback[other] && !o.rollback.healthFailed,
      detail: JSON.stringify(o.rollback),
    },
    {
      what: 'bootloader settled on the old root',
      ok:
        o.after.bootEnv.upgrade_available === '0' &&
        o.after.bootEnv.resin_root_part === o.before.bootEnv.resin_root_part,
      detail: Object.entries(o.after.bootEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    },
    { what: 'no breadcrumbs left', ok: o.breadcrumbs.length === 0, detail: o.breadcrumbs.join(' ') || 'none' },
    bootFilesCheck(o, 'the old OS (restored)'),
    {
      what: '/data records intact',
      ok: o.records.intact,
      detail: `${o.records.before} before, ${o.records.after} after`,
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * What must hold after an update the coherence checks refuse: a clean failure before anything
 * that matters is touched, reported as "OS update failed" with the reason in the log, the device
 * still on its OS and root, nothing pending in the bootloader, and the application's records kept.
 */
export function expectRefused(o: UpdateOutcome, reason: RegExp, opts: { reportsToApi?: boolean } = {}): Verdict {
  const checks = [
    { what: 'updater failed', ok: o.exitCode === 1, detail: `exit ${o.exitCode}` },
    {
      what: 'refused by the coherence checks',
      ok: o.failedStep === 'checks' && reason.test(o.failure ?? ''),
      detail: `${o.failedStep ?? '-'}: ${o.failure ?? '-'}`,
    },
    ...nothingSwitched(o, 'bootloader untouched', 'the running OS (untouched)'),
    opts.reportsToApi === false
      ? {
          what: 'nothing reported to the API (it cannot be reached)',
          ok: o.progress.length === 0,
          detail: o.progress.map((p) => p.message).join(' | ') || 'nothing',
        }
      : {
          what: '"OS update failed" at the API',
          ok: o.progress.at(-1)?.message === 'OS update failed',
          detail: o.progress.at(-1)?.message ?? 'nothing',
        },
    {
      what: '"OS update failed" and the reason in the updater log',
      ok: /OS update failed: /.test(o.updaterOutput) && reason.test(o.updaterOutput),
      detail: /OS update failed: .*/.exec(o.updaterOutput)?.[0] ?? 'no such line',
    },
    {
      what: '/data records intact',
      ok: o.records.intact,
      detail: `${o.records.before} before, ${o.records.after} after`,
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * What must hold after an update that fails after the supervisor was stopped (the download, the
 * root write): the seeds' atomicity. The failure is on the named step, after stop-supervisor;
 * nothing was switched (no reboot, the same OS and root, the bootloader env and the boot files
 * those of the running OS, no breadcrumbs); the supervisor runs again, the same one; "OS update
 * failed" reached the API and the reason is in the update log on the data partition, where the
 * field looks; the application's records are kept.
 */
export function expectFailedAfterStop(o: UpdateOutcome, step: string, reason: RegExp): Verdict {
  const stopped = o.steps.some((s) => s.step === 'stop-supervisor');
  const checks = [
    { what: 'updater failed', ok: o.exitCode === 1, detail: exitDetail(o) },
    {
      what: `failed at ${step}, after the supervisor was stopped`,
      ok: stopped && o.failedStep === step && reason.test(o.failure ?? ''),
      detail: `supervisor ${stopped ? 'stopped' : 'never stopped'}; ${o.failedStep ?? '-'}: ${o.failure ?? '-'}`,
    },
    ...nothingSwitched(o, 'bootloader env of the running OS (nothing switched)', 'the running OS'),
    {
      what: 'the supervisor runs again, the same one',
      ok: o.after.supervisorRunning && o.after.supervisorVersion === o.before.supervisorVersion,
      detail: `before ${o.before.supervisorVersion || 'none'}, after ${o.after.supervisorVersion || 'none'}${o.after.supervisorRunning ? ' (running)' : ' (not running)'}`,
    },
    {
      what: '"OS update failed" at the API',
      ok: o.progress.at(-1)?.message === 'OS update failed',
      detail: o.progress.map((p) => `${p.percent}% ${p.message}`).join(' | ') || 'nothing',
    },
    {
      what: '"OS update failed" and the reason in the update log',
      ok: /OS update failed: /.test(o.updaterLog) && reason.test(o.updaterLog),
      detail: o.updaterLog ? (/OS update failed: .*/.exec(o.updaterLog)?.[0] ?? 'no such line') : 'no update log found',
    },
    {
      what: '/data records intact',
      ok: o.records.intact,
      detail: `${o.records.before} before, ${o.records.after} after`,
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * The bootloader's env at the first boot after the updater's reboot, when it does not count the
 * pending update (upgrade_available is not 1: the new root is then never tried as a pending one,
 * never counted, never rolled back from); undefined when it counts it or no boot is on `console`.
 */
export function uncountedPendingBoot(
  console: string,
): { resin_root_part: string; upgrade_available: string; bootcount: string; booting: string } | undefined {
  let env: string[] | undefined;
  for (const line of console.split('\n')) {
    const m = parseBootMarker(line.trim());
    if (!env && m?.name === 'bootloaderEnv') {
      if (m.fields[1] === '1') return undefined;
      env = m.fields;
    } else if (env && m?.name === 'bootloaderBooting') {
      return { resin_root_part: env[0]!, upgrade_available: env[1]!, bootcount: env[2]!, booting: m.fields[0]! };
    }
  }
  return env ? { resin_root_part: env[0]!, upgrade_available: env[1]!, bootcount: env[2]!, booting: '?' } : undefined;
}

/** After the updater's reboot, the bootloader must count the pending update's boots. */
function pendingBootCheck(o: UpdateOutcome): { what: string; ok: boolean; detail: string } {
  const u = o.rebooted ? uncountedPendingBoot(o.console) : undefined;
  return {
    what: 'the bootloader counted the pending update',
    ok: !u,
    detail: u
      ? `first boot after the switch: env resin_root_part=${u.resin_root_part} upgrade_available=${u.upgrade_available} bootcount=${u.bootcount}, booting ${u.booting}: the new root is never tried as pending nor counted`
      : o.rebooted
        ? 'upgrade_available=1 at the first boot after the switch (or no env line on the console)'
        : 'no reboot',
  };
}

/**
 * The supervisor step judged by what the device shows, never by the new OS's supervisor.conf,
 * which the root switch alone changes. When the target release's supervisor is known, the step
 * had one thing to do: install it when it is newer than the one that ran before the update (the
 * updater's claim, the state partition's choice and the running supervisor must all name it), or
 * else leave the supervisor alone (no claim, the same choice, the same version running: no
 * downgrade). Otherwise only the updater's claim is held against the choice and what runs.
 */
export function supervisorCheck(o: UpdateOutcome): { what: string; ok: boolean; detail: string } {
  const step = o.steps.find((s) => s.step === 'supervisor-update');
  const claim = step ? parseSupervisorUpdated(step.detail) : undefined;
  const running = o.after.supervisorRunning ? '' : ' (not running)';
  const seen = `state partition chose ${o.after.supervisorChoice || 'none'}, running ${o.after.supervisorVersion || 'none (no report)'}${running}`;
  const said = step ? `updater: ${step.detail}` : 'no supervisor update step';
  const ships = o.targetSupervisor;
  const had = o.before.supervisorVersion;
  if (ships && had) {
    if (compareVersions(ships, had) > 0)
      return {
        what: `supervisor ${ships} (newer than the running ${had}) installed and running`,
        ok:
          claim?.to === ships &&
          o.after.supervisorChoice === ships &&
          o.after.supervisorVersion === ships &&
          o.after.supervisorRunning,
        detail: `${said}; ${seen}`,
      };
    return {
      what: `supervisor update skipped (the new OS ships ${ships}, not newer than ${had}): ${had} still runs`,
      ok:
        !claim &&
        o.after.supervisorChoice === o.before.supervisorChoice &&
        o.after.supervisorVersion === had &&
        o.after.supervisorRunning,
      detail: `${said}; ${seen} (before: chose ${o.before.supervisorChoice || 'none'})`,
    };
  }
  if (!claim)
    return {
      what: 'a supervisor runs',
      ok: o.after.supervisorVersion !== '' && o.after.supervisorRunning,
      detail: `${step ? said : 'no supervisor update'}; ${seen}`,
    };
  return {
    what: `supervisor ${claim.to} installed and running`,
    ok: o.after.supervisorChoice === claim.to && o.after.supervisorVersion === claim.to,
    detail: `updater: ${supervisorUpdatedDetail(claim.from, claim.to)}; ${seen}`,
  };
}

/** The boot partition must carry the boot files of the OS that runs, whatever happened. */
function bootFilesCheck(o: UpdateOutcome, whose: string): { what: string; ok: boolean; detail: string } {
  const m = o.after.bootFilesMismatch;
  return {
    what: `boot files are those of ${whose}`,
    ok: m.length === 0,
    detail: m.length ? `differ: ${m.join(' ')}` : 'all match',
  };
}

function exitDetail(o: UpdateOutcome): string {
  const lost = o.exitRecorded === false ? ' (status not recorded: the reboot came first; read from its last step)' : '';
  return `exit ${o.exitCode}${lost}${o.failure ? `: ${o.failure}` : ''}`;
}

/**
 * An update that ended before the switch (refused, or failed after the supervisor stopped): no
 * reboot, the same OS on the same root, the bootloader env and the boot files of the running OS,
 * no breadcrumbs. `envWhat` and `bootFilesWhat` name the checks as each verdict words them.
 */
function nothingSwitched(o: UpdateOutcome, envWhat: string, bootFilesWhat: string): Verdict['checks'] {
  return [
    { what: 'no reboot', ok: !o.rebooted && o.reboots === 0, detail: `${o.reboots} boot(s) seen on the console` },
    {
      what: 'same OS and root',
      ok: o.after.version === o.before.version && o.after.root === o.before.root,
      detail: `${o.before.root} ${o.before.version} -> ${o.after.root} ${o.after.version}`,
    },
    {
      what: envWhat,
      ok: JSON.stringify(o.after.bootEnv) === JSON.stringify(o.before.bootEnv),
      detail: Object.entries(o.after.bootEnv)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    },
    { what: 'no breadcrumbs', ok: o.breadcrumbs.length === 0, detail: o.breadcrumbs.join(' ') || 'none' },
    bootFilesCheck(o, bootFilesWhat),
  ];
}
