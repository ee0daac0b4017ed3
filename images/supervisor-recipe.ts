import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../lib/errors.ts';
import { compileSchema, describeSchemaError } from '../lib/json-schema.ts';
import { readConfiguredDir, repoRoot, supervisorReleasesDir } from '../lib/paths.ts';
import {
  belowIndependentMinimum,
  INDEPENDENT_SUPERVISOR_MIN_OS,
  type SupervisorArch,
} from '../lib/supervisor-policy.ts';
import { sortVersions } from '../lib/versions.ts';

/** A supervisor release recipe (images/supervisor-releases/<version>.json). */
export interface SupervisorRecipe {
  version: string;
  date: string;
  /** The oldest OS version it runs on (never older than INDEPENDENT_SUPERVISOR_MIN_OS). */
  minOsVersion: string;
  /** Debian CPU architectures it is built for. */
  arches: SupervisorArch[];
  /** esbuild's target for the bundled agent, e.g. node20. */
  nodeTarget: string;
  /** The changelog entry shipped in the image. */
  notes: string;
}

const validate = compileSchema<SupervisorRecipe>(join(repoRoot, 'images', 'supervisor-release.schema.json'));

export async function listSupervisorReleases(dir = supervisorReleasesDir): Promise<string[]> {
  const names = await readConfiguredDir(dir, 'HUPLAB_SUPERVISOR_RELEASES', 'supervisor release recipes');
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -5))
    .sort(sortVersions);
}

/** Loads and validates a supervisor recipe; unknown versions and bad files get one-line errors. */
export async function loadSupervisorRelease(version: string, dir = supervisorReleasesDir): Promise<SupervisorRecipe> {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || version.includes('..'))
    throw new HuplabError('unknown-supervisor', `"${version}" is not a supervisor version`, {
      hint: 'give a version such as 16.9.0 (see `huplab images list`)',
    });
  const file = join(dir, `${version}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    const known = await listSupervisorReleases(dir);
    throw new HuplabError('unknown-supervisor', `unknown supervisor release "${version}"`, {
      hint: `known supervisor releases: ${known.join(', ') || 'none'}; add a recipe as images/supervisor-releases/<version>.json`,
    });
  }
  const invalid = (what: string, hint = 'fix the recipe; see images/supervisor-release.schema.json') =>
    new HuplabError('supervisor-release-invalid', `${file}: ${what}`, { hint });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw invalid(`not valid JSON: ${(err as Error).message}`, 'fix the recipe');
  }
  if (!validate(data)) throw invalid(describeSchemaError(validate.errors));
  if (data.version !== version)
    throw invalid(
      `/version is "${data.version}" but the file is named for ${version}`,
      'the file name must be <version>.json',
    );
  if (belowIndependentMinimum(data.minOsVersion))
    throw invalid(
      `/minOsVersion ${data.minOsVersion} is older than ${INDEPENDENT_SUPERVISOR_MIN_OS}, the oldest OS that upgrades its supervisor independently`,
      `set it to ${INDEPENDENT_SUPERVISOR_MIN_OS} or newer`,
    );
  return data;
}
