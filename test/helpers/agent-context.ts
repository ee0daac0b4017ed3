/**
 * The agent's context on the host for the tests: the real API client and registry client, its
 * log lines and the commands it would start kept in arrays, a fixed clock; and a device
 * registered with a real backend, its config.json as the agent reads it.
 */
import type { Backend } from '../../harness/backend/index.ts';
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

/** Registers a generic-amd64 device with the backend; its config names the API and both registries. */
export async function registeredDevice(backend: Backend): Promise<DeviceConfig & { deviceApiKey: string }> {
  const r = await fetch(`${backend.urls.api}/v1/devices`, {
    method: 'POST',
    headers: { ...backend.operatorHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'agent-test', deviceType: 'generic-amd64', arch: 'amd64' }),
  });
  const { uuid, deviceApiKey } = (await r.json()) as { uuid: string; deviceApiKey: string };
  return {
    uuid,
    deviceApiKey,
    deviceType: 'generic-amd64',
    apiEndpoint: backend.urls.api,
    registryEndpoint: backend.urls.primaryRegistry,
    fallbackRegistryEndpoint: backend.urls.fallbackRegistry,
  };
}
