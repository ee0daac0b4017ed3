/**
 * The seeds' rules for independent supervisor upgrades that do not depend on a device: one
 * definition for the recipes, the backend and (later) the agent on the device. No imports but
 * lib's own, so the updater can bundle it.
 */
import { type Refusal, TARGET_RULES } from './contract/fleet.ts';
import { compareVersions } from './versions.ts';

/** Only devices running this OS version or newer can upgrade the supervisor independently. */
export const INDEPENDENT_SUPERVISOR_MIN_OS = '2.12.0';

/** The CPU architectures supervisors are built for: a device profile's `arch` (Debian's names). */
export const SUPERVISOR_ARCHES = ['amd64', 'arm64', 'armhf'] as const;
export type SupervisorArch = (typeof SUPERVISOR_ARCHES)[number];

export function isSupervisorArch(arch: string): arch is SupervisorArch {
  return (SUPERVISOR_ARCHES as readonly string[]).includes(arch);
}

/** The repository of a supervisor's images in the registries: one per CPU architecture. */
export function supervisorRepository(arch: string): string {
  return `huplab/supervisor-${arch}`;
}

/** Labels of a supervisor image's config. */
export const SUPERVISOR_LABELS = {
  version: 'io.balena.supervisor.version',
  arch: 'io.balena.supervisor.arch',
  minOsVersion: 'io.balena.supervisor.min-os-version',
} as const;

/** The major version of a semantic version: an upgrade across it needs a confirmation. */
export function majorOf(version: string): number {
  return Number(version.split('.')[0]) || 0;
}

/** True when `minOs` is older than the OS every independent supervisor upgrade needs. */
export function belowIndependentMinimum(minOs: string): boolean {
  return compareVersions(minOs, INDEPENDENT_SUPERVISOR_MIN_OS) < 0;
}

/** What an independent supervisor upgrade is judged on. */
export interface SupervisorUpgradeQuestion {
  /** The OS the device runs. */
  osVersion: string;
  /** The supervisor it runs. */
  current: string;
  target: string;
  /** The target release's own oldest OS (its recipe's minOsVersion). */
  targetMinOs: string;
  /** The operator confirmed a new major version. */
  confirmMajor: boolean;
}

/**
 * Why an independent supervisor upgrade is refused, or undefined when it may go ahead (the same
 * version is no upgrade and no refusal: the caller has nothing to do). The API asks it when a
 * target is set, the agent again before it downloads anything.
 */
export function supervisorUpgradeRefusal(q: SupervisorUpgradeQuestion): Refusal | undefined {
  const order = compareVersions(q.target, q.current);
  if (order < 0)
    return {
      rule: TARGET_RULES.noDowngrade,
      reason: `supervisor ${q.target} is older than the running ${q.current}: supervisors are never downgraded`,
    };
  if (compareVersions(q.osVersion, INDEPENDENT_SUPERVISOR_MIN_OS) < 0)
    return {
      rule: TARGET_RULES.osTooOld,
      reason: `OS ${q.osVersion} is older than ${INDEPENDENT_SUPERVISOR_MIN_OS}, the first OS whose supervisor can be upgraded on its own (update the OS first)`,
    };
  if (compareVersions(q.osVersion, q.targetMinOs) < 0)
    return {
      rule: TARGET_RULES.osTooOld,
      reason: `supervisor ${q.target} needs OS ${q.targetMinOs} or newer; the device runs ${q.osVersion} (update the OS first)`,
    };
  if (order > 0 && majorOf(q.target) > majorOf(q.current) && !q.confirmMajor)
    return {
      rule: TARGET_RULES.majorNeedsConfirmation,
      reason: `supervisor ${q.target} is a new major version (running ${q.current}): confirm the upgrade to go ahead`,
    };
  return undefined;
}
