/**
 * The update backend on the host: API, primary and fallback registries and the delta service,
 * each on its own 127.0.0.1 port with its own fault switch. An emulated device reaches the same
 * ports at LAB_HOST_ADDRESS (lib/contract/lab-host.ts): its restricted QEMU network forwards
 * exactly these, and nothing else of the host.
 */
import { readFile } from 'node:fs/promises';
import { APP_LABELS, type ApplicationRelease } from '../../lib/contract/application.ts';
import { LAB_HOST_ADDRESS } from '../../lib/contract/lab-host.ts';
import { HuplabError } from '../../lib/errors.ts';
import { holdings } from '../holdings.ts';
import { Api, type ApiOptions, type ReleaseRecord, type SupervisorReleaseRecord } from './api.ts';
import { type DeviceKeyStore, LabAuth } from './auth.ts';
import { DeltaService } from './delta-service.ts';
import { Faults, type FaultGroup } from './faults.ts';
import { Registry } from './registry.ts';
import { RequestLog, type RequestLogEntry } from './request-log.ts';
import { startServer, type Handler, type RunningServer, type ServerExtension } from './serve.ts';
import type { Reply } from './reply.ts';
import { isVariant, type Variant } from '../../lib/contract/variant.ts';
import { sha256Digest } from '../../lib/oci/digest.ts';
import { readImageLayout } from '../../lib/oci/layout.ts';
import { SUPERVISOR_LABELS, supervisorRepository } from '../../lib/supervisor-policy.ts';

export type { DeviceInfo, DeviceRecords, ReleaseRecord, SupervisorReleaseRecord } from './api.ts';
export type { DeviceKeyStore } from './auth.ts';
export type { FaultGroup, FaultSpec, FaultState } from './faults.ts';
export type { RequestLogEntry } from './request-log.ts';
export type { IncomingRequest, ServerExtension } from './serve.ts';

/** The address of the lab host as an emulated device (and a stand-in board) sees it. */
export const GUEST_HOST = LAB_HOST_ADDRESS;

export interface BackendUrls {
  api: string;
  primaryRegistry: string;
  fallbackRegistry: string;
  delta: string;
}

export interface PublishReleaseOptions {
  deviceType: string;
  version: string;
  /** Default: the hostapp's io.balena.supervisor.version label. */
  supervisorVersion?: string;
  /** Default: the hostapp's io.huplab.layout label. */
  layout?: string;
  /** Default: the hostapp's io.huplab.variant label (none on a hostapp built before variants). */
  variant?: Variant;
  /** Debian architecture of the OS's userland (the profile's arch). */
  arch: string;
  /** The boot flash firmware the release ships (the build's boot-flash.json), if any. */
  bootFlash?: ReleaseRecord['bootFlash'];
  /** OCI image layout directory of the release's hostapp. */
  hostappDir: string;
  /** Must be the layout's manifest: guards against publishing the wrong build. */
  manifestDigest: string;
  /** Repository in the registries and in the release record (default: huplab/<device type>). */
  repository?: string;
  /** Also push to the fallback registry (default true). */
  onFallbackToo?: boolean;
}

export interface PublishSupervisorOptions {
  version: string;
  /** Debian CPU architecture; must be the image's io.balena.supervisor.arch label. */
  arch: string;
  /** OCI image layout directory of the supervisor image (images/builder/supervisor-build.ts). */
  imageDir: string;
  /** Must be the layout's manifest: guards against publishing the wrong build. */
  manifestDigest: string;
  /** Default: huplab/supervisor-<arch> (lib/supervisor-policy.ts). */
  repository?: string;
  /** Also push to the fallback registry (default true). */
  onFallbackToo?: boolean;
}

export interface PublishApplicationOptions {
  appId: number;
  name: string;
  /** Must be the image's io.balena.app-release label. */
  release: string;
  /** OCI image layout directory of the application image (images/builder/app-build.ts). */
  imageDir: string;
  manifestDigest: string;
  /** Default: huplab/app-<name>. */
  repository?: string;
}

