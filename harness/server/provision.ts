/**
 * A device provisioned against the lab server that runs for its lab: registered through the
 * server's API with the lab's operator token, and the config.json fields that point it there
 * (the server's endpoints as the device reaches them, the labHost ports its restricted network
 * forwards, its uuid and its API key). `huplab device start` uses it while `huplab serve` runs.
 */
import { HuplabError } from '../../lib/errors.ts';
import type { DeviceInfo } from '../backend/device-records.ts';
import type { DeviceConfig } from '../backend/update-backend.ts';
import type { Lab } from '../lab.ts';
import { type ServerRecord, serverStatus } from './lab-server.ts';

export interface ServerDevice {
  name: string;
  deviceType: string;
  arch: string;
  osVersion?: string;
  supervisorVersion?: string;
}

export interface ServerProvision {
  server: ServerRecord;
  device: DeviceInfo;
  /** config.json fields for the device. */
  config: DeviceConfig;
}

/** Registers the device with the lab's running server; undefined when no server runs for the lab. */
export async function provisionWithServer(lab: Lab, device: ServerDevice): Promise<ServerProvision | undefined> {
  const status = serverStatus(lab.dir);
  const server = status.server;
  if (!status.running || !server) return undefined;
  const failed = (why: string) =>
    new HuplabError(
      'server-register-failed',
      `cannot register ${device.name} with the lab server at ${server.urls.api}: ${why}`,
      {
        hint: 'see `huplab serve --status`; start the device with --no-server to run it without the server',
      },
    );
  let res: Response;
  try {
    res = await fetch(`${server.urls.api}/v1/devices`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${lab.operatorToken}` },
      body: JSON.stringify({ ...device, status: 'provisioned' }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw failed((err as Error).message);
  }
  const body = (await res.json().catch(() => ({}))) as {
    uuid?: string;
    deviceApiKey?: string;
    device?: DeviceInfo;
    error?: string;
  };
  if (res.status !== 201 || !body.uuid || !body.deviceApiKey || !body.device)
    throw failed(`HTTP ${res.status}${body.error ? ` ${body.error}` : ''}`);
  const g = server.guestUrls;
  return {
    server,
    device: body.device,
    config: {
      apiEndpoint: g.api,
      registryEndpoint: g.primaryRegistry,
      fallbackRegistryEndpoint: g.fallbackRegistry,
      deltaEndpoint: g.delta,
      labHost: server.labHost,
      uuid: body.uuid,
      deviceApiKey: body.deviceApiKey,
    },
  };
}
