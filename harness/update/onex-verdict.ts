/**
 * What must hold after a resinOS 1.x -> 1.x update (the new release booted from the other root,
 * its root as fingerprinted, the kept files kept, the progress at the API, the log where the
 * field keeps it), and after one a fault must get refused (refused by name, nothing written).
 */
import {
  hasOnexStart,
  ONEX_LOG,
  ONEX_KEPT_PATHS,
  ONEX_PROGRESS,
  ONEX_TOOL_STEPS,
  ONEX_UPDATE_STEPS,
} from '../../lib/contract/onex.ts';
import { stepLine } from '../../lib/contract/steps.ts';
import { SUPERVISOR_CHOICE } from '../../lib/contract/supervisor.ts';
import { LAYOUT_1X, rootLabels } from '../../lib/partition/resin-1x.ts';
import { compareVersions } from '../../lib/versions.ts';
import type { OnexUpdateOutcome } from './onex-update.ts';
import type { Check, Verdict } from './types.ts';

/** The agent's supervisor choice, a folder of the root on 1.x (one of the kept paths). */
const SUPERVISOR_CHOICE_1X = SUPERVISOR_CHOICE;

const progressLine = (p: { percent: number; message: string }) => `${p.percent} ${p.message}`;

/** The root the update must boot: the other one of resin-root and resin-updt. */
export function otherRoot(label: string): string {
  const l = rootLabels(LAYOUT_1X);
  return label === l.A ? l.B : l.A;
}

