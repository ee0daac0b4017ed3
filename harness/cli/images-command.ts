import type { Command } from 'commander';
import { buildImage } from '../../images/builder/index.ts';
import { checkVariant, listReleases, loadRelease } from '../../images/recipe.ts';
import { listProfiles, loadProfile } from '../../lib/profile.ts';
import { registerImagesPush } from './images-push.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';
import { checkRelease } from './validate.ts';

export function registerImages(program: Command): void {
  const images = program.command('images').description('build OS images and list what can be built');

  images
    .command('build')
    .description('build the disk image (and the hostapp artifact) of a release for a device type')
    .requiredOption('--device <profile>', 'device profile, e.g. generic-amd64')
    .requiredOption('--release <version>', 'OS release, e.g. 2.101.0')
    .option('--root-b <version>', 'also fill resin-rootB with this release (both roots bootable)')
    .option(
      '--variant <variant>',
      "OS variant: development (root on the serial console, SSH without password) or production (no console login, SSH with a key of config.json only); default: the recipe's",
    )
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: { device: string; release: string; rootB?: string; variant?: string; json?: boolean }) => {
        const out = makeOutput(!!o.json);
        const variant = o.variant !== undefined ? checkVariant(o.variant, '--variant') : undefined;
        await checkRelease('release', o.release);
        if (o.rootB !== undefined) await checkRelease('root-b', o.rootB);
        const started = Date.now();
        const b = await buildImage({
          device: o.device,
          release: o.release,
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
    .description('list the device profiles and OS releases')
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
        const releases = await Promise.all(
          (await listReleases()).map(async (v) => {
            const r = await loadRelease(v);
            return {
              version: r.version,
              supervisor: r.supervisorVersion,
              layout: r.layout,
              variant: r.variant,
              deviceTypes: r.deviceTypes,
            };
          }),
        );
        out.result({ devices, releases }, () => [
          'devices:',
          ...devices.map((d) => `  ${d.name.padEnd(18)} ${d.arch.padEnd(6)} ${d.description}`),
          'releases:',
          ...releases.map(
            (r) => `  ${r.version.padEnd(10)} supervisor ${r.supervisor.padEnd(8)} ${r.deviceTypes.join(', ')}`,
          ),
        ]);
      }),
    );
}
