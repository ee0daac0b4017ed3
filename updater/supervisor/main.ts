/**
 * The supervisor agent, the device's long-running service. It keeps its run state (what
 * rollback-health checks) fresh every 2 s and, when config.json names the API, the device and its
 * key, beats every AGENT_BEAT_MS: reports what the device runs and its status, takes its target,
 * and carries it out (an OS update by the updater the API names, or an upgrade of itself without a
 * reboot). See agent.ts; every device path is in paths.ts.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AGENT_BEAT_MS } from '../../lib/contract/fleet.ts';
import type { SupervisorRunState } from '../../lib/contract/supervisor.ts';
import { readDeviceConfig, readOsInfo } from '../common/config.ts';
import { registryClient } from '../common/registry.ts';
import { Agent } from './agent.ts';
import { AgentApi } from './api-client.ts';
import type { AgentContext, Detached } from './context.ts';
import { errorLine, fileLog } from './log.ts';
import { AGENT_ROOT_ENV, agentPathsUnder, DEVICE_PATHS } from './paths.ts';

/**
 * A supervisor release's bundle has its version baked in (images/builder/supervisor-build.ts
 * defines it): the code is that version, whatever its command line says. The OS's own bundle has
 * none and runs as the version supervisor.conf names.
 */
declare const HUPLAB_SUPERVISOR_VERSION: string | undefined;
const baked = typeof HUPLAB_SUPERVISOR_VERSION === 'string' ? HUPLAB_SUPERVISOR_VERSION : undefined;
const version = baked ?? process.argv[2] ?? 'unknown';
const paths = process.env[AGENT_ROOT_ENV] ? agentPathsUnder(process.env[AGENT_ROOT_ENV]) : DEVICE_PATHS;
const startedAt = new Date().toISOString();

function runStateBeat(): void {
  try {
    mkdirSync(paths.runDir, { recursive: true });
    const tmp = `${paths.runState}.tmp`;
    const state: SupervisorRunState = { version, pid: process.pid, startedAt, heartbeat: Date.now() };
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, paths.runState);
  } catch (err) {
    process.stdout.write(`cannot write ${paths.runState}: ${errorLine(err)}\n`);
  }
}
runStateBeat();
setInterval(runStateBeat, 2_000);
process.stdout.write(`balena-supervisor ${version} started\n`);
process.on('SIGTERM', () => process.exit(0));

/** `/bin/sh -c command` in a session of its own, its output appended to `logFile`. */
function spawnDetached(command: string, logFile: string): Detached {
  mkdirSync(dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
    child.on('error', () => undefined);
    return { pid: child.pid, onExit: (cb) => void child.on('exit', cb) };
  } finally {
    closeSync(fd);
  }
}

const log = fileLog(paths.log);
let agent: Agent | undefined;
let configSaid = '';

/** The agent, once config.json names the API, the device and its key (read again until it does). */
function agentNow(): Agent | undefined {
  if (agent) return agent;
  let why: string;
  try {
    const config = readDeviceConfig(paths.configJson);
    const { apiEndpoint, uuid, deviceApiKey } = config;
    if (apiEndpoint && uuid && deviceApiKey) {
      const ctx: AgentContext = {
        paths,
        version,
        config,
        api: new AgentApi({ apiEndpoint, uuid, deviceApiKey }),
        log,
        readOs: () => readOsInfo(paths.osRoot),
        registryClient: (r) => registryClient(config, r, { timeoutMs: 30_000, retries: 3 }),
        spawnDetached,
        now: () => new Date(),
        uptime: readUptime,
      };
      log.line(`supervisor ${version}: agent for device ${uuid} at ${apiEndpoint}`);
      agent = new Agent(ctx);
      return agent;
    }
    why = 'config.json names no apiEndpoint, uuid or deviceApiKey: no API to report to';
  } catch (err) {
    why = errorLine(err);
  }
  if (why !== configSaid) log.line(why);
  configSaid = why;
  return undefined;
}

async function loop(): Promise<void> {
  await agentNow()?.beat();
  setTimeout(() => void loop(), AGENT_BEAT_MS);
}
void loop();

/** Seconds since boot, the first field of /proc/uptime. */
function readUptime(): number | undefined {
  try {
    const seconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}
