/**
 * The backend of one update run: the API, the registries and the delta service started with a
 * set of releases published (hostapps, deltas between them, the updater bundles), and the
 * config.json fields that point a device at it. `huplab hup`, the suites, the power-cut campaigns
 * and the benchmarks each start one for the length of their run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BOOT_FLASH_DIR, type BootFlashManifest } from '../../images/builder/boot-flash.ts';
import { buildAppImage } from '../../images/builder/app-build.ts';
import { buildImage, type ReleaseBuild } from '../../images/builder/index.ts';
import { exportRawImage } from '../../images/builder/raw-image.ts';
import { buildRelease } from '../../images/builder/release-build.ts';
import { loadRelease, type ReleaseRecipe, withVariant } from '../../images/recipe.ts';
import { buildSupervisor, type SupervisorBuild } from '../../images/builder/supervisor-build.ts';
import { loadSupervisorRelease } from '../../images/supervisor-recipe.ts';
import { DEMO_APP } from '../../lib/contract/application.ts';
import { HuplabError } from '../../lib/errors.ts';
import { isSupervisorArch } from '../../lib/supervisor-policy.ts';
import { LAB_HOST_ADDRESS, type LabHostConfig } from '../../lib/contract/lab-host.ts';
import type { Variant } from '../../lib/contract/variant.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import { loadProfile, type Profile } from '../../lib/profile.ts';
import { ADVANCED_ENTRY, ONEX_MIGRATE_ENTRY, ONEX_TOOLS_ENTRY, ONEX_UPDATE_ENTRY } from '../../updater/bundle.ts';
import { LAYOUT_1X } from '../../lib/partition/resin-1x.ts';
import { ONEX_TOOL, ONEX_TOOLS_ARTIFACT } from '../../lib/contract/onex.ts';
import { DELTA_FORMATS_MADE, deltaBetween, TAKEOVER_TOOLS, takeoverTool, updaterBundle } from './artifacts.ts';
import { startBackend, type Backend } from './index.ts';
import { MemoryDeviceRecords } from './device-records.ts';
import { type ExternalRegistry, loopbackPorts, probeRegistry, type RegistryProbe } from './external-registry.ts';
import type { RegistryCredentials } from '../../lib/oci/auth.ts';

/** config.json fields that point a device at a backend. */
export interface BackendConfig extends Record<string, unknown> {
  apiEndpoint: string;
  registryEndpoint: string;
  deltaEndpoint: string;
  fallbackRegistryEndpoint?: string;
  /** How an emulated device reaches these endpoints (lib/contract/lab-host.ts). */
  labHost: LabHostConfig;
  /** With a lab registry: what the device answers its challenge with ({} anonymous). */
  registryCredentials?: RegistryCredentials;
  /** With a lab registry's own CA: the PEM, base64-encoded (balenaOS's field). */
  balenaRootCA?: string;
}

export interface DeviceConfig extends BackendConfig {
  uuid: string;
  deviceApiKey: string;
}

export interface UpdateBackend {
  /** The API, the registries and the delta service. */
  services: Backend;
  profile: Profile;
  builds: Map<string, ReleaseBuild>;
  updater: { path: string; sha256: string };
  /** config.json fields that point a device at this backend (no uuid, no key: see newDeviceConfig). */
  deviceConfig: BackendConfig;
  /**
   * The config.json fields of a device about to be flashed: the endpoints, a fresh uuid and a
   * fresh device API key registered with the backend. The one way a device gets its key.
   */
  newDeviceConfig(): DeviceConfig;
  /** The lab's registry the devices pull hostapps from, when the run was given one. */
  external?: ExternalRegistry;
  /** The supervisor releases published for the device's CPU architecture, by version. */
  supervisors: Map<string, SupervisorBuild>;
  /**
   * On the resinOS 1.x line: the 1.x updater, and its tools, which the API serves as an artifact
   * of their own (GET /v1/takeover/resinhup, listed with its sha256 at /v1/takeover).
   */
  onex?: { updater: { path: string; sha256: string }; tools: { path: string; sha256: string } };
  /** The OS line an advanced update leads to, when the lab publishes one. */
  advanced?: { profile: Profile; builds: Map<string, ReleaseBuild>; updater: { path: string; sha256: string } };
  /** The 1.x -> 2.x migration's 2.x profile, its published builds and the migration's bundle. */
  migration?: { profile: Profile; builds: Map<string, ReleaseBuild>; updater: { path: string; sha256: string } };
}

