/**
 * What the 1.x paths ask the API: a release's record (its version, supervisor, layout and
 * hostapp image), the tool list, with the device's key, as every updater does.
 */
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { fetchFailure } from '../../lib/fetch-failure.ts';
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

/**
 * GET `path` of the API as JSON. Three tries: one dropped connection (seen under TCG, where a
 * slow board's stack lags) must not end an update; each retry is said through `warn`, and the
 * last failure names fetch's cause (ECONNRESET, a timeout), not only "fetch failed".
 */
export async function apiJson<T>(
  config: DeviceConfig,
  path: string,
  warn: (line: string) => void = () => undefined,
): Promise<T> {
  const url = `${apiBase(config)}${path}`;
  let r: Response | undefined;
  for (let attempt = 1; !r; attempt++) {
    try {
      r = await fetch(url, { headers: authHeaders(config), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const why = `API ${path}: ${fetchFailure(err)}`;
      if (attempt >= 3) throw new HuplabError('api-unreachable', why);
      warn(`${why}; trying again`);
      await new Promise((res) => setTimeout(res, 2_000 * attempt));
    }
  }
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
