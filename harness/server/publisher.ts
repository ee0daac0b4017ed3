/**
 * What the lab server's devices may be given, and its publishing: targets name the recipes
 * (images/releases/, images/supervisor-releases/), and when one is set the server builds what
 * the device needs through the builders (which cache) and publishes it on its own backend: the
 * target release for the device's profile, the release it runs, the delta between them, or the
 * supervisor release for its CPU architecture. Published artifacts live in the backend's memory,
 * so at start the server publishes again what its devices run and their pending targets.
 */
import { buildRelease, type ReleaseBuild } from '../../images/builder/release-build.ts';
import { buildSupervisor } from '../../images/builder/supervisor-build.ts';
import { listReleases, loadRelease, type ReleaseRecipe } from '../../images/recipe.ts';
import { listSupervisorReleases, loadSupervisorRelease } from '../../images/supervisor-recipe.ts';
import type { UpdateKind } from '../../lib/contract/fleet.ts';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { type Narrator, silentNarrator } from '../../lib/narrator.ts';
import { listProfiles, loadProfile, type Profile } from '../../lib/profile.ts';
import { isSupervisorArch } from '../../lib/supervisor-policy.ts';
import { sortVersions } from '../../lib/versions.ts';
import { DELTA_FORMATS_MADE, deltaBetween } from '../backend/artifacts.ts';
import type { DeviceInfo, DeviceRecords } from '../backend/device-records.ts';
import type { Backend } from '../backend/index.ts';
import { type FleetSource, type Judged, listed, notPublished } from '../backend/target-rules.ts';
import { publishBuild, publishRawImage, publishSupervisorBuild, takeoverToolsFor } from '../backend/update-backend.ts';

/** The recipes a target may name, and the builds that publish them on one backend. */
export class RecipePublisher implements FleetSource {
  private backend: Backend | undefined;
  /** Each build and publication once (concurrent requests share it); a failure is tried again next time. */
  private readonly once = new Map<string, Promise<unknown>>();

  constructor(private readonly narrator: Narrator = silentNarrator) {}

  /** The backend it publishes on (started after the API that judges with it). */
  attach(backend: Backend): void {
    this.backend = backend;
  }

  async os(
    device: DeviceInfo,
    version: string,
  ): Promise<Judged<{ version: string; deviceType: string; layout: string; arch: string }>> {
    const found = await this.osRecipe(device, version);
    if (!found.ok) return found;
    const { recipe, profile } = found.value;
    return { ok: true, value: { version, deviceType: device.deviceType, layout: recipe.layout, arch: profile.arch } };
  }

  async osVersions(device: DeviceInfo): Promise<string[]> {
    const out: string[] = [];
    for (const v of await listReleases())
      if ((await loadRelease(v).catch(() => undefined))?.deviceTypes.includes(device.deviceType)) out.push(v);
    return out;
  }

  async supervisor(arch: string, version: string): Promise<Judged<{ minOsVersion: string }>> {
    const known = await this.supervisorVersions(arch);
    const recipe = await loadSupervisorRelease(version).catch((err: unknown) => {
      if (isHuplabError(err, 'unknown-supervisor')) return undefined;
      throw err;
    });
    if (!recipe || !isSupervisorArch(arch) || !recipe.arches.includes(arch))
      return notPublished(`supervisor ${version} has no recipe for ${arch} (recipes for ${arch}: ${listed(known)})`);
    return { ok: true, value: { minOsVersion: recipe.minOsVersion } };
  }

  async supervisorVersions(arch: string): Promise<string[]> {
    const out: string[] = [];
    for (const v of await listSupervisorReleases())
      if ((await loadSupervisorRelease(v).catch(() => undefined))?.arches.includes(arch as never)) out.push(v);
    return out.sort(sortVersions);
  }

  async publish(device: DeviceInfo, kind: UpdateKind, version: string): Promise<void> {
    if (kind === 'supervisor') {
      await this.publishSupervisor(device.arch, version);
      return;
    }
    const target = await this.osRecipe(device, version);
    if (!target.ok) throw new HuplabError('not-published', target.refusal.reason);
    const to = await this.publishOs(target.value.profile, target.value.recipe);
    const running = device.osVersion ? await this.osRecipe(device, device.osVersion) : undefined;
    if (!running?.ok) return; // a running OS without a recipe: the device downloads the full image
    const from = await this.publishOs(running.value.profile, running.value.recipe);
    if (running.value.profile.name !== target.value.profile.name) {
      // The advanced path: takeover flashes the new line's whole disk image with its own tools.
      await this.publishAdvanced(running.value.profile, target.value.profile, version);
      return;
    }
    if (from.version === to.version) return;
    await this.step(`delta:${from.hostapp.layer.digest}:${to.hostapp.layer.digest}`, async () => {
      for (const format of DELTA_FORMATS_MADE) {
        const file = await this.narrator.step(
          `make the delta ${from.version} -> ${to.version} (format ${format}) for ${device.name}`,
          () => deltaBetween(from, to, this.narrator, format),
        );
        await this.need().delta.addDelta({
          src: from.hostapp.manifest.digest,
          dest: to.hostapp.manifest.digest,
          file,
          format,
        });
      }
    });
  }