export function expectOnexSuccess(o: OnexUpdateOutcome): Verdict {
  const stepsSeen = o.steps.map((s) => s.step);
  const allSteps = [
    ...ONEX_UPDATE_STEPS.slice(0, ONEX_UPDATE_STEPS.indexOf('resinhup')),
    ...ONEX_TOOL_STEPS,
    ...ONEX_UPDATE_STEPS.slice(ONEX_UPDATE_STEPS.indexOf('resinhup')),
  ];
  const dropbear = ONEX_KEPT_PATHS.find((p) => p.includes('dropbear'))!;
  const supervisorNewer =
    o.targetSupervisor !== undefined && compareVersions(o.targetSupervisor, o.before.supervisorVersion || '0.0.0') > 0;
  // The agent's choice is kept, unless the update installs a newer supervisor and names it there.
  const keptLost = Object.keys(o.before.kept).filter(
    (p) => o.after.kept[p] !== o.before.kept[p] && !(supervisorNewer && p === SUPERVISOR_CHOICE_1X),
  );
  const wantProgress = [
    ONEX_PROGRESS.preparing,
    ONEX_PROGRESS.supervisor,
    ONEX_PROGRESS.preparing2,
    ONEX_PROGRESS.running,
    ONEX_PROGRESS.finalizing,
    ONEX_PROGRESS.done,
  ].map(progressLine);
  const seenProgress = o.progress.map(progressLine);
  const checks: Check[] = [
    {
      what: 'the updater finished and rebooted',
      ok: o.exitCode === 0 && o.rebooted,
      detail: o.failure ? `${o.failedStep}: ${o.failure}` : `exit ${o.exitCode}, rebooted: ${o.rebooted}`,
    },
    {
      what: 'every step done, in order',
      ok: allSteps.every((s, i) => stepsSeen[i] === s),
      detail: stepsSeen.join(' '),
    },
    {
      what: 'the new release booted from the other root',
      ok: o.after.version === o.to && o.after.cmdlineRoot === otherRoot(o.before.cmdlineRoot),
      detail: `${o.before.version} on ${o.before.cmdlineRoot} -> ${o.after.version} on ${o.after.cmdlineRoot}`,
    },
    {
      what: 'the new root matches its fingerprint',
      ok: o.after.fingerprint.listed > 0 && o.after.fingerprint.mismatched.length === 0,
      detail: `${o.after.fingerprint.listed} files listed, mismatched: ${o.after.fingerprint.mismatched.join(' ') || 'none'}`,
    },
    {
      what: 'kept files kept (machine id, SSH host key, supervisor.conf, ConnMan)',
      ok: dropbear in o.before.kept && keptLost.length === 0,
      detail: `${Object.keys(o.before.kept).join(' ') || 'none found'}; lost or changed: ${keptLost.join(' ') || 'none'}`,
    },
    {
      what: 'the supervisor runs, the new one when the release ships a newer one',
      ok:
        o.after.supervisorRunning &&
        (!supervisorNewer ||
          (o.after.supervisorVersion === o.targetSupervisor && o.after.supervisorChoice === o.targetSupervisor)),
      detail: `${o.before.supervisorVersion || '?'} -> ${o.after.supervisorVersion || '?'} (release ships ${o.targetSupervisor ?? '?'}; choice ${o.after.supervisorChoice || 'none'})`,
    },
    {
      what: 'the application runs again',
      ok: o.after.appRunning,
      detail: o.after.appRunning ? 'demo-app running' : 'demo-app not running',
    },
    {
      what: "the API saw the field's progress",
      ok: wantProgress.every(
        (p, i) =>
          seenProgress.indexOf(p) >= 0 &&
          (i === 0 || seenProgress.indexOf(p) > seenProgress.indexOf(wantProgress[i - 1]!)),
      ),
      detail: seenProgress.join(' | ') || 'none',
    },
    {
      what: `the log is in ${ONEX_LOG}`,
      ok: hasOnexStart(o.log, o.before.version, o.to) && o.log.includes(stepLine('reboot', 'done')),
      detail: `${o.log.split('\n').filter(Boolean).length} lines this run; copy at ${o.logCopy}`,
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/** What a refusal must leave as it was: the partition table and every partition the update writes. */
export const ONEX_UNTOUCHED = ['table', 'ebr', 'p1', 'p3', 'p5'] as const;

/** The md5 of no bytes at all. */
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/** A refusal expected: its code, the files it must name, the partitions it must leave unchanged. */
export interface OnexRefusal {
  refused: string;
  files: readonly string[];
  untouched: readonly string[];
}

export function expectOnexRefused(o: OnexUpdateOutcome, want: OnexRefusal): Verdict {
  const parts = o.partitions;
  // Each an md5 of bytes actually read: a partition not found is not "unchanged" as the md5 of nothing.
  const read = (md5: string | undefined) => !!md5 && /^[0-9a-f]{32}$/.test(md5) && md5 !== EMPTY_MD5;
  const changed = parts
    ? want.untouched.filter((k) => !read(parts.before[k]) || parts.before[k] !== parts.after[k])
    : [...want.untouched];
  const last = o.progress.at(-1);
  const checks: Check[] = [
    {
      what: `refused: ${want.refused}`,
      ok: o.exitCode === 1 && o.refused?.code === want.refused,
      detail: `exit ${o.exitCode}; ${o.refused ? `${o.refused.code}: ${o.refused.message}` : 'no refusal line'}`,
    },
    {
      what: 'the modified files named',
      ok: [...want.files].sort().join(' ') === [...o.fingerprintFailures].sort().join(' '),
      detail: `named: ${o.fingerprintFailures.join(' ') || 'none'}; expected: ${want.files.join(' ')}`,
    },
    {
      what: 'nothing written: partition table, boot partition, spare root, resin-conf byte-identical',
      ok: !!parts && changed.length === 0,
      detail: parts ? `changed: ${changed.join(' ') || 'none'} (${want.untouched.join(' ')} compared)` : 'not measured',
    },
    {
      what: 'the device still runs the same release from the same root, its services started again',
      ok:
        !o.rebooted &&
        o.after.version === o.before.version &&
        o.after.cmdlineRoot === o.before.cmdlineRoot &&
        o.after.appRunning &&
        o.after.supervisorRunning,
      detail: `${o.after.version} on ${o.after.cmdlineRoot}; app ${o.after.appRunning ? 'running' : 'stopped'}, supervisor ${o.after.supervisorRunning ? 'running' : 'stopped'}`,
    },
    {
      what: `the API's last report: ${progressLine(ONEX_PROGRESS.failed)}`,
      ok: !!last && progressLine(last) === progressLine(ONEX_PROGRESS.failed),
      detail: last ? progressLine(last) : 'none',
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/** The report's lines for a 1.x run. */
export function describeOnex(o: OnexUpdateOutcome, v: Verdict): string[] {
  return [
    `1.x update ${o.from} -> ${o.to}${o.fault ? ` with fault ${o.fault}` : ''}: ${v.ok ? 'PASSED' : 'FAILED'} (updater ${o.seconds.update.toFixed(1)} s${o.rebooted ? `, to the new OS ${o.seconds.toBoot.toFixed(1)} s` : ''})`,
    ...v.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}: ${c.detail}`),
    `  log: ${o.logCopy}`,
  ];
}
