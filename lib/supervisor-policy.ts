/**
 * The seeds' rules for independent supervisor upgrades that do not depend on a device: one
 * definition for the recipes, the backend and (later) the agent on the device. No imports but
 * lib's own, so the updater can bundle it.
 */
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
