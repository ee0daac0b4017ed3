/**
 * The application the API says the device's fleet runs (the heartbeat's `application`): when
 * the engine's image store has no intact copy of that release, the agent pulls its image by
 * digest (every blob checked), unpacks it into a hidden partial folder, checks the code against
 * its sha256 file, renames it into place, names it in `current` (atomically) and starts it with
 * the OS's init script. The first 2.x boot after a 1.x migration comes up this way: the
 * migration removed the images, the application comes back from the registry.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { APP_FILES, APP_LABELS, APP_LOG, type ApplicationRelease } from '../../lib/contract/application.ts';
import { parseSupervisorChecksum } from '../../lib/contract/supervisor.ts';
import { HuplabError } from '../../lib/errors.ts';
import type { RegistryClient } from '../../lib/oci/client.ts';
import { expectLabels, pullImageInto } from '../common/image-pull.ts';
import { registriesOf, registryAnswer } from '../common/registry.ts';
import { fsyncPath, writeFileAtomic } from '../common/supervisor-install.ts';
import type { AgentContext } from './context.ts';

/** The application's folder in the store. */
export function appDir(store: string, appId: number): string {
  return join(store, String(appId));
}

/** The release `current` names, when its code is intact (hashes to its sha256 file); else undefined. */
export function installedRelease(store: string, appId: number): string | undefined {
  const dir = appDir(store, appId);
  let release: string;
  try {
    release = readFileSync(join(dir, APP_FILES.current), 'utf8').trim();
  } catch {
    return undefined;
  }
  return release && codeIntact(join(dir, release)) ? release : undefined;
}

function codeIntact(releaseDir: string): boolean {
  try {
    const want = parseSupervisorChecksum(readFileSync(join(releaseDir, APP_FILES.codeSha256), 'utf8'));
    const have = createHash('sha256')
      .update(readFileSync(join(releaseDir, APP_FILES.code)))
      .digest('hex');
    return want === have;
  } catch {
    return false;
  }
}

/**
 * Makes the store hold `app` and starts it when it did not. False when it already did (nothing
 * done); throws a one-line error when every registry failed (the next beat tries again).
 */
export async function ensureApplication(ctx: AgentContext, app: ApplicationRelease): Promise<boolean> {
  const store = ctx.paths.appStore;
  const have = installedRelease(store, app.appId);
  if (have === app.release) return false;
  ctx.log.line(APP_LOG.pulling(app, have ? `the device runs release ${have}` : 'no image of it on this device'));
  const registry = await installFromRegistries(app, store, registriesOf(ctx.config), (r) => ctx.registryClient(r));
  writeFileAtomic(join(appDir(store, app.appId), APP_FILES.current), `${app.release}\n`);
  // `restart`: a running older release stops first; the init script starts what `current` names.
  ctx.spawnDetached(
    `${ctx.paths.appInitScript} stop; ${ctx.paths.appInitScript} start`,
    join(ctx.paths.agentDir, 'app-start.log'),
  );
  ctx.log.line(APP_LOG.started(app, registry));
  return true;
}

/** Pulls the image into `<store>/<appId>/<release>/` from the first registry that serves it intact. */
async function installFromRegistries(
  app: ApplicationRelease,
  store: string,
  registries: string[],
  client: (registry: string) => RegistryClient,
): Promise<string> {
  const dir = appDir(store, app.appId);
  const final = join(dir, app.release);
  const partial = join(dir, `.${app.release}.partial`);
  const blobs = join(dir, `.${app.release}.blobs`);
  const clean = () => {
    rmSync(partial, { recursive: true, force: true });
    rmSync(blobs, { recursive: true, force: true });
  };
  if (registries.length === 0) throw new HuplabError('config-invalid', 'config.json names no registry');
  const reasons: string[] = [];
  for (const registry of registries) {
    clean();
    try {
      mkdirSync(partial, { recursive: true });
      mkdirSync(blobs, { recursive: true });
      await pullImageInto({
        client: client(registry),
        repository: app.image.repository,
        manifestDigest: app.image.manifestDigest,
        dest: partial,
        blobs,
        checkLabels: (labels) =>
          expectLabels(
            labels,
            [
              [APP_LABELS.appId, String(app.appId)],
              [APP_LABELS.release, app.release],
            ],
            'app-invalid',
          ),
      });
      rmSync(blobs, { recursive: true, force: true });
      if (!codeIntact(partial))
        throw new HuplabError(
          'app-invalid',
          `the image's ${APP_FILES.code} does not match its ${APP_FILES.codeSha256}`,
        );
      for (const f of [APP_FILES.code, APP_FILES.codeSha256]) fsyncPath(join(partial, f));
      rmSync(final, { recursive: true, force: true });
      renameSync(partial, final);
      fsyncPath(dir);
      return registry;
    } catch (err) {
      clean();
      reasons.push(`${registry}: ${registryAnswer(err, registry)}`);
    }
  }
  throw new HuplabError(
    'app-pull-failed',
    `cannot install application ${app.name} release ${app.release}: ${reasons.join('; ')}`,
  );
}