/**
 * Starts the backend with the given releases published (hostapps, deltas between them, updater).
 * With `advanced`, also the releases of another profile of the same board (JetPack 5 for a
 * JetPack 4 device, a Pi's 64-bit OS for its 32-bit one), each with its raw disk image for the
 * advanced update, and the advanced updater and its tools.
 */
export async function startUpdateBackend(opts: {
  device: string;
  releases: string[];
  /** The OS variant of the releases published (default: each recipe's own). */
  variant?: Variant;
  /** Supervisor releases to build for the device's CPU architecture and publish (default none). */
  supervisors?: string[];
  narrator?: Narrator;
  deltas?: boolean;
  /** The lab's operator token (harness/lab.ts); default: a fresh one for this backend. */
  operatorToken?: string;
  /** Also listen here (boards on the lab network: the inventory's backend.listen). */
  listen?: string;
  /** `images`: the releases to serve raw disk images of (default: all of them). */
  advanced?: { device: string; releases: string[]; images?: string[] };
  /**
   * The resinOS 1.x -> 2.x migration: the 2.x releases of the board's 2.x profile (published
   * under the same device type, with deltas between them for the standard updates after it),
   * the migration's bundle and its partition tool for the device's kernel.
   */
  migration?: { device: string; releases: string[] };
  /**
   * A registry of the lab's to pull hostapps from instead of the built-in ones: each release is
   * checked there (under the digest it was built with) before the backend is handed out.
   */
  external?: ExternalRegistry;
}): Promise<UpdateBackend> {
  const narrator = opts.narrator ?? silentNarrator;
  const profile = await loadProfile(opts.device);
  const target = opts.advanced ? await loadProfile(opts.advanced.device) : undefined;
  const updater = await narrator.step('bundle the updater', () => updaterBundle());
  // The run's devices are registered like the lab server's, so their supervisor agents' heartbeats land.
  const records = new MemoryDeviceRecords();
  const advancedUpdater = target
    ? await narrator.step('bundle the advanced updater', () => updaterBundle(ADVANCED_ENTRY, 'hup-advanced'))
    : undefined;
  // Takeover's native tools run on the device's kernel.
  const tools = target ? await takeoverToolsFor(profile, narrator) : [];
  const onex =
    profile.layout === LAYOUT_1X
      ? await narrator.step('bundle the 1.x updater and its tools', async () => ({
          updater: await updaterBundle(ONEX_UPDATE_ENTRY, 'hup-1x'),
          tools: await updaterBundle(ONEX_TOOLS_ENTRY, 'resinhup'),
        }))
      : undefined;
  if (onex) tools.push({ name: ONEX_TOOLS_ARTIFACT, ...onex.tools });
  const migrationTarget = opts.migration ? await loadProfile(opts.migration.device) : undefined;
  if (migrationTarget) {
    const arch = profile.kernel.arch ?? profile.arch;
    tools.push(
      await narrator.step(`build the migration's ${ONEX_TOOL} for ${arch}`, () =>
        takeoverTool(ONEX_TOOL, arch, narrator),
      ),
    );
  }
  const migrationUpdater = migrationTarget
    ? await narrator.step('bundle the 1.x -> 2.x migration', () =>
        updaterBundle(ONEX_MIGRATE_ENTRY, 'upgrade-1.x-to-2.x'),
      )
    : undefined;
  const backend = await narrator.step('start the backend (API, registries, delta service)', () =>
    startBackend({
      ...(opts.operatorToken ? { operatorToken: opts.operatorToken } : {}),
      ...(opts.listen ? { listen: opts.listen } : {}),
      records,
      updaterBundlePath: updater.path,
      ...(advancedUpdater ? { advancedUpdaterPath: advancedUpdater.path } : {}),
      ...(tools.length ? { takeoverTools: Object.fromEntries(tools.map((t) => [t.name, t.path])) } : {}),
    }),
  );
  try {
    const repository = opts.external?.repository ?? `huplab/${profile.deviceType}`;
    const builds = await publishLine(backend, profile, opts.releases, narrator, {
      deltas: opts.deltas !== false,
      repository,
      ...(opts.variant ? { variant: opts.variant } : {}),
    });
    const supervisors = new Map<string, SupervisorBuild>();
    for (const version of opts.supervisors ?? []) {
      const recipe = await loadSupervisorRelease(version);
      const arch = profile.arch;
      if (!isSupervisorArch(arch) || !recipe.arches.includes(arch))
        throw new HuplabError(
          'supervisor-arch-unknown',
          `supervisor ${version} is not built for ${arch}, the CPU architecture of ${profile.name}`,
          { hint: `its arches: ${recipe.arches.join(', ')}` },
        );
      const build = await buildSupervisor(recipe, arch, narrator);
      await publishSupervisorBuild(backend, build);
      supervisors.set(version, build);
    }
    const externalPorts = opts.external
      ? await checkExternal(opts.external, profile, builds, repository, narrator)
      : [];
    let advanced: UpdateBackend['advanced'];
    if (target && opts.advanced) {
      const targetBuilds = await publishLine(backend, target, opts.advanced.releases, narrator, {
        deltas: opts.deltas !== false,
      });
      for (const version of opts.advanced.images ?? opts.advanced.releases)
        await publishRawImage(backend, target, version, narrator);
      advanced = { profile: target, builds: targetBuilds, updater: advancedUpdater! };
    }
    let migration: UpdateBackend['migration'];
    if (migrationTarget && opts.migration) {
      const targetBuilds = await publishLine(backend, migrationTarget, opts.migration.releases, narrator, {
        deltas: opts.deltas !== false,
      });
      migration = { profile: migrationTarget, builds: targetBuilds, updater: migrationUpdater! };
      // The migration removes the application's image: the first 2.x boot's supervisor fetches it.
      const app = await narrator.step('build the application image', () =>
        buildAppImage(migrationTarget.arch, narrator),
      );
      await backend.publishApplication({
        ...DEMO_APP,
        release: app.release,
        imageDir: app.image.dir,
        manifestDigest: app.image.manifest.digest,
      });
    }
    const g = backend.guestUrls;
    const ext = opts.external;
    const deviceConfig: BackendConfig = {
      apiEndpoint: g.api,
      deltaEndpoint: g.delta,
      labHost: { address: LAB_HOST_ADDRESS, ports: [...backend.ports, ...externalPorts] },
      ...(ext
        ? {
            registryEndpoint: ext.url,
            ...(ext.fallbackUrl ? { fallbackRegistryEndpoint: ext.fallbackUrl } : {}),
            // Explicit, even when empty (anonymous): the device's own key is for the lab backend only.
            registryCredentials: ext.credentials ?? {},
            ...(ext.caCertificate ? { balenaRootCA: Buffer.from(ext.caCertificate).toString('base64') } : {}),
          }
        : { registryEndpoint: g.primaryRegistry, fallbackRegistryEndpoint: g.fallbackRegistry }),
    };
    return {
      services: backend,
      profile,
      builds,
      supervisors,
      updater,
      ...(onex ? { onex } : {}),
      ...(advanced ? { advanced } : {}),
      ...(migration ? { migration } : {}),
      ...(ext ? { external: ext } : {}),
      deviceConfig,
      newDeviceConfig() {
        const uuid = randomBytes(16).toString('hex');
        records.register(
          { uuid, name: `run-${uuid.slice(0, 12)}`, deviceType: profile.deviceType, arch: profile.arch },
          new Date().toISOString(),
        );
        return { ...deviceConfig, uuid, deviceApiKey: backend.registerDevice(uuid) };
      },
    };
  } catch (err) {
    await backend.stop();
    throw err;
  }
}

