import type { Command } from 'commander';
import { buildImage } from '../../images/builder/index.ts';
import { buildSupervisor, type SupervisorBuild } from '../../images/builder/supervisor-build.ts';
import { checkVariant, loadReleases } from '../../images/recipe.ts';
import {
  listSupervisorReleases,
  loadSupervisorRelease,
  type SupervisorRecipe,
} from '../../images/supervisor-recipe.ts';
import { HuplabError } from '../../lib/errors.ts';
import {
  isSupervisorArch,
  SUPERVISOR_ARCHES,
  type SupervisorArch,
  supervisorRepository,
} from '../../lib/supervisor-policy.ts';
import { listProfiles, loadProfile } from '../../lib/profile.ts';
import { registerImagesPush } from './images-push.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { checkRelease } from './validate.ts';

export function registerImages(program: Command): void {
  const images = program
    .command('images')
    .description('build OS images and supervisor releases, and list what can be built');

  images
    .command('build')
    .description(
      'build the disk image (and the hostapp artifact) of a release for a device type, or a supervisor release (--supervisor)',
    )
    .option('--device <profile>', 'device profile, e.g. generic-amd64 (with --release)')
    .option('--release <version>', 'OS release, e.g. 2.101.0 (with --device)')
    .option('--supervisor <version>', 'build this supervisor release instead (an OCI image per CPU architecture)')
    .option('--arch <arch>', 'with --supervisor: only this CPU architecture (default: every one of its recipe)')
    .option('--root-b <version>', 'also fill resin-rootB with this release (both roots bootable)')
    .option(
      '--variant <variant>',
      "OS variant: development (root on the serial console, SSH without password) or production (no console login, SSH with a key of config.json only); default: the recipe's",
    )
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: BuildOptions) => {
        const out = makeOutput(!!o.json);
        const target = await checkBuildTarget(o);
        if (target.kind === 'supervisor') {
          const started = Date.now();
          const builds: SupervisorBuild[] = [];
          for (const arch of target.arches) builds.push(await buildSupervisor(target.recipe, arch, out.narrator));
          const seconds = (Date.now() - started) / 1000;
          out.result(
            {
              supervisor: target.recipe.version,
              minOsVersion: target.recipe.minOsVersion,
              seconds,
              images: builds.map((b) => ({
                arch: b.arch,
                repository: supervisorRepository(b.arch),
                dir: b.image.dir,
                manifest: b.image.manifest.digest,
                layer: b.image.layer.digest,
                layerBytes: b.image.layer.size,
                cached: b.cached,
              })),
            },
            () => [
              ...builds.map(
                (b) =>
                  `supervisor ${b.version} (${b.arch}): ${b.image.dir} (manifest ${b.image.manifest.digest})${b.cached ? ' (cached)' : ''}`,
              ),
              `built in ${seconds.toFixed(1)} s`,
            ],
          );
          return;
        }
        const { device, release } = target;
        const variant = o.variant !== undefined ? checkVariant(o.variant, '--variant') : undefined;
        await checkRelease('release', release);
        if (o.rootB !== undefined) await checkRelease('root-b', o.rootB);
        const started = Date.now();
        const b = await buildImage({
          device,
          release,
          ...(o.rootB !== undefined ? { rootB: o.rootB } : {}),
          ...(variant ? { variant } : {}),
          narrator: out.narrator,
        });
        const seconds = (Date.now() - started) / 1000;
        out.result(
          {
            device: b.device,
            release: b.release,
            rootB: b.rootB ?? null,
            variant: b.variant,
            disk: b.disk,
            sizeBytes: b.sizeBytes,
            cached: b.cached,
            seconds,
            hostapps: b.releaseBuilds.map((r) => ({
              version: r.version,
              dir: r.hostapp.dir,
              manifest: r.hostapp.manifest.digest,
              layer: r.hostapp.layer.digest,
              layerBytes: r.hostapp.layer.size,
            })),
          },
          () => [
            `disk image (${b.variant}): ${b.disk}${b.cached ? ' (cached)' : ''}`,
            ...b.releaseBuilds.map(
              (r) => `hostapp ${r.version}: ${r.hostapp.dir} (manifest ${r.hostapp.manifest.digest})`,
            ),
            `${(b.sizeBytes / 2 ** 20).toFixed(0)} MiB, built in ${seconds.toFixed(1)} s`,
          ],
        );
      }),
    );

  registerImagesPush(images);

  images
    .command('list')
    .description('list the device profiles, OS releases and supervisor releases')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const devices = await Promise.all(
          (await listProfiles()).map(async (n) => {
            const p = await loadProfile(n);
            return { name: p.name, arch: p.arch, description: p.description };
          }),
        );
        const releases = (await loadReleases()).map((r) => ({
          version: r.version,
          line: r.line,
          date: r.date,
          supervisor: r.supervisorVersion,
          layout: r.layout,
          variant: r.variant,
          deviceTypes: r.deviceTypes,
        }));
        const supervisors = await Promise.all(
          (await listSupervisorReleases()).map(async (v) => {
            const r = await loadSupervisorRelease(v);
            return { version: r.version, arches: r.arches, minOsVersion: r.minOsVersion, date: r.date };
          }),
        );
        out.result({ devices, releases, supervisors }, () => [
          'devices:',
          ...devices.map((d) => `  ${d.name.padEnd(18)} ${d.arch.padEnd(6)} ${d.description}`),
          'releases:',
          ...releases.map(
            (r) =>
              `  ${r.version.padEnd(10)} ${r.line.padEnd(8)} supervisor ${r.supervisor.padEnd(8)} ${r.deviceTypes.join(', ')}`,
          ),
          'supervisor releases:',
          ...supervisors.map(
            (s) => `  ${s.version.padEnd(10)} ${s.arches.join(', ').padEnd(20)} OS ${s.minOsVersion} or newer`,
          ),
        ]);
      }),
    );
}

