import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HuplabError } from '../lib/errors.ts';
import { compileSchema, describeSchemaError } from '../lib/json-schema.ts';
import { readConfiguredDir, releasesDir, repoRoot } from '../lib/paths.ts';
import { sortVersions } from '../lib/versions.ts';
import { checkLines, type ReleaseFacts } from '../lib/release-policy.ts';
import { isVariant, VARIANTS, type Variant } from '../lib/contract/variant.ts';

export { compareVersions } from '../lib/versions.ts';

/** An OS release recipe (images/releases/<version>.json). */
export interface ReleaseRecipe {
  version: string;
  date: string;
  /** `rolling` or an ESR line (year.month of its first release); the support policy: lib/release-policy.ts. */
  line: string;
  supervisorVersion: string;
  layout: string;
  /** The variant built unless a build asks for another (withVariant). */
  variant: Variant;
  /** Kept to show what older fleets meet; never a suite's base, next or patch release. */
  legacy?: boolean;
  deviceTypes: string[];
  debianPackages: Array<string | { name: string; paths?: string[]; version?: string }>;
  node: { version: string; integrity: Record<string, string>; versions?: Record<string, string> };
  files: Record<string, string>;
  /** A resinOS 1.x release's data-partition state (layout resin-1x only; the schema says so). */
  onex?: OnexRecipe;
}

export interface OnexRecipe {
  application: { appId: number; name: string; imageKiB: number };
  wifiConnect?: { ssid: string; passphrase: string };
}

const validate = compileSchema<ReleaseRecipe>(join(repoRoot, 'images', 'release.schema.json'));

export async function listReleases(dir = releasesDir): Promise<string[]> {
  const names = await readConfiguredDir(dir, 'HUPLAB_RELEASES', 'release recipes');
  return names
    .filter((n) => n.endsWith('.json'))
    .map((n) => n.slice(0, -5))
    .sort(sortVersions);
}

/** Loads and validates a release recipe; unknown versions and bad files get one-line errors. */
export async function loadRelease(version: string, dir = releasesDir): Promise<ReleaseRecipe> {
  const file = join(dir, `${version}.json`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    const known = await listReleases(dir);
    throw new HuplabError('unknown-release', `unknown release "${version}"`, {
      hint: `known releases: ${known.join(', ')}; add a recipe as images/releases/<version>.json`,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new HuplabError('release-invalid', `${file}: not valid JSON: ${(err as Error).message}`, {
      hint: 'fix the recipe',
    });
  }
  if (!validate(data)) {
    throw new HuplabError('release-invalid', `${file}: ${describeSchemaError(validate.errors)}`, {
      hint: 'fix the recipe; see images/release.schema.json',
    });
  }
  if (data.version !== version) {
    throw new HuplabError(
      'release-invalid',
      `${file}: /version is "${data.version}" but the file is named for ${version}`,
      {
        hint: 'the file name must be <version>.json',
      },
    );
  }
  return data;
}

/**
 * Every release recipe, each validated as loadRelease does, and then together against the support
 * policy's rules across files (lib/release-policy.ts `checkLines`: an ESR line's name, dates and
 * patch releases); a problem is one line naming the file and the field.
 */
export async function loadReleases(dir = releasesDir): Promise<ReleaseRecipe[]> {
  const recipes = await Promise.all((await listReleases(dir)).map((v) => loadRelease(v, dir)));
  const problem = checkLines(recipes)[0];
  if (problem) {
    throw new HuplabError(
      'release-invalid',
      `${join(dir, `${problem.version}.json`)}: /${problem.field} ${problem.message}`,
      {
        hint: 'fix the recipe; see the line field of images/release.schema.json',
      },
    );
  }
  return recipes;
}

/** What the support policy needs of the recipes. */
export function releaseFacts(recipes: readonly ReleaseRecipe[]): ReleaseFacts[] {
  return recipes.map((r) => ({ version: r.version, date: r.date, line: r.line, deviceTypes: r.deviceTypes }));
}

/** The package name of a debianPackages entry. */
export function packageName(entry: string | { name: string }): string {
  return typeof entry === 'string' ? entry : entry.name;
}

/** A debianPackages entry as apt names it: `name`, or `name=version` when the recipe pins one. */
export function packageSpec(entry: string | { name: string; version?: string }): string {
  return typeof entry === 'string' || entry.version === undefined
    ? packageName(entry)
    : `${entry.name}=${entry.version}`;
}

/**
 * The recipe as built in `variant` (a build's --variant), or as it stands when none is asked for.
 * The variant is part of the recipe a build is keyed by, so the two variants of a release are two
 * cache entries, two hostapps and two disk images.
 */
export function withVariant(recipe: ReleaseRecipe, variant?: string): ReleaseRecipe {
  if (variant === undefined || variant === recipe.variant) return recipe;
  return { ...recipe, variant: checkVariant(variant) };
}

/** A variant named by a user (a flag, an option): one of VARIANTS, or a one-line error. */
export function checkVariant(variant: string, what = 'variant'): Variant {
  if (isVariant(variant)) return variant;
  throw new HuplabError('variant-invalid', `${what} "${variant}" is not an OS variant`, {
    hint: `use one of: ${VARIANTS.join(', ')}`,
  });
}
