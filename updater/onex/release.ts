/**
 * What the 1.x update asks the API: a release's record (its version, supervisor, layout and
 * hostapp image), with the device's key, as every updater does.
 */
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import type { DeviceConfig } from '../common/config.ts';

export interface OnexRelease {
  version: string;
  supervisorVersion: string;
  layout: string;
  deviceType: string;
  hostapp: { repository: string; tag: string; manifestDigest: string };
}

export function apiBase(config: DeviceConfig): string {
  if (!config.apiEndpoint) throw new HuplabError('config-invalid', 'config.json has no apiEndpoint');
  return config.apiEndpoint.replace(/\/$/, '');
}

export function authHeaders(config: DeviceConfig): Record<string, string> {
  const key = config.deviceApiKey ?? config.apiKey;
  return key ? { authorization: `Bearer ${key}` } : {};
}

export async function apiJson<T>(config: DeviceConfig, path: string): Promise<T> {
  const r = await fetch(`${apiBase(config)}${path}`, {
    headers: authHeaders(config),
    signal: AbortSignal.timeout(30_000),
  });
  const body = await r.text();
  if (!r.ok) throw new HuplabError('api-error', `API ${path} answered ${r.status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as T;
}

export async function releaseRecord(config: DeviceConfig, version: string, deviceType: string): Promise<OnexRelease> {
  return apiJson<OnexRelease>(
    config,
    `/v1/releases/${encodeURIComponent(version)}?deviceType=${encodeURIComponent(deviceType)}`,
  ).catch((err: unknown) => {
    throw new HuplabError(
      'release-not-found',
      `release ${version} for ${deviceType}: ${isHuplabError(err) ? err.message : String(err)}`,
    );
  });
}