export interface BuildOptions {
  device?: string;
  release?: string;
  rootB?: string;
  variant?: string;
  supervisor?: string;
  arch?: string;
  json?: boolean;
}

export type BuildTarget =
  | { kind: 'os'; device: string; release: string }
  | { kind: 'supervisor'; recipe: SupervisorRecipe; arches: SupervisorArch[] };

/**
 * What `images build` is asked to build: an OS release for a device type, or a supervisor
 * release for its arches (or the one --arch names). Every option is checked here, before
 * anything is built: a mixed or incomplete command line, an unknown supervisor version or an
 * arch it is not built for is one line.
 */
export async function checkBuildTarget(o: BuildOptions): Promise<BuildTarget> {
  if (o.supervisor !== undefined) {
    const osOnly = (
      [
        ['device', o.device],
        ['release', o.release],
        ['root-b', o.rootB],
        ['variant', o.variant],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (osOnly)
      throw new HuplabError('option-invalid', `--supervisor and --${osOnly[0]} do not go together`, {
        hint: 'a supervisor release is built per CPU architecture with --arch, not per device type; build the OS image in a command of its own',
      });
    const recipe = await loadSupervisorRelease(o.supervisor);
    if (o.arch === undefined) return { kind: 'supervisor', recipe, arches: recipe.arches };
    if (!isSupervisorArch(o.arch))
      throw new HuplabError('option-invalid', `--arch "${o.arch}" is not a CPU architecture`, {
        hint: `use one of: ${SUPERVISOR_ARCHES.join(', ')}`,
      });
    if (!recipe.arches.includes(o.arch))
      throw new HuplabError('supervisor-arch-unknown', `supervisor ${recipe.version} is not built for ${o.arch}`, {
        hint: `its arches: ${recipe.arches.join(', ')}`,
      });
    return { kind: 'supervisor', recipe, arches: [o.arch] };
  }
  if (o.arch !== undefined)
    throw new HuplabError('option-invalid', '--arch goes with --supervisor', {
      hint: "an OS image's CPU architecture is the one its --device profile names",
    });
  for (const [option, value] of [
    ['--device <profile>', o.device],
    ['--release <version>', o.release],
  ] as const)
    if (value === undefined)
      throw new HuplabError('option-missing', `required option '${option}' not specified`, {
        hint: 'an OS image needs --device and --release; a supervisor release --supervisor VERSION',
      });
  return { kind: 'os', device: o.device!, release: o.release! };
}