export interface Backend {
  api: Api;
  primary: Registry;
  fallback: Registry;
  delta: DeltaService;
  faults: Faults;
  /** The operator token and the device keys every request is checked against. */
  auth: LabAuth;
  /** Headers that authenticate the harness's own requests (the lab operator token). */
  operatorHeaders(): Record<string, string>;
  /** Registers a device and returns its API key (for its config.json). */
  registerDevice(uuid: string, key?: string): string;
  urls: BackendUrls;
  guestUrls: BackendUrls;
  /** The host ports of the services: what an emulated device's network forwards. */
  ports: number[];
  /** Requests seen by one endpoint group, oldest first. */
  log(group: FaultGroup): RequestLogEntry[];
  clearLog(group?: FaultGroup): void;
  publishRelease(opts: PublishReleaseOptions): Promise<ReleaseRecord>;
  /**
   * Serves a supervisor release's image (repository huplab/supervisor-<arch>, tag = version) and
   * records it at the API (GET /v1/supervisor-releases). The image's labels must name the same
   * version and arch, and its minimum OS version.
   */
  publishSupervisor(opts: PublishSupervisorOptions): Promise<SupervisorReleaseRecord>;
  /** Pushes an application image to both registries; every heartbeat names it from then on. */
  publishApplication(opts: PublishApplicationOptions): Promise<ApplicationRelease>;
  stop(): Promise<void>;
}

export interface StartBackendOptions extends ApiOptions {
  /** The lab's operator token (default: a fresh random one for this backend). */
  operatorToken?: string;
  /** Address the services listen on besides loopback (boards of the lab network: 0.0.0.0 or the host's). */
  listen?: string;
  /** Where device keys (their digests) are kept beyond this process (default: nowhere; the lab server's database). */
  deviceKeys?: DeviceKeyStore;
  /**
   * Ports to listen on, per service (default: any free one). The lab server asks for the ports
   * it had before a restart: its devices' config.json and network forwards name them.
   */
  ports?: Partial<Record<FaultGroup, number>>;
  /** More routes on the API's port (the lab server's dashboard), given the backend once it runs. */
  apiExtension?: ServerExtension;
}

