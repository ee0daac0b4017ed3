/**
 * A registry of the lab's own (the CNCF distribution registry, Harbor, a cloud registry) for the
 * devices to pull hostapps from instead of the backend's built-in ones. Given as the lab host
 * sees it; checked from the host before any device starts (the release is there, under the
 * digest it was built with), which also finds who else a device will talk to for it: the
 * registry's token service and the store its blobs redirect to. An emulated device is allowed
 * exactly those, when they are on the lab host's loopback (lib/contract/lab-host.ts).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { urlPort } from '../../lib/contract/lab-host.ts';
import { HuplabError } from '../../lib/errors.ts';
import { parseCredentials, type RegistryCredentials } from '../../lib/oci/auth.ts';
import { RegistryClient } from '../../lib/oci/client.ts';
import { shortDigest } from '../../lib/oci/digest.ts';

export interface ExternalRegistry {
  /** The registry as the lab host reaches it, e.g. http://127.0.0.1:5000. */
  url: string;
  /** A second registry the device falls back to. */
  fallbackUrl?: string;
  /** Repository the hostapps were pushed to (default: huplab/<device type>, as `images push`). */
  repository?: string;
  /** For the host's check and the device's pulls (config.json registryCredentials). */
  credentials?: RegistryCredentials;
  /** PEM: trusted for https besides the system roots, on the host and the device (balenaRootCA). */
  caCertificate?: string;
}

/** What the options of `hup`, `qualify` and `powercut` (or their HUPLAB_REGISTRY* variables) say. */
export interface ExternalRegistryInput {
  registry?: string;
  registryFallback?: string;
  registryRepository?: string;
  /** user:password, or a bearer token. */
  registryCreds?: string;
  /** A PEM file. */
  registryCa?: string;
}

/** Each option and the variable that gives it when the command line does not. */
export const REGISTRY_VARIABLES: ReadonlyArray<readonly [keyof ExternalRegistryInput, string]> = [
  ['registry', 'HUPLAB_REGISTRY'],
  ['registryFallback', 'HUPLAB_REGISTRY_FALLBACK'],
  ['registryRepository', 'HUPLAB_REGISTRY_REPOSITORY'],
  ['registryCreds', 'HUPLAB_REGISTRY_CREDS'],
  ['registryCa', 'HUPLAB_REGISTRY_CA'],
];

/** The HUPLAB_REGISTRY* variables, for the suites (and as the commands' defaults). */
export function externalRegistryInputFromEnv(env: NodeJS.ProcessEnv = process.env): ExternalRegistryInput {
  const input: ExternalRegistryInput = {};
  for (const [option, variable] of REGISTRY_VARIABLES) if (env[variable]) input[option] = env[variable];
  return input;
}

