/**
 * The agent's context on the host for the tests: the real API client and registry client, its
 * log lines and the commands it would start kept in arrays, a fixed clock.
 */
import type { AgentApi } from '../../updater/supervisor/api-client.ts';
import { readOsInfo, type DeviceConfig } from '../../updater/common/config.ts';
import { registryClient } from '../../updater/common/registry.ts';
import type { AgentContext } from '../../updater/supervisor/context.ts';
import type { AgentPaths } from '../../updater/supervisor/paths.ts';

export interface HostAgent {
  ctx: AgentContext;
  lines: string[];
  spawned: string[];
}

export function hostAgentContext(
  paths: AgentPaths,
  version: string,
  config: DeviceConfig,
  api: AgentApi,
  now = new Date('2026-12-04T10:00:00Z'),
): HostAgent {
  const lines: string[] = [];
  const spawned: string[] = [];
  const ctx: AgentContext = {
    paths,
    version,
    config,
    api,
    log: { line: (m) => void lines.push(m) },
    readOs: () => readOsInfo(paths.osRoot),
    registryClient: (r) => registryClient(config, r, { retries: 0, retryDelayMs: 10 }),
    spawnDetached: (command) => {
      spawned.push(command);
      return { pid: undefined, onExit: () => undefined };
    },
    now: () => now,
  };
  return { ctx, lines, spawned };
}
