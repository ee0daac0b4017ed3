/**
 * Pulling a supervisor release's image and installing it on the data partition: the manifest by
 * the digest the API gave (never by tag), every blob verified against its digest (lib/oci), the
 * config's labels checked against the version and arch asked for, the layer unpacked into a
 * hidden partial folder, sealed with its sha256 file, renamed into place and only then named by
 * the state partition's choice. Any failure removes the partial folder and leaves the choice.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { SUPERVISOR_CODE_FILE } from '../../lib/contract/supervisor.ts';
import type { RegistryClient } from '../../lib/oci/client.ts';
import { SUPERVISOR_LABELS } from '../../lib/supervisor-policy.ts';
import { expectLabels, pullImageInto } from '../common/image-pull.ts';
import { registryAnswer } from '../common/registry.ts';
import {
  placeSupervisorDir,
  sealSupervisorDir,
  supervisorDirs,
  writeSupervisorChoice,
} from '../common/supervisor-install.ts';

export interface PullRequest {
  version: string;
  arch: string;
  image: { repository: string; manifestDigest: string };
  /** The registries to try in order (config.json's primary, then fallback). */
  registries: string[];
  client(registry: string): RegistryClient;
  agentDir: string;
  choice: string;
  log(message: string): void;
  onProgress?(bytes: number, total: number | undefined): void;
}

export interface Installed {
  dir: string;
  sha256: string;
  registry: string;
}

/** The release file a supervisor image carries at its layer's root. */
const RELEASE_FILE = 'supervisor-release.json';

/**
 * Installs the supervisor from the first registry that serves it intact, then writes the choice.
 * Throws a one-line error naming every registry's failure; nothing is left behind then.
 */
export async function pullAndInstall(req: PullRequest): Promise<Installed> {
  const { final, partial } = supervisorDirs(req.agentDir, req.version);
  const blobs = join(req.agentDir, `.${req.version}.blobs`);
  const clean = () =>
    Promise.all([rm(partial, { recursive: true, force: true }), rm(blobs, { recursive: true, force: true })]);
  if (req.registries.length === 0) throw new HuplabError('config-invalid', 'config.json names no registry');
  const reasons: string[] = [];
  for (const registry of req.registries) {
    await clean();
    try {
      await mkdir(partial, { recursive: true });
      await mkdir(blobs, { recursive: true });
      await unpackFrom(req, req.client(registry), partial, blobs);
      await rm(blobs, { recursive: true, force: true });
      const sha256 = sealSupervisorDir(partial);
      placeSupervisorDir(partial, final);
      writeSupervisorChoice(req.choice, req.version);
      return { dir: final, sha256, registry };
    } catch (err) {
      await clean();
      const why = `${registry}: ${registryAnswer(err, registry)}`;
      reasons.push(why);
      if (registry !== req.registries.at(-1)) req.log(`supervisor ${req.version} from ${why}; trying the fallback`);
    }
  }
  throw new HuplabError('supervisor-pull-failed', `cannot install supervisor ${req.version}: ${reasons.join('; ')}`);
}

async function unpackFrom(req: PullRequest, client: RegistryClient, dest: string, blobs: string): Promise<void> {
  await pullImageInto({
    client,
    repository: req.image.repository,
    manifestDigest: req.image.manifestDigest,
    dest,
    blobs,
    checkLabels: (labels) =>
      expectLabels(
        labels,
        [
          [SUPERVISOR_LABELS.version, req.version],
          [SUPERVISOR_LABELS.arch, req.arch],
        ],
        'supervisor-invalid',
      ),
    ...(req.onProgress ? { onProgress: req.onProgress } : {}),
  });
  const release = JSON.parse(await readFile(join(dest, RELEASE_FILE), 'utf8').catch(() => '{}')) as {
    version?: string;
  };
  if (release.version !== undefined && release.version !== req.version)
    throw new HuplabError('supervisor-invalid', `the image's ${RELEASE_FILE} says ${release.version}`);
  await readFile(join(dest, SUPERVISOR_CODE_FILE)).catch(() => {
    throw new HuplabError('supervisor-invalid', `the image has no ${SUPERVISOR_CODE_FILE} at its layer's root`);
  });
}
