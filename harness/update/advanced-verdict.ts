/**
 * What must hold after an advanced update (takeover), and after one that must leave the old OS
 * (interrupted before the flash, or refused before it). The seeds' caveats are checks here: the
 * data partition is not kept (the report says what was), there is no rollback once the flash has
 * started, and before it the old OS comes back untouched.
 */
import { escapeRegExp, TAKEOVER_REPORT_FAILED } from '../../lib/contract/index.ts';
import type { Profile } from '../../lib/profile.ts';
import { describeRun } from './verdict.ts';
import type { AdvancedOutcome, Check, Verdict } from './types.ts';

/** Stage 2's failed progress report, to the end of its line (the message and why). */
const REPORT_FAILED_LINE = new RegExp(`${escapeRegExp(TAKEOVER_REPORT_FAILED)}[^\\n]*`);

const stepDone = (o: AdvancedOutcome, step: string) =>
  o.steps.some((s) => s.step === step && !s.detail.startsWith('failed'));

function identityChecks(o: AdvancedOutcome): Check[] {
  const a = o.identityAfter;
  const b = o.identityBefore;
  return [
    { what: 'uuid kept', ok: !!a && a.uuid === b.uuid, detail: `${b.uuid} -> ${a?.uuid ?? 'unknown'}` },
    {
      what: 'SSH host key kept',
      ok: !!a && a.hostKey !== '' && a.hostKey === b.hostKey,
      detail: a
        ? a.hostKey === b.hostKey
          ? 'same key'
          : `was ${b.hostKey.slice(0, 40)}..., now ${a.hostKey.slice(0, 40) || 'none'}...`
        : 'device did not answer',
    },
    {
      what: 'network configuration kept',
      ok: !!a && b.connection !== '' && a.connection === b.connection,
      detail: a
        ? a.connection === b.connection
          ? 'system-connections file identical'
          : 'system-connections file differs or is gone'
        : 'device did not answer',
    },
  ];
}