/**
 * Each release checked at the lab's registries from the host, as a device would pull it; the lab
 * host ports an emulated device needs for them (registry, token service, blob store).
 */
async function checkExternal(
  ext: ExternalRegistry,
  profile: Profile,
  builds: Map<string, ReleaseBuild>,
  repository: string,
  narrator: Narrator,
): Promise<number[]> {
  const probes: RegistryProbe[] = [];
  for (const registry of [ext.url, ...(ext.fallbackUrl ? [ext.fallbackUrl] : [])]) {
    for (const [version, b] of builds) {
      probes.push(
        await narrator.step(`check ${version} at ${registry}/${repository}`, () =>
          probeRegistry(ext, registry, {
            repository,
            digest: b.hostapp.manifest.digest,
            version,
            device: profile.name,
          }),
        ),
      );
    }
  }
  return loopbackPorts(probes);
}

/** Builds and publishes one profile's releases (hostapps, and the deltas between them). */
async function publishLine(
  backend: Backend,
  profile: Profile,
  versions: string[],
  narrator: Narrator,
  opts: { deltas: boolean; repository?: string; variant?: Variant },
): Promise<Map<string, ReleaseBuild>> {
  const { deltas, variant } = opts;
  const repository = opts.repository ?? `huplab/${profile.deviceType}`;
  const builds = new Map<string, ReleaseBuild>();
  for (const v of versions)
    builds.set(v, await buildRelease(profile, withVariant(await loadRelease(v), variant), narrator));
  for (const [version, b] of builds)
    await publishBuild(backend, profile, withVariant(await loadRelease(version), variant), b, repository);
  if (deltas) {
    const list = [...builds.values()];
    for (const from of list) {
      for (const to of list) {
        if (from === to) continue;
        for (const format of DELTA_FORMATS_MADE) {
          const file = await narrator.step(`make the delta ${from.version} -> ${to.version} (format ${format})`, () =>
            deltaBetween(from, to, narrator, format),
          );
          await backend.delta.addDelta({
            src: from.hostapp.manifest.digest,
            dest: to.hostapp.manifest.digest,
            file,
            format,
          });
        }
      }
    }
  }
  return builds;
}

