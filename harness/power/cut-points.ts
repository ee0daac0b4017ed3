import {
  bootloaderBooting,
  bootloaderEnv,
  HUP_STEPS,
  MARKERS,
  noInitOn,
  osReadyVersion,
  ROLLBACK_STEPS,
  stepLine,
} from '../../lib/contract/index.ts';
import type { TimelineEntry } from '../console/timeline.ts';
import { HuplabError } from '../../lib/errors.ts';
import { seededRandom } from '../../lib/seeded-random.ts';

/**
 * Where a power-cut campaign cuts: a console line to wait for (after the updater starts), then a
 * delay. Points come from a reference run of the same update (its console timeline), so that
 * "the middle of the root write" is the middle of this machine's root write, not a guess.
 */
export interface CutPoint {
  name: string;
  phase:
    | 'update'
    | 'reboot'
    | 'first-boot'
    | 'health'
    | 'commit'
    | 'random'
    | 'rollback-health'
    | 'boot-count'
    | 'rollback-altboot';
  /** The fault (harness/faults) whose scenario is cut, for points on a rollback path. */
  scenario?: string;
  /** Literal console text to wait for, from the updater's start. */
  marker: string;
  delayMs: number;
  describe: string;
}

/** Steps long enough to be cut in their middle too. */
const LONG_STEPS: Record<string, number[]> = {
  'write-root': [0.25, 0.5, 0.75],
  'boot-files': [0.5],
  'bootloader-switch': [0.5],
};

function at(ref: TimelineEntry[], text: string): number | undefined {
  return ref.find((e) => e.line.includes(text))?.at;
}

export function cutPoints(ref: TimelineEntry[], opts: { to: string; random: number; seed: number }): CutPoint[] {
  const points: CutPoint[] = [];
  for (const step of HUP_STEPS) {
    const start = stepLine(step, 'start');
    points.push({
      name: `${step}`,
      phase: 'update',
      marker: start,
      delayMs: 0,
      describe: `as the updater starts ${step}`,
    });
    const t0 = at(ref, start);
    const t1 = at(ref, stepLine(step, 'done'));
    for (const f of LONG_STEPS[step] ?? []) {
      if (t0 === undefined || t1 === undefined) continue;
      points.push({
        name: `${step}@${Math.round(f * 100)}%`,
        phase: 'update',
        marker: start,
        delayMs: Math.round((t1 - t0) * f * 1000),
        describe: `${Math.round(f * 100)} % into ${step} (${(t1 - t0).toFixed(1)} s in the reference run)`,
      });
    }
  }
  points.push(
    {
      name: 'reboot-pending',
      phase: 'reboot',
      marker: stepLine('reboot', 'done'),
      delayMs: 1000,
      describe: 'after the updater decided to reboot, before the OS goes down',
    },
    {
      name: 'shutdown',
      phase: 'reboot',
      marker: MARKERS.shuttingDown,
      delayMs: 300,
      describe: 'while the old OS shuts down for the reboot',
    },
    {
      name: 'new-bootloader',
      phase: 'first-boot',
      marker: bootloaderBooting('resin-root'),
      delayMs: 0,
      describe: 'as GRUB boots the new root for the first time (bootcount just saved)',
    },
    {
      name: 'new-initramfs',
      phase: 'first-boot',
      marker: MARKERS.initramfsRoot.trimEnd(),
      delayMs: 0,
      describe: "as the new OS's initramfs mounts its root",
    },
    {
      name: 'new-os-ready',
      phase: 'first-boot',
      marker: osReadyVersion(opts.to),
      delayMs: 0,
      describe: 'as the new OS comes up',
    },
    {
      name: 'health-check',
      phase: 'health',
      marker: stepLine(ROLLBACK_STEPS.health, 'start'),
      delayMs: 1000,
      describe: 'while rollback-health waits to check the new OS',
    },
    {
      name: 'commit',
      phase: 'commit',
      marker: stepLine(ROLLBACK_STEPS.commit, 'start'),
      delayMs: 0,
      describe: 'as rollback-health commits (env and breadcrumbs)',
    },
    {
      name: 'committed',
      phase: 'commit',
      marker: stepLine(ROLLBACK_STEPS.commit, 'done'),
      delayMs: 0,
      describe: 'just after the commit',
    },
  );
  // Seeded random moments over the whole update, from the updater's start to the commit.
  const end = at(ref, stepLine(ROLLBACK_STEPS.commit, 'done')) ?? at(ref, osReadyVersion(opts.to));
  const begin = at(ref, stepLine('checks', 'start')) ?? 0;
  if (opts.random > 0 && end !== undefined) {
    const rnd = seededRandom(opts.seed);
    for (let k = 0; k < opts.random; k++) {
      const delay = Math.round(rnd() * (end - begin) * 1000);
      points.push({
        name: `random-${opts.seed}-${k + 1}`,
        phase: 'random',
        marker: stepLine('checks', 'start'),
        delayMs: delay,
        describe: `${(delay / 1000).toFixed(1)} s after the updater started (seed ${opts.seed})`,
      });
    }
  }
  return points;
}

