/**
 * Devices without a VM, for the dashboard's benchmark and browser test: registered with a running lab
 * server by the operator (POST /v1/devices), then speaking the agent's protocol with their own
 * keys (heartbeat PATCH /v1/devices/<uuid>/state, progress, logs), as updater/supervisor/ does.
 */
import type { AgentState } from '../lib/contract/fleet.ts';

export interface FakeAgent {
  uuid: string;
  name: string;
  key: string;
  state: AgentState;
}

export async function registerFake(
  api: string,
  operatorToken: string,
  d: { name: string; deviceType?: string; arch?: string; osVersion: string; supervisorVersion: string },
): Promise<FakeAgent> {
  const res = await fetch(`${api}/v1/devices`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${operatorToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ deviceType: 'generic-amd64', arch: 'amd64', ...d }),
  });
  if (res.status !== 201) throw new Error(`cannot register ${d.name}: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { uuid: string; deviceApiKey: string };
  return {
    uuid: body.uuid,
    name: d.name,
    key: body.deviceApiKey,
    state: { osVersion: d.osVersion, supervisorVersion: d.supervisorVersion, status: 'Idle' },
  };
}

async function send(api: string, a: FakeAgent, path: string, method: string, body: unknown): Promise<Response> {
  const res = await fetch(`${api}/v1/devices/${a.uuid}${path}`, {
    method,
    headers: { Authorization: `Bearer ${a.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${a.name}: ${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

/** One heartbeat with the agent's state; the answer (its record and target). */
export async function beat(api: string, a: FakeAgent): Promise<{ target?: Record<string, unknown> | null }> {
  return (await send(api, a, '/state', 'PATCH', a.state)).json() as Promise<{
    target?: Record<string, unknown> | null;
  }>;
}

export async function progress(api: string, a: FakeAgent, percent: number, message: string): Promise<void> {
  await send(api, a, '/progress', 'PATCH', { percent, message });
}

export async function sendLog(api: string, a: FakeAgent, name: string, text: string): Promise<void> {
  await send(api, a, '/logs', 'POST', { name, text });
}
