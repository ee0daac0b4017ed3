import { readFileSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import type { RegistryCredentials } from '../../lib/oci/auth.ts';

/** The device's config.json (on the boot partition), as balenaOS provisions it. */
export interface DeviceConfig {
  uuid: string;
  deviceType: string;
  apiEndpoint?: string;
  apiKey?: string;
  deviceApiKey?: string;
  registryEndpoint?: string;
  fallbackRegistryEndpoint?: string;
  deltaEndpoint?: string;
  /**
   * For a registry that wants its own credentials (user and password, or a token): they answer
   * its challenges instead of the device's API key; `{}` is anonymous. Absent: the device's API
   * key, which the lab backend's registries take (and no third party ever gets).
   */
  registryCredentials?: RegistryCredentials;
  /** balenaOS's field: a CA certificate (PEM, base64-encoded) trusted for https endpoints. */
  balenaRootCA?: string;
}

export const CONFIG_JSON = '/mnt/boot/config.json';

export function readDeviceConfig(path = CONFIG_JSON): DeviceConfig {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DeviceConfig;
  } catch (err) {
    throw new HuplabError('config-unreadable', `cannot read ${path}: ${(err as Error).message}`, {
      hint: 'the boot partition is damaged or not mounted',
    });
  }
}

/** The running OS, from /etc/os-release and the release file the image builder writes. */
export interface OsInfo {
  version: string;
  supervisorVersion: string;
  layout: string;
  deviceType: string;
  arch: string;
}

export function readOsInfo(root = '/'): OsInfo {
  const rel = JSON.parse(readFileSync(`${root}/etc/huplab-release.json`, 'utf8')) as OsInfo;
  return rel;
}
