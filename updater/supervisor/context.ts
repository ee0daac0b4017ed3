/**
 * What the agent's pieces share: its paths, its version, the config, the API, the log, the
 * clock and the ways it starts processes (injected, so the tests run it on the host).
 */
import type { DeviceConfig, OsInfo } from '../common/config.ts';
import type { RegistryClient } from '../../lib/oci/client.ts';
import type { AgentApi } from './api-client.ts';
import type { AgentLog } from './log.ts';
import type { AgentPaths } from './paths.ts';

/** A process started in its own session (it survives `service stop` of the supervisor's group). */
export interface Detached {
  pid: number | undefined;
  /** Called with its exit code (null: killed by a signal) if it ends while the agent runs. */
  onExit(cb: (code: number | null, signal: string | null) => void): void;
}

export interface AgentContext {
  paths: AgentPaths;
  /** The version this supervisor is. */
  version: string;
  config: DeviceConfig;
  api: AgentApi;
  log: AgentLog;
  readOs(): OsInfo;
  registryClient(registry: string): RegistryClient;
  /** Starts `/bin/sh -c command` detached, its output appended to `logFile`. */
  spawnDetached(command: string, logFile: string): Detached;
  now(): Date;
  /** Seconds since boot (/proc/uptime); undefined when it cannot be read. */
  uptime?(): number | undefined;
}
