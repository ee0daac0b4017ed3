/**
 * The updater's view of the registries config.json names: a client for each as config.json
 * configures it (who the device is to the registry, which CA it trusts, and on an emulated device
 * how it reaches registries the lab names on its loopback), and the checks step's question "does
 * a registry have the target image?".
 */
import { readLabHost } from '../../lib/contract/lab-host.ts';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { RegistryClient, type RegistryClientOptions } from '../../lib/oci/client.ts';
import { shortDigest } from '../../lib/oci/digest.ts';
import { imageMissingReason, imageUnanswered } from '../../lib/contract/download-detail.ts';
import type { DeviceConfig } from './config.ts';

/** The registries to pull from, in order: the primary, then the fallback. */
export function registriesOf(config: DeviceConfig): string[] {
  return [config.registryEndpoint, config.fallbackRegistryEndpoint].filter((r): r is string => !!r);
}

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
  url: string,
  opts: Pick<RegistryClientOptions, 'timeoutMs' | 'retries' | 'retryDelayMs'> = {},
): RegistryClient {
  return new RegistryClient(url, { ...opts, ...registryClientOptions(config) });
}

/** A registry's answer, without the client's "registry <url>: " prefix: "404 MANIFEST_UNKNOWN: ...". */
export function registryAnswer(err: unknown, registry: string): string {
  const text = isHuplabError(err) ? err.message : err instanceof Error ? err.message : String(err);
  const answered = /answered (\d{3})(?::? )?(.*)$/.exec(text);
  if (answered) return `${answered[1]}${answered[2] ? ` ${answered[2]}` : ''}`;
  const failed = / failed(?: after \d+ attempts)?: (.*)$/.exec(text);
  if (failed) return `unreachable: ${failed[1]}`;
  return text.replace(`registry ${registry.replace(/\/+$/, '')}: `, '');
}

export interface TargetImage {
  repository: string;
  manifestDigest: string;
}

export interface FoundImage {
  /** The registry that has it (the first that answered with the manifest). */
  registry: string;
  /** The image's layers and their bytes, from the manifest. */
  layers: number;
  bytes: number;
}

/**
 * Asks each registry in turn for the target image's manifest (verified against its digest) and
 * returns the first that has it. None: a one-line HuplabError naming every registry and its
 * answer. Nothing is downloaded but the manifest and nothing is written.
 */
export async function findTargetImage(opts: {
  registries: string[];
  image: TargetImage;
  client: (registry: string) => RegistryClient;
  log: (m: string) => void;
}): Promise<FoundImage> {
  const { repository, manifestDigest } = opts.image;
  const image = `${repository}@${manifestDigest}`;
  if (opts.registries.length === 0) throw new HuplabError('config-invalid', 'config.json names no registry');
  const reasons: string[] = [];
  for (const registry of opts.registries) {
    try {
      const { manifest } = await opts.client(registry).getManifest(repository, manifestDigest);
      if (reasons.length > 0)
        opts.log(`the fallback registry ${registry} has ${repository}@${shortDigest(manifestDigest)}`);
      return {
        registry,
        layers: manifest.layers.length,
        bytes: manifest.layers.reduce((sum, l) => sum + l.size, 0),
      };
    } catch (err) {
      const answer = registryAnswer(err, registry);
      const why =
        isHuplabError(err, 'not-found') || /^404\b/.test(answer)
          ? imageMissingReason(registry, image, answer)
          : imageUnanswered(registry, image, answer);
      reasons.push(why);
      if (registry !== opts.registries.at(-1)) opts.log(`${why}; asking the fallback registry`);
    }
  }
  // No hint: the reason is parsed back (lib/contract) and names all there is to know.
  throw new HuplabError('image-unavailable', reasons.join('; '));
}
