import { STATE_FILES, statePath } from './state-files.ts';

/**
 * The supervisor's versions, as the device keeps them and the harness reads them: the OS's own
 * supervisor.conf (in each root), the state partition's choice (what the updater installed, which
 * outranks the OS's own at the next start), and the running supervisor's report of itself.
 */

/** The supervisor an OS ships, in its own root. An update changes it with the root switch alone. */
export const OS_SUPERVISOR_CONF = '/etc/balena-supervisor/supervisor.conf';

/** Where the updater records the supervisor it installed (same format as the OS's own). */
export const SUPERVISOR_CHOICE = statePath(STATE_FILES.supervisorConf);

/** The code of a supervisor the updater installed, on the data partition. */
export function installedSupervisorCode(version: string): string {
  return `/mnt/data/balena-supervisor/${version}/${SUPERVISOR_CODE_FILE}`;
}

/** The OS's own supervisor code, in each root: what the launcher falls back to. */
export const OS_SUPERVISOR_CODE = '/usr/lib/huplab/supervisor.mjs';

/** The init script that launches the supervisor (the state partition's choice or the OS's own). */
export const SUPERVISOR_INIT_SCRIPT = '/etc/rc.d/S70balena-supervisor';

/** An installed supervisor's files, in its folder on the data partition. */
export const SUPERVISOR_CODE_FILE = 'supervisor.mjs';
/**
 * Beside the code: its sha256 (`sha256sum`'s line, `<hex>  supervisor.mjs`). The launcher runs
 * the state partition's choice only when the code hashes to it; without it, or when it differs,
 * it runs the OS's own supervisor. Written last, after the code is on disk.
 */
export const SUPERVISOR_CODE_SHA256_FILE = 'supervisor.mjs.sha256';

/** The text of an installed supervisor's sha256 file. */
export function supervisorChecksumText(sha256Hex: string): string {
  return `${sha256Hex}  ${SUPERVISOR_CODE_FILE}\n`;
}

/** The hex digest a sha256 file names (its first word); undefined when it names none. */
export function parseSupervisorChecksum(text: string): string | undefined {
  return /^([0-9a-f]{64})(?:\s|$)/.exec(text)?.[1];
}

/** The running supervisor's report of itself, rewritten on every heartbeat. */
export const SUPERVISOR_RUN_DIR = '/run/balena-supervisor';
export const SUPERVISOR_RUN_STATE = `${SUPERVISOR_RUN_DIR}/state.json`;

export interface SupervisorRunState {
  version: string;
  pid: number;
  startedAt: string;
  /** Milliseconds since the epoch, device clock. */
  heartbeat: number;
}

/** A supervisor.conf's text (the OS's own or the state partition's choice). */
export function supervisorConf(version: string): string {
  return `SUPERVISOR_VERSION=${version}\n`;
}

/** The version a supervisor.conf names; undefined when it names none. */
export function parseSupervisorConf(text: string): string | undefined {
  return /^SUPERVISOR_VERSION=(\S+)$/m.exec(text)?.[1];
}

/** The running supervisor's state file; undefined when it is not one. */
export function parseSupervisorRunState(text: string): SupervisorRunState | undefined {
  try {
    const s = JSON.parse(text) as Partial<SupervisorRunState>;
    return typeof s.version === 'string' && typeof s.heartbeat === 'number' ? (s as SupervisorRunState) : undefined;
  } catch {
    return undefined;
  }
}

/** The supervisor-update step's detail when it installed a newer supervisor. */
export function supervisorUpdatedDetail(from: string, to: string): string {
  return `supervisor updated ${from} -> ${to}`;
}

/** What the supervisor-update step's detail says it installed; undefined when it installed nothing. */
export function parseSupervisorUpdated(detail: string): { from: string; to: string } | undefined {
  const m = /(?:^|\) )supervisor updated (\S+) -> (\S+)$/.exec(detail);
  return m ? { from: m[1]!, to: m[2]! } : undefined;
}