/**
 * Publishes one built release of a profile: its hostapp in both registries and its record at the
 * API (with the boot flash firmware it ships, if any). The one way a built release is published,
 * for a run's backend and the lab server alike.
 */
export async function publishBuild(
  backend: Backend,
  profile: Profile,
  recipe: ReleaseRecipe,
  b: ReleaseBuild,
  repository = `huplab/${profile.deviceType}`,
): Promise<void> {
  const flashManifest = join(b.rootfsDir, BOOT_FLASH_DIR, 'boot-flash.json');
  const bootFlash = existsSync(flashManifest)
    ? (JSON.parse(await readFile(flashManifest, 'utf8')) as BootFlashManifest)
    : undefined;
  await backend.publishRelease({
    repository,
    deviceType: profile.deviceType,
    version: recipe.version,
    supervisorVersion: recipe.supervisorVersion,
    layout: recipe.layout,
    variant: recipe.variant,
    arch: profile.arch,
    hostappDir: b.hostapp.dir,
    manifestDigest: b.hostapp.manifest.digest,
    ...(bootFlash
      ? {
          bootFlash: {
            file: bootFlash.file,
            sha256: bootFlash.sha256,
            size: bootFlash.size,
            physBase: bootFlash.physBase,
            bankBytes: bootFlash.bankBytes,
          },
        }
      : {}),
  });
}

/** Publishes one built supervisor release (its arch's repository, both registries, the API's list). */
export function publishSupervisorBuild(backend: Backend, build: SupervisorBuild) {
  return backend.publishSupervisor({
    version: build.version,
    arch: build.arch,
    imageDir: build.image.dir,
    manifestDigest: build.image.manifest.digest,
  });
}

/** The raw disk image of a release for a profile, served for the advanced update (GET /v1/os-images/<type>/<version>). */
export async function publishRawImage(
  backend: Backend,
  profile: Profile,
  version: string,
  narrator: Narrator,
): Promise<void> {
  const raw = await narrator.step(`raw disk image of ${version} for ${profile.name} (advanced update)`, async () =>
    exportRawImage((await buildImage({ device: profile.name, release: version, narrator })).disk, narrator),
  );
  await backend.api.addOsImage({
    deviceType: profile.deviceType,
    version,
    file: raw.file,
    sha256: raw.sha256,
    compression: raw.compression === 'gzip' ? 'gzip' : undefined,
    format: raw.format,
    raw: { sha256: raw.rawSha256, size: raw.rawSize },
  });
}

/** Takeover's native tools for the kernel a device of `profile` runs (a 32-bit Pi OS runs on a 64-bit kernel). */
export async function takeoverToolsFor(
  profile: Profile,
  narrator: Narrator,
): Promise<Array<{ name: string; path: string; sha256: string }>> {
  const kernelArch = profile.kernel.arch ?? profile.arch;
  return narrator.step(`build takeover's tools for ${kernelArch}`, () =>
    Promise.all(TAKEOVER_TOOLS.map((t) => takeoverTool(t, kernelArch, narrator))),
  );
}