  /**
   * At server start: publishes again each device's running release and pending target (the
   * backend's artifacts are in memory). Failures are said and skipped: a device whose release
   * cannot be built does not keep the others from theirs.
   */
  async republish(records: DeviceRecords): Promise<void> {
    for (const device of records.list()) {
      const target = records.target(device.uuid);
      const jobs: Array<[UpdateKind, string]> = [];
      if (target?.osVersion) jobs.push(['os', target.osVersion]);
      else if (device.osVersion) jobs.push(['os', device.osVersion]);
      if (target?.supervisorVersion) jobs.push(['supervisor', target.supervisorVersion]);
      for (const [kind, version] of jobs) {
        if (kind === 'os' && !(await this.osRecipe(device, version)).ok) continue;
        await this.publish(device, kind, version).catch((err: unknown) =>
          this.narrator.info(
            `cannot publish ${kind === 'os' ? 'OS' : 'supervisor'} ${version} for ${device.name}: ${isHuplabError(err) ? err.oneLine() : (err as Error).message}`,
          ),
        );
      }
    }
  }

  private async publishSupervisor(arch: string, version: string): Promise<void> {
    if (!isSupervisorArch(arch)) throw new HuplabError('not-published', `${arch} is not a supervisor CPU architecture`);
    await this.step(`supervisor:${arch}:${version}`, async () => {
      const build = await buildSupervisor(await loadSupervisorRelease(version), arch, this.narrator);
      await publishSupervisorBuild(this.need(), build);
    });
  }

  /** What an advanced update from `from` to `to` needs besides the hostapp: the raw disk image, takeover's tools. */
  private async publishAdvanced(from: Profile, to: Profile, version: string): Promise<void> {
    await this.step(`os-image:${to.name}:${version}`, () => publishRawImage(this.need(), to, version, this.narrator));
    const kernel = from.kernel.arch ?? from.arch;
    await this.step(`takeover-tools:${kernel}`, async () => {
      for (const tool of await takeoverToolsFor(from, this.narrator))
        this.need().api.addTakeoverTool(tool.name, tool.path);
    });
  }

  private publishOs(profile: Profile, recipe: ReleaseRecipe): Promise<ReleaseBuild> {
    return this.step(`os:${profile.name}:${recipe.version}`, async () => {
      const build = await this.narrator.step(
        `build OS ${recipe.version} for ${profile.name} (cached after the first time)`,
        () => buildRelease(profile, recipe, this.narrator),
      );
      await publishBuild(this.need(), profile, recipe, build);
      return build;
    });
  }

  /** The recipe of an OS version for the device and the profile that runs it; not-published before any build. */
  private async osRecipe(
    device: DeviceInfo,
    version: string,
  ): Promise<Judged<{ recipe: ReleaseRecipe; profile: Profile }>> {
    const recipes = () => this.osVersions(device);
    const recipe = await loadRelease(version).catch((err: unknown) => {
      if (isHuplabError(err, 'unknown-release')) return undefined;
      throw err;
    });
    if (!recipe)
      return notPublished(
        `OS ${version} has no recipe, so it cannot be published for ${device.deviceType} (recipes for ${device.deviceType}: ${listed(await recipes())})`,
      );
    if (!recipe.deviceTypes.includes(device.deviceType))
      return notPublished(
        `OS ${version} is not built for ${device.deviceType} (its device types: ${recipe.deviceTypes.join(', ')}; recipes for ${device.deviceType}: ${listed(await recipes())})`,
      );
    const profiles = await this.profiles();
    const fits = profiles.filter((p) => p.deviceType === device.deviceType && p.layout === recipe.layout);
    const profile = fits.find((p) => p.arch === device.arch) ?? fits[0];
    if (!profile)
      return notPublished(
        `no device profile of ${device.deviceType} runs the ${recipe.layout} layout of OS ${version}, so it cannot be built`,
      );
    return { ok: true, value: { recipe, profile } };
  }

  private profileList: Promise<Profile[]> | undefined;
  private profiles(): Promise<Profile[]> {
    this.profileList ??= listProfiles().then((names) => Promise.all(names.map((n) => loadProfile(n))));
    return this.profileList;
  }

  private step<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.once.get(key) as Promise<T> | undefined;
    if (!p) {
      p = fn();
      this.once.set(key, p);
      p.catch(() => this.once.delete(key));
    }
    return p;
  }

  private need(): Backend {
    if (!this.backend) throw new Error('the publisher has no backend yet (attach it first)');
    return this.backend;
  }
}
