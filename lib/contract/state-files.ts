/**
 * The state partition (mounted at /mnt/state on the device) and the files on it that the
 * updater, the rollback services, the init scripts and the harness share. Their names are the
 * field's: renaming one strands a device mid-update.
 */
export const STATE_DIR = '/mnt/state';

export const STATE_FILES = {
  /** Left by the updater: rollback-health must judge the new OS on its first boots. */
  healthBreadcrumb: 'rollback-health-breadcrumb',
  /** Left by the updater: rollback-altboot must act if the bootloader fell back to the old root. */
  altbootBreadcrumb: 'rollback-altboot-breadcrumb',
  /** rollback-health rolled back an unhealthy new OS. */
  healthTriggered: 'rollback-health-triggered',
  /** rollback-altboot restored the old OS after the new one did not boot. */
  altbootTriggered: 'rollback-altboot-triggered',
  /** rollback-health rolled back but could not restore the old OS's boot files. */
  healthFailed: 'rollback-health-failed',
  /** The versions and the old root of the pending update, for rollback-health. */
  healthVariables: 'rollback-health-variables',
  /** rollback-health's timings, which the lab shortens ({initialDelaySec, intervalSec, attempts}). */
  healthTimings: 'rollback-health.json',
  /** A progress report kept for the next boot's report-pending to send. */
  pendingReport: 'hup-pending-report.json',
  /** The supervisor version the updater installed, ahead of the OS's own. */
  supervisorConf: 'supervisor.conf',
  /** Present: the health check fails on purpose (the health-fail fault). */
  faultHealth: 'huplab-fault-health',
  /** Files of the root filesystem kept across updates (the SSH host keys: etc/dropbear). */
  rootOverlay: 'root-overlay',
  /** The harness's commands run detached from SSH (an updater): each one's output and exit status. */
  detachedRuns: 'huplab-runs',
} as const;

export type StateFile = (typeof STATE_FILES)[keyof typeof STATE_FILES];

export function statePath(file: StateFile): string {
  return `${STATE_DIR}/${file}`;
}

/** The breadcrumbs of an update that is pending: both gone means committed or rolled back. */
export const BREADCRUMBS = [STATE_FILES.healthBreadcrumb, STATE_FILES.altbootBreadcrumb] as const;

/** What a rollback leaves behind: a new update clears them first. */
export const ROLLBACK_RECORDS = [
  STATE_FILES.healthTriggered,
  STATE_FILES.altbootTriggered,
  STATE_FILES.healthFailed,
] as const;

/** The files the harness lists to judge where an update ended, in the order it lists them. */
export const UPDATE_STATE_FILES = [...BREADCRUMBS, ...ROLLBACK_RECORDS] as const;

/** Where an update ended, from the names of the state files present. */
export function updateState(present: readonly string[]): {
  breadcrumbs: string[];
  pending: boolean;
  rolledBack: { health: boolean; altboot: boolean; healthFailed: boolean };
} {
  return {
    breadcrumbs: present.filter((f) => (BREADCRUMBS as readonly string[]).includes(f)),
    pending: BREADCRUMBS.some((f) => present.includes(f)),
    rolledBack: {
      health: present.includes(STATE_FILES.healthTriggered),
      altboot: present.includes(STATE_FILES.altbootTriggered),
      healthFailed: present.includes(STATE_FILES.healthFailed),
    },
  };
}
