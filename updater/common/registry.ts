/**
 * The registry client as config.json configures it: who the device is to the registry, which CA
 * it trusts, and (emulated devices) how it reaches registries the lab names on its loopback.
 */
import { readLabHost } from '../../lib/contract/lab-host.ts';
import { RegistryClient, type RegistryClientOptions } from '../../lib/oci/client.ts';
import type { DeviceConfig } from './config.ts';

/**
 * - `registryCredentials` present: those (user and password, or a token), answered to the
 *   registry's challenge (Basic, or its token service); `{}` means anonymous. A lab's own
 *   registry gets this, so the device's API key never leaves for a third party.
 * - absent: the device's API key as a bearer token, as the lab backend's registries expect.
 * - `balenaRootCA` (base64 PEM, balenaOS's field): trusted for https besides the system's roots.
 */
export function registryClientOptions(config: DeviceConfig): RegistryClientOptions {
  const opts: RegistryClientOptions = {};
  if (config.registryCredentials) {
    const { username, password, token } = config.registryCredentials;
    if (username !== undefined || password !== undefined || token !== undefined) {
      opts.credentials = {
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(token !== undefined ? { token } : {}),
      };
    }
  } else {
    const key = config.deviceApiKey ?? config.apiKey;
    if (key) opts.credentials = { token: key };
  }
  if (config.balenaRootCA) opts.caCertificate = Buffer.from(config.balenaRootCA, 'base64').toString('utf8');
  const labHost = readLabHost(config as unknown as Record<string, unknown>);
  if (labHost) opts.labHost = labHost;
  return opts;
}

/** A client for one of the device's registries, configured from config.json. */
export function registryClient(
  config: DeviceConfig,
  endpoint: string,
  opts: Pick<RegistryClientOptions, 'timeoutMs' | 'retries'>,
): RegistryClient {
  return new RegistryClient(endpoint, { ...opts, ...registryClientOptions(config) });
}