/** Which campaign: cuts across the update, or across its rollback paths. */
export type CampaignKind = 'update' | 'rollback';

/** The fault scenarios the rollback campaign cuts, each driving the device down one rollback path. */
export const ROLLBACK_SCENARIOS = ['health-fail', 'unbootable-root'] as const;

/**
 * The rollback campaign's points: cuts while rollback-health judges an unhealthy new OS and while
 * it restores the old one, and while GRUB counts the boots of a new root that cannot boot and
 * rollback-altboot restores the old one. Devices start fresh on root A, so the old root is A and
 * the new one B. `refs` holds each scenario's reference timeline (for the points in the middle
 * of a restore).
 */
export function rollbackCutPoints(
  refs: Partial<Record<(typeof ROLLBACK_SCENARIOS)[number], TimelineEntry[]>>,
): CutPoint[] {
  const middle = (ref: TimelineEntry[] | undefined, from: string, to: string): number | undefined => {
    const t0 = ref && at(ref, from);
    const t1 = ref && at(ref, to);
    return t0 === undefined || t1 === undefined ? undefined : Math.round(((t1 - t0) / 2) * 1000);
  };
  const health = 'health-fail';
  const altboot = 'unbootable-root';
  const points: CutPoint[] = [
    {
      name: 'rh-waiting',
      scenario: health,
      phase: 'rollback-health',
      marker: stepLine(ROLLBACK_STEPS.health, 'start'),
      delayMs: 1000,
      describe: 'while rollback-health waits on the unhealthy new OS (its first boot counted)',
    },
    {
      name: 'rh-boot-files',
      scenario: health,
      phase: 'rollback-health',
      marker: stepLine(ROLLBACK_STEPS.bootFiles, 'start'),
      delayMs: 0,
      describe: "as rollback-health starts putting the old OS's boot files back",
    },
  ];
  const rhMid = middle(
    refs[health],
    stepLine(ROLLBACK_STEPS.bootFiles, 'start'),
    stepLine(ROLLBACK_STEPS.switch, 'start'),
  );
  if (rhMid !== undefined)
    points.push({
      name: 'rh-boot-files@50%',
      scenario: health,
      phase: 'rollback-health',
      marker: stepLine(ROLLBACK_STEPS.bootFiles, 'start'),
      delayMs: rhMid,
      describe: `half way through restoring the old boot files (${(rhMid / 500).toFixed(1)} s in the reference run)`,
    });
  points.push(
    {
      name: 'rh-switch',
      scenario: health,
      phase: 'rollback-health',
      marker: stepLine(ROLLBACK_STEPS.switch, 'start'),
      delayMs: 0,
      describe: 'as rollback-health switches the bootloader env back to the old root',
    },
    {
      name: 'rh-rolled-back',
      scenario: health,
      phase: 'rollback-health',
      marker: stepLine(ROLLBACK_STEPS.health, 'failed'),
      delayMs: 0,
      describe: 'rolled back, before the reboot into the old OS',
    },
    {
      name: 'rh-old-boot',
      scenario: health,
      phase: 'rollback-health',
      marker: bootloaderBooting('resin-rootA'),
      delayMs: 0,
      describe: 'as GRUB boots the old root after the rollback',
    },
    {
      name: 'bc-first-boot',
      scenario: altboot,
      phase: 'boot-count',
      marker: bootloaderEnv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '1' }),
      delayMs: 0,
      describe: 'as GRUB, its first count saved, boots the new root that cannot boot',
    },
    {
      name: 'bc-refused',
      scenario: altboot,
      phase: 'boot-count',
      marker: noInitOn('resin-rootB'),
      delayMs: 0,
      describe: "as the new root's initramfs gives up on it",
    },
    {
      name: 'bc-give-up',
      scenario: altboot,
      phase: 'boot-count',
      marker: bootloaderEnv({ resin_root_part: 'B', upgrade_available: '1', bootcount: '2' }),
      delayMs: 0,
      describe: 'as GRUB, at count 2, gives up on the new root and boots the old one',
    },
    {
      name: 'altboot',
      scenario: altboot,
      phase: 'rollback-altboot',
      marker: stepLine(ROLLBACK_STEPS.altboot, 'start'),
      delayMs: 0,
      describe: "as rollback-altboot starts putting the old OS's boot files back",
    },
  );
  const abMid = middle(
    refs[altboot],
    stepLine(ROLLBACK_STEPS.altboot, 'start'),
    stepLine(ROLLBACK_STEPS.altbootSwitch, 'start'),
  );
  if (abMid !== undefined)
    points.push({
      name: 'altboot@50%',
      scenario: altboot,
      phase: 'rollback-altboot',
      marker: stepLine(ROLLBACK_STEPS.altboot, 'start'),
      delayMs: abMid,
      describe: `half way through restoring the old boot files (${(abMid / 500).toFixed(1)} s in the reference run)`,
    });
  points.push(
    {
      name: 'altboot-switch',
      scenario: altboot,
      phase: 'rollback-altboot',
      marker: stepLine(ROLLBACK_STEPS.altbootSwitch, 'start'),
      delayMs: 0,
      describe: 'as rollback-altboot switches the bootloader env back to the old root',
    },
    {
      name: 'altboot-done',
      scenario: altboot,
      phase: 'rollback-altboot',
      marker: stepLine(ROLLBACK_STEPS.altboot, 'done'),
      delayMs: 0,
      describe: 'rolled back, before the reboot into a clean old OS',
    },
  );
  return points;
}