/** The device came back on the target line with what identifies it, its logs where the seeds put them. */
export function expectAdvancedSuccess(o: AdvancedOutcome, target: Profile): Verdict {
  const a = o.identityAfter;
  const checks: Check[] = [
    {
      what: 'the method was advanced (decided by the API)',
      ok: o.method.method === 'advanced',
      detail: `${o.method.method}: ${o.method.reason}`,
    },
    {
      what: 'stage 1 handed over to takeover',
      ok: stepDone(o, 'handover'),
      detail: o.failure ? `${o.failedStep}: ${o.failure}` : `exit ${o.exitCode}`,
    },
    {
      what: 'disk flashed and read back',
      ok: stepDone(o, 'takeover:flash') && stepDone(o, 'takeover:validate'),
      detail:
        o.steps
          .filter((s) => s.step.startsWith('takeover:'))
          .map((s) => s.step.slice(9))
          .join(' ') || 'no stage 2 step seen',
    },
    {
      what: 'device came back on the new OS',
      ok: o.booted === 'new' && o.after?.version === o.to,
      detail: `${o.before.version} -> ${o.after?.version ?? 'no answer'} (${o.booted})`,
    },
    {
      what: `new line: ${target.layout}, ${target.arch}`,
      ok: a?.layout === target.layout && a.arch === target.arch,
      detail: `${o.identityBefore.layout}/${o.identityBefore.arch} -> ${a ? `${a.layout}/${a.arch}` : 'unknown'}`,
    },
    target.bootFlash
      ? {
          what: 'boot firmware rewritten (UEFI now boots it)',
          ok: stepDone(o, 'takeover:boot-flash') && a?.firmware === 'uefi',
          detail: `${o.identityBefore.firmware} -> ${a?.firmware ?? 'unknown'}`,
        }
      : {
          what: 'boot firmware left alone (the target needs none written)',
          ok: !o.steps.some((s) => s.step === 'takeover:boot-flash') && a?.firmware === o.identityBefore.firmware,
          detail: `${o.identityBefore.firmware} -> ${a?.firmware ?? 'unknown'}`,
        },
    ...identityChecks(o),
    {
      what: `config.json names the new device type (${target.deviceType})`,
      ok: a?.deviceType === target.deviceType,
      detail: `${o.identityBefore.deviceType} -> ${a?.deviceType ?? 'unknown'}`,
    },
    {
      what: 'takeover said what it kept',
      ok: /config\.json/.test(o.keptReported),
      detail: o.keptReported || 'nothing reported',
    },
    {
      what: 'advanced.<datetime>.log saved in /mnt/data/balenahup',
      ok: o.logs.some((l) => /\/advanced\.\d{8}_\d{6}\.log$/.test(l)),
      detail: o.logs.map((l) => l.split('/').at(-1)).join(' ') || 'no logs',
    },
    {
      // Only the last word can wait for the next boot (report-pending); the flash's own report must
      // reach the API while it happens, or a watcher sees nothing for minutes.
      what: 'stage 2 reported live ("Flashing the new OS" reached the API)',
      ok: o.progress.some((p) => p.message === 'Flashing the new OS') && !o.console.includes(TAKEOVER_REPORT_FAILED),
      detail: REPORT_FAILED_LINE.exec(o.console)?.[0] ?? (o.progress.map((p) => p.message).join(' | ') || 'nothing'),
    },
    {
      what: 'success reported to the API',
      ok: o.progress.some((p) => p.message === 'Update successful, rebooting'),
      detail: o.progress.map((p) => `${p.percent}% ${p.message}`).join(' | ') || 'nothing',
    },
    {
      what: 'nothing pending in the bootloader',
      ok: o.after?.bootEnv.upgrade_available === '0',
      detail: Object.entries(o.after?.bootEnv ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * The old OS runs as before: nothing was flashed (a power cut before the flash, or a refusal such
 * as a corrupt download), the device is who it was and its data partition is intact.
 */
export function expectAdvancedLeftOld(
  o: AdvancedOutcome,
  why: { failedStep?: string; reason?: RegExp; powerCut?: string },
): Verdict {
  const checks: Check[] = [
    {
      what: 'nothing flashed',
      ok: !o.flashStarted,
      detail: o.flashStarted ? 'stage 2 started the flash' : 'the flash never started',
    },
    {
      what: 'the old OS runs',
      ok: o.booted === 'old' && o.after?.version === o.before.version && o.after.root === o.before.root,
      detail: `${o.before.version} on ${o.before.root} -> ${o.after?.version ?? 'no answer'} on ${o.after?.root ?? '?'}`,
    },
    {
      what: 'same line and firmware',
      ok: o.identityAfter?.layout === o.identityBefore.layout && o.identityAfter.firmware === o.identityBefore.firmware,
      detail: `${o.identityBefore.layout}/${o.identityBefore.firmware} -> ${o.identityAfter ? `${o.identityAfter.layout}/${o.identityAfter.firmware}` : 'unknown'}`,
    },
    ...identityChecks(o),
    {
      what: '/data kept',
      ok: (o.after?.appRecords ?? 0) >= o.before.appRecords && o.before.appRecords > 0,
      detail: `${o.before.appRecords} application records before, ${o.after?.appRecords ?? '?'} after`,
    },
  ];
  if (why.powerCut)
    checks.push({
      what: `power cut at ${why.powerCut}`,
      ok: o.powerCut === why.powerCut,
      detail: o.powerCut ?? 'no cut',
    });
  if (why.failedStep) {
    checks.push({
      what: `refused at ${why.failedStep}`,
      ok: o.failedStep === why.failedStep && (!why.reason || why.reason.test(o.failure ?? '')),
      detail: `${o.failedStep ?? '-'}: ${o.failure ?? '-'}`,
    });
    checks.push({
      what: '"OS update failed" at the API',
      ok: o.progress.at(-1)?.message === 'OS update failed',
      detail: o.progress.at(-1)?.message ?? 'nothing',
    });
    checks.push({
      what: 'upgrade-takeover.<datetime>.log says why',
      ok: o.logs.some((l) => /\/upgrade-takeover\.\d{8}_\d{6}\.log$/.test(l)),
      detail: o.logs.map((l) => l.split('/').at(-1)).join(' ') || 'no logs',
    });
  }
  return { ok: checks.every((c) => c.ok), checks };
}

/**
 * A power cut once the flash has started: there is no way back (the seeds: no rollback after the
 * flash starts). The old OS must not come back as if nothing happened, no working OS is expected
 * (measured on the Jetson 10 s in: the new GPT and boot partition are written, GRUB boots the
 * half-written root, which limps to a login prompt with ext4 errors and no services; on the Pi
 * the new OS's services start but config.json is gone, so SSH refuses the lab's key), and the
 * run must say so plainly (what it waited for, and that the device needs flashing again) rather
 * than report an update or a rollback.
 */
export function expectAdvancedNoWayBack(o: AdvancedOutcome, cutAt: string): Verdict {
  const checks: Check[] = [
    { what: `power cut at ${cutAt}`, ok: o.powerCut === cutAt, detail: o.powerCut ?? 'no cut' },
    {
      what: 'the cut landed inside the flash (started, not finished)',
      ok: o.flashStarted && !o.steps.some((s) => s.step === 'takeover:flash'),
      detail:
        o.steps
          .filter((s) => s.step.startsWith('takeover:'))
          .map((s) => s.step.slice(9))
          .join(' ') || 'no stage 2 step seen',
    },
    { what: 'no rollback: the old OS did not come back', ok: o.booted !== 'old', detail: `booted: ${o.booted}` },
    {
      what: 'no working OS came up (none the harness could reach as this device), and the run says what it waited for',
      ok: o.booted === 'none' && /waiting for|to boot a kernel|to report ready|SSH of/.test(o.bootFailure ?? ''),
      detail: o.bootFailure ?? `booted: ${o.booted}`,
    },
    {
      what: 'the API heard the flash start and no success',
      ok:
        o.progress.some((p) => p.message === 'Flashing the new OS') &&
        !o.progress.some((p) => p.message === 'Update successful, rebooting'),
      detail: o.progress.map((p) => p.message).join(' | ') || 'nothing',
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

export function describeAdvanced(o: AdvancedOutcome, verdict: Verdict): string[] {
  return [
    `advanced HUP ${o.before.version} -> ${o.to} (${o.toDeviceType}): ${verdict.ok ? 'PASSED (the outcome matches the scenario)' : 'FAILED (the outcome does not match the scenario)'}`,
    `  method:      ${o.method.method}: ${o.method.reason}`,
    `  download:    ${o.download ? `${o.download.kind}, ${o.download.bytes} bytes from ${o.download.source}` : 'see the steps'}`,
    `  booted:      ${o.booted} OS, version ${o.before.version} -> ${o.after?.version ?? 'no answer'}, ${o.identityBefore.layout} -> ${o.identityAfter?.layout ?? '?'}, firmware ${o.identityBefore.firmware} -> ${o.identityAfter?.firmware ?? '?'}`,
    `  kept:        ${o.keptReported || 'nothing reported'}; /mnt/data is not kept by the flash`,
    `  time:        stage 1 ${o.seconds.updater.toFixed(1)} s, trigger to the OS answering ${o.seconds.toBoot.toFixed(1)} s`,
    ...(o.powerCut ? [`  power cut:   at ${o.powerCut}`] : []),
    ...(o.booted === 'none'
      ? [
          `  device:      no working OS came up${o.flashStarted ? ': the flash had started, so the disk is partly written; flash the device again (an emulated one: huplab device start --release <version>)' : ''}${o.bootFailure ? ` (${o.bootFailure})` : ''}`,
        ]
      : []),
    ...describeRun(o, verdict, 22),
  ];
}