export async function startBackend(opts: StartBackendOptions = {}): Promise<Backend> {
  const faults = new Faults();
  const requests = new RequestLog();
  const auth = new LabAuth(opts.operatorToken, opts.deviceKeys);
  const api = new Api(opts, { newDeviceKey: (uuid) => auth.registerDevice(uuid) }, faults, requests);
  const primary = new Registry();
  const fallback = new Registry();
  const delta = new DeltaService();

  const servers: RunningServer[] = [];
  const start = async (group: FaultGroup, handler: Handler, errorReply: (s: number, m: string) => Reply) => {
    const s = await startServer({
      group,
      handler,
      faults,
      log: requests,
      auth,
      errorReply,
      ...(opts.listen ? { listen: opts.listen } : {}),
      ...(opts.ports?.[group] !== undefined ? { port: opts.ports[group] } : {}),
      ...(group === 'api' && opts.apiExtension ? { extension: opts.apiExtension } : {}),
    });
    servers.push(s);
    return s.url;
  };
  let urls: BackendUrls;
  try {
    urls = {
      api: await start('api', api.handle, Api.errorReply),
      primaryRegistry: await start('primary', primary.handle, Registry.errorReply),
      fallbackRegistry: await start('fallback', fallback.handle, Registry.errorReply),
      delta: await start('delta', delta.handle, DeltaService.errorReply),
    };
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw new HuplabError(
      'backend-start-failed',
      `cannot start the update backend on ${opts.listen ?? '127.0.0.1'}: ${(err as Error).message}`,
      { cause: err, infrastructure: true },
    );
  }
  const guestUrls = Object.fromEntries(
    Object.entries(urls).map(([k, v]) => [k, v.replace('//127.0.0.1:', `//${GUEST_HOST}:`)]),
  ) as unknown as BackendUrls;

  const backend: Backend = {
    api,
    primary,
    fallback,
    delta,
    faults,
    auth,
    operatorHeaders: () => auth.operatorHeaders(),
    registerDevice: (uuid, key) => auth.registerDevice(uuid, key),
    urls,
    guestUrls,
    ports: Object.values(urls).map((u) => Number(new URL(u).port)),
    log: (group) => requests.list(group),
    clearLog: (group) => requests.clear(group),
    async publishRelease(p) {
      const repository = p.repository ?? `huplab/${p.deviceType}`;
      const targets = p.onFallbackToo === false ? [primary] : [primary, fallback];
      let labels: Record<string, string> = {};
      for (const registry of targets) {
        const image = await registry.addHostapp({
          repository,
          tag: p.version,
          layoutDir: p.hostappDir,
          manifestDigest: p.manifestDigest,
        });
        labels = image.labels;
      }
      const pick = (given: string | undefined, label: string, what: string) => {
        const value = given ?? labels[label];
        if (!value) {
          throw new HuplabError(
            'release-invalid',
            `cannot publish ${p.version} for ${p.deviceType}: no ${what} given and the hostapp has no ${label} label`,
          );
        }
        return value;
      };
      const variant = p.variant ?? (isVariant(labels['io.huplab.variant']) ? labels['io.huplab.variant'] : undefined);
      const release: ReleaseRecord = {
        deviceType: p.deviceType,
        version: p.version,
        supervisorVersion: pick(p.supervisorVersion, 'io.balena.supervisor.version', 'supervisorVersion'),
        layout: pick(p.layout, 'io.huplab.layout', 'layout'),
        ...(variant ? { variant } : {}),
        arch: p.arch,
        ...(p.bootFlash ? { bootFlash: p.bootFlash } : {}),
        hostapp: { repository, tag: p.version, manifestDigest: p.manifestDigest },
      };
      api.addRelease(release);
      return release;
    },
    async publishSupervisor(p) {
      const repository = p.repository ?? supervisorRepository(p.arch);
      const what = `supervisor ${p.version} (${p.arch})`;
      // Checked before any registry serves it: a wrong image must not replace a good tag.
      const labels = await imageLabels(p.imageDir, p.manifestDigest, what);
      const wrong = (label: string, expected: string) =>
        labels[label] === expected
          ? undefined
          : `its ${label} label is ${labels[label] === undefined ? 'missing' : `"${labels[label]}"`}, not "${expected}"`;
      const why = wrong(SUPERVISOR_LABELS.version, p.version) ?? wrong(SUPERVISOR_LABELS.arch, p.arch);
      const minOsVersion = labels[SUPERVISOR_LABELS.minOsVersion];
      if (why || !minOsVersion)
        throw new HuplabError(
          'supervisor-invalid',
          `cannot publish ${what} from ${p.imageDir}: ${why ?? `its ${SUPERVISOR_LABELS.minOsVersion} label is missing`}`,
          { hint: 'build it with `huplab images build --supervisor VERSION --arch ARCH`' },
        );
      for (const registry of p.onFallbackToo === false ? [primary] : [primary, fallback])
        await registry.addHostapp({
          repository,
          tag: p.version,
          layoutDir: p.imageDir,
          manifestDigest: p.manifestDigest,
          what,
        });
      const record: SupervisorReleaseRecord = {
        version: p.version,
        arch: p.arch,
        minOsVersion,
        image: { repository, tag: p.version, manifestDigest: p.manifestDigest },
      };
      api.addSupervisorRelease(record);
      return record;
    },
    async publishApplication(p) {
      const repository = p.repository ?? `huplab/app-${p.name}`;
      const what = `application ${p.name} ${p.release}`;
      const labels = await imageLabels(p.imageDir, p.manifestDigest, what);
      for (const [label, expected] of [
        [APP_LABELS.appId, String(p.appId)],
        [APP_LABELS.release, p.release],
      ] as const) {
        if (labels[label] !== expected)
          throw new HuplabError(
            'app-invalid',
            `cannot publish ${what} from ${p.imageDir}: its ${label} label is ${labels[label] === undefined ? 'missing' : `"${labels[label]}"`}, not "${expected}"`,
            { hint: 'build it with the image builder (images/builder/app-build.ts)' },
          );
      }
      for (const registry of [primary, fallback])
        await registry.addHostapp({
          repository,
          tag: p.release,
          layoutDir: p.imageDir,
          manifestDigest: p.manifestDigest,
          what,
        });
      const record: ApplicationRelease = {
        appId: p.appId,
        name: p.name,
        release: p.release,
        image: { repository, manifestDigest: p.manifestDigest },
      };
      api.setApplication(record);
      return record;
    },
    async stop() {
      holdings.drop(backend);
      await Promise.all(servers.map((s) => s.close()));
    },
  };
  // An interrupted command closes it; its open sockets would otherwise keep the process alive.
  holdings.hold(backend, { what: 'backend', release: () => backend.stop().then(() => 'stopped') });
  return backend;
}

/** The config labels of an image layout's manifest (checked as the registry checks it). */
async function imageLabels(layoutDir: string, manifestDigest: string, what: string): Promise<Record<string, string>> {
  const layout = await readImageLayout({
    layoutDir,
    manifestTypes: ['application/vnd.oci.image.manifest.v1+json'],
    manifestDigest,
    what,
  });
  const config = await readFile(layout.blobPath(layout.config.digest)).catch(() => undefined);
  if (!config || sha256Digest(config) !== layout.config.digest)
    throw new HuplabError('hostapp-invalid', `${what} ${layoutDir}: config blob ${layout.config.digest} is damaged`, {
      hint: 'rebuild it with `huplab images build`',
    });
  try {
    return (
      (JSON.parse(config.toString('utf8')) as { config?: { Labels?: Record<string, string> } }).config?.Labels ?? {}
    );
  } catch {
    return {};
  }
}