/** The points named by `only` (exact names or prefixes ending in '*'), in campaign order. */
/**
 * Every point a campaign of this kind can have: those of a reference run in which every step ran.
 * `--only` is checked against them before anything is built or started; the real points, from
 * the reference run, are a subset (a step the updater skips has no middle).
 */
export function possiblePoints(kind: CampaignKind, opts: { to: string; random: number; seed: number }): CutPoint[] {
  const lines = [...HUP_STEPS, ...Object.values(ROLLBACK_STEPS)]
    .flatMap((s) => [stepLine(s, 'start'), stepLine(s, 'done')])
    .concat(osReadyVersion(opts.to));
  const ref = lines.map((line, i) => ({ at: i, line }));
  return kind === 'update' ? cutPoints(ref, opts) : rollbackCutPoints({ 'health-fail': ref, 'unbootable-root': ref });
}

export function selectPoints<P extends { name: string }>(all: P[], only: string[] | undefined): P[] {
  if (!only || only.length === 0) return all;
  const picked = all.filter((p) =>
    only.some((o) => (o.endsWith('*') ? p.name.startsWith(o.slice(0, -1)) : p.name === o)),
  );
  const unknown = only.filter(
    (o) => !all.some((p) => (o.endsWith('*') ? p.name.startsWith(o.slice(0, -1)) : p.name === o)),
  );
  if (unknown.length) {
    throw new HuplabError('unknown-cut-point', `unknown cut point(s): ${unknown.join(', ')}`, {
      hint: `known: ${all.map((p) => p.name).join(', ')}`,
    });
  }
  return picked;
}
