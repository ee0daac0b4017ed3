/**
 * How an emulated device reaches the lab host. Its QEMU network is restricted: the guest reaches
 * nothing on the host or beyond but the ports its config.json lists under `labHost`, each
 * forwarded from LAB_HOST_ADDRESS to the same port on the host's loopback. The harness writes the
 * list (the backend's services, and the registries the run was pointed at, with their token
 * servers and blob stores); QEMU's command line is built from it at each power-on.
 *
 * A URL the device is handed by someone else (a registry's token realm, a blob redirect) names
 * the host as the lab host sees it, 127.0.0.1 or localhost: the device's HTTP client connects to
 * LAB_HOST_ADDRESS instead for a listed port, and still speaks to the host the URL names (Host
 * header, TLS server name and certificate check).
 */
export const LAB_HOST_ADDRESS = '10.0.2.100';

/** config.json's `labHost` field. */
export interface LabHostConfig {
  address: string;
  ports: number[];
}

/** The config.json key. */
export const LAB_HOST_KEY = 'labHost';

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The config.json value, or undefined when it is absent or not of that shape. */
export function readLabHost(config: Record<string, unknown>): LabHostConfig | undefined {
  const v = config[LAB_HOST_KEY] as Partial<LabHostConfig> | undefined;
  if (!v || typeof v.address !== 'string' || !Array.isArray(v.ports)) return undefined;
  const ports = v.ports.filter((p): p is number => Number.isInteger(p) && p > 0 && p < 65536);
  return { address: v.address, ports };
}

/** The port a URL connects to, its scheme's default when it names none. */
export function urlPort(url: URL): number {
  if (url.port) return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/**
 * Where to connect for `url`: the lab host's address when the URL names the host's loopback on a
 * listed port, else undefined (connect to the URL's own host).
 */
export function labHostRoute(url: URL, labHost: LabHostConfig | undefined): { host: string; port: number } | undefined {
  if (!labHost || !LOOPBACK_NAMES.has(url.hostname)) return undefined;
  const port = urlPort(url);
  return labHost.ports.includes(port) ? { host: labHost.address, port } : undefined;
}