/** Options over variables; undefined when no registry is named (the built-in ones serve). */
export async function resolveExternalRegistry(
  given: ExternalRegistryInput,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExternalRegistry | undefined> {
  const i = { ...externalRegistryInputFromEnv(env), ...definedOnly(given) };
  if (!i.registry) {
    const orphan = (['registryFallback', 'registryRepository', 'registryCreds', 'registryCa'] as const).find(
      (k) => i[k] !== undefined,
    );
    if (orphan) {
      throw new HuplabError('registry-option-alone', `--${kebab(orphan)} needs --registry`, {
        hint: 'name the registry the devices pull from with --registry URL (or HUPLAB_REGISTRY)',
      });
    }
    return undefined;
  }
  const url = registryUrl(i.registry, 'registry');
  const fallbackUrl = i.registryFallback ? registryUrl(i.registryFallback, 'registry-fallback') : undefined;
  const caCertificate = i.registryCa
    ? await readFile(i.registryCa, 'utf8').catch((err: Error) => {
        throw new HuplabError('ca-cert-unreadable', `cannot read the CA certificate ${i.registryCa}: ${err.message}`, {
          hint: 'give a PEM file with --registry-ca (or HUPLAB_REGISTRY_CA)',
        });
      })
    : undefined;
  if (caCertificate !== undefined && !caCertificate.includes('-----BEGIN CERTIFICATE-----')) {
    throw new HuplabError('ca-cert-invalid', `${i.registryCa} is not a PEM certificate`, {
      hint: 'give the registry CA certificate in PEM form',
    });
  }
  return {
    url,
    ...(fallbackUrl ? { fallbackUrl } : {}),
    ...(i.registryRepository ? { repository: i.registryRepository } : {}),
    ...(i.registryCreds ? { credentials: parseCredentials(i.registryCreds) } : {}),
    ...(caCertificate ? { caCertificate } : {}),
  };
}

function definedOnly(o: ExternalRegistryInput): ExternalRegistryInput {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ExternalRegistryInput;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function registryUrl(text: string, option: string): string {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    throw new HuplabError('registry-url-invalid', `--${option} ${text}: not a URL`, {
      hint: 'e.g. http://127.0.0.1:5000 or https://registry.example.com',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HuplabError('registry-url-invalid', `--${option} ${text}: not http(s)`, {
      hint: 'e.g. http://127.0.0.1:5000 or https://registry.example.com',
    });
  }
  if (url.pathname !== '/' || url.search || url.username || url.password) {
    throw new HuplabError('registry-url-invalid', `--${option} ${text}: a registry is named by its origin only`, {
      hint: `give ${url.origin}; the repository goes in --registry-repository, credentials in --registry-creds`,
    });
  }
  return url.origin;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function isLoopback(url: URL): boolean {
  return LOOPBACK.has(url.hostname);
}

/** What the host's check of one registry found. */
export interface RegistryProbe {
  registry: string;
  /** Every origin the pull involved: the registry, its token service, its blob store. */
  origins: string[];
}

/**
 * Checks from the host that `registry` serves `repository@digest` (the manifest, and its config
 * blob through whatever redirect the registry answers), as a device would pull it. A one-line
 * error names the registry and its answer, with the `images push` that would fix a missing image.
 */
export async function probeRegistry(
  reg: ExternalRegistry,
  registry: string,
  image: { repository: string; digest: string; version: string; device: string },
): Promise<RegistryProbe> {
  const origins = new Set<string>();
  const client = new RegistryClient(registry, {
    timeoutMs: 30_000,
    retries: 1,
    ...(reg.credentials ? { credentials: reg.credentials } : {}),
    ...(reg.caCertificate ? { caCertificate: reg.caCertificate } : {}),
    onRequest: (u) => origins.add(u.origin),
  });
  const where = `${registry}/${image.repository}@${shortDigest(image.digest)}`;
  let manifest: { config?: { digest: string; size: number } };
  try {
    manifest = (await client.getManifest(image.repository, image.digest)).manifest as typeof manifest;
  } catch (err) {
    const why = err instanceof HuplabError ? err.message : (err as Error).message;
    throw new HuplabError('registry-image-missing', `the release ${image.version} is not at ${where}: ${why}`, {
      hint: `put it there with \`huplab images push --device ${image.device} --release ${image.version} --registry ${registry}${reg.repository ? ` --repository ${reg.repository}` : ''}\`, or check --registry-creds`,
      cause: err,
    });
  }
  if (manifest.config) {
    const dir = await mkdtemp(join(tmpdir(), 'huplab-probe-'));
    try {
      await client.fetchBlob(image.repository, manifest.config.digest, join(dir, 'config.json'), {
        expectedSize: manifest.config.size,
      });
    } catch (err) {
      throw new HuplabError(
        'registry-blob-failed',
        `${where}: the manifest is there but its config blob is not served: ${(err as Error).message}`,
        { hint: 'push the release again with `huplab images push`', cause: err },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { registry, origins: [...origins] };
}

/**
 * The lab host ports an emulated device must reach for these probes: every origin on the host's
 * loopback. An origin elsewhere cannot be reached from an emulated device's restricted network:
 * refused, naming it.
 */
export function loopbackPorts(probes: RegistryProbe[]): number[] {
  const ports = new Set<number>();
  for (const p of probes) {
    for (const origin of p.origins) {
      const url = new URL(origin);
      if (!isLoopback(url)) {
        throw new HuplabError(
          'registry-not-on-lab-host',
          `${p.registry}: an emulated device cannot reach ${origin} (its network reaches only the lab host's loopback)`,
          {
            hint: 'serve the registry (and its token service and blob store) on this host, or run on a board of the lab inventory',
          },
        );
      }
      ports.add(urlPort(url));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
