/**
 * Every device path the agent reads or writes, in one object: the device's by default, another
 * tree's for the tests on the host (`agentPathsUnder`). Nothing on the device changes them.
 */
import { APP_INIT_SCRIPT, APP_STORE } from '../../lib/contract/application.ts';
import { AGENT_DIR, AGENT_FILES } from '../../lib/contract/fleet.ts';
import { STATE_DIR } from '../../lib/contract/state-files.ts';
import {
  SUPERVISOR_CHOICE,
  SUPERVISOR_INIT_SCRIPT,
  SUPERVISOR_RUN_DIR,
  SUPERVISOR_RUN_STATE,
} from '../../lib/contract/supervisor.ts';
import { UPDATE_LOG_DIR } from '../../lib/contract/update-log.ts';
import { UPDATER_PATHS } from '../../lib/contract/updater-command.ts';
import { CONFIG_JSON } from '../common/config.ts';

export interface AgentPaths {
  /** config.json on the boot partition. */
  configJson: string;
  /** The running root: its etc/huplab-release.json says the OS version, device type and arch. */
  osRoot: string;
  /** The state partition (breadcrumbs, the supervisor choice). */
  stateDir: string;
  /** The state partition's supervisor choice. */
  choice: string;
  /** The agent's folder on the data partition: installed supervisors, attempts, its log. */
  agentDir: string;
  attempts: string;
  log: string;
  /** How much of each update log was sent to the API. */
  logsSent: string;
  /** The run state rollback-health reads. */
  runDir: string;
  runState: string;
  /** The updaters' log folder (upgrade-2.x.sh.<stamp>.log). */
  updateLogDir: string;
  /** Where the updater bundles go (the command lines name them). */
  updaters: { hup: string; advanced: string };
  /** The supervisor's init script (restarts it on the new choice). */
  initScript: string;
  /** The engine's application image store on the data partition (one folder per app id). */
  appStore: string;
  /** The application's init script (starts it from the store). */
  appInitScript: string;
}

export const DEVICE_PATHS: AgentPaths = {
  configJson: CONFIG_JSON,
  osRoot: '/',
  stateDir: STATE_DIR,
  choice: SUPERVISOR_CHOICE,
  agentDir: AGENT_DIR,
  attempts: AGENT_FILES.attempts,
  log: AGENT_FILES.log,
  logsSent: AGENT_FILES.logsSent,
  runDir: SUPERVISOR_RUN_DIR,
  runState: SUPERVISOR_RUN_STATE,
  updateLogDir: UPDATE_LOG_DIR,
  updaters: { ...UPDATER_PATHS },
  initScript: SUPERVISOR_INIT_SCRIPT,
  appStore: APP_STORE,
  appInitScript: APP_INIT_SCRIPT,
};

/**
 * For the tests only: the bundle run on the host with this set to a folder standing for `/`
 * (test/supervisor-agent.test.ts). No device sets it; unset, the device's own paths.
 */
export const AGENT_ROOT_ENV = 'HUPLAB_AGENT_ROOT';

/** The device's paths under another root (tests: a temporary folder standing for `/`). */
export function agentPathsUnder(root: string): AgentPaths {
  const r = (p: string) => `${root.replace(/\/+$/, '')}${p}`;
  const d = DEVICE_PATHS;
  return {
    configJson: r(d.configJson),
    osRoot: root,
    stateDir: r(d.stateDir),
    choice: r(d.choice),
    agentDir: r(d.agentDir),
    attempts: r(d.attempts),
    log: r(d.log),
    logsSent: r(d.logsSent),
    runDir: r(d.runDir),
    runState: r(d.runState),
    updateLogDir: r(d.updateLogDir),
    updaters: { hup: r(d.updaters.hup), advanced: r(d.updaters.advanced) },
    initScript: r(d.initScript),
    appStore: r(d.appStore),
    appInitScript: r(d.appInitScript),
  };
}
