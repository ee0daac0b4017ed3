/**
 * The releases the suites update between on one device profile: the oldest, second and third
 * release of the profile's OS line (rolling releases naming its device type, with its layout,
 * legacy ones left out: ESR releases are qualified as upgrade paths, never a suite's base), unless
 * HUPLAB_BASE_RELEASE / HUPLAB_NEXT_RELEASE / HUPLAB_PATCH_RELEASE say otherwise (`huplab
 * qualify` sets them). One place, so that the fixtures and the report say the same thing.
 * Synchronous, because Playwright's config and the suites' module scope need it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { devicesDir, readConfiguredDirSync, releasesDir } from '../../lib/paths.ts';
import { compareVersions, sortVersions } from '../../lib/versions.ts';
import { ADVANCED_PATHS } from '../../lib/update-method.ts';
import { ROLLING } from '../../lib/release-policy.ts';

export interface SuiteReleases {
  base: string;
  next: string;
  patch: string;
}

interface ProfileLine {
  deviceType: string;
  layout: string;
}

function readLine(profileName: string): ProfileLine {
  const profile = JSON.parse(readFileSync(join(devicesDir, `${profileName}.json`), 'utf8')) as {
    deviceType: string;
    layout?: string;
  };
  return { deviceType: profile.deviceType, layout: profile.layout ?? 'balena-ab-v1' };
}

/**
 * The versions of a profile's OS line (rolling releases naming its device type, with its layout),
 * oldest first. ESR releases (images/release.schema.json `line`) are left out, so adding an ESR
 * line, even one older than the rolling releases, never changes what the suites run.
 */
function lineVersions(line: ProfileLine): string[] {
  return readConfiguredDirSync(releasesDir, 'HUPLAB_RELEASES', 'release recipes')
    .filter((f) => f.endsWith('.json'))
    .map(
      (f) =>
        JSON.parse(readFileSync(join(releasesDir, f), 'utf8')) as {
          version: string;
          deviceTypes: string[];
          layout: string;
          line?: string;
          legacy?: boolean;
        },
    )
    .filter(
      (r) =>
        r.deviceTypes.includes(line.deviceType) && r.layout === line.layout && r.line === ROLLING && r.legacy !== true,
    )
    .map((r) => r.version)
    .sort(sortVersions);
}

export function suiteReleasesFor(profileName: string): SuiteReleases {
  const profile = readLine(profileName);
  const layout = profile.layout;
  const line = lineVersions(profile);
  const pick = (env: string | undefined, i: number, role: string): string => {
    if (env) return env;
    const v = line[i];
    if (!v) {
      throw new HuplabError(
        'suite-releases-missing',
        `profile ${profileName} has ${line.length} release(s) of layout ${layout} (${line.join(', ') || 'none'}); the suites need a ${role} release`,
        {
          hint: `add a release for ${profile.deviceType} with layout ${layout} in images/releases/, or set HUPLAB_${role.toUpperCase()}_RELEASE`,
        },
      );
    }
    return v;
  };
  return {
    base: pick(process.env.HUPLAB_BASE_RELEASE, 0, 'base'),
    next: pick(process.env.HUPLAB_NEXT_RELEASE, 1, 'next'),
    patch: pick(process.env.HUPLAB_PATCH_RELEASE, 2, 'patch'),
  };
}

/** The generic-amd64 line, for callers with no profile at hand (the report's default). */
export function defaultSuiteReleases(): SuiteReleases {
  return suiteReleasesFor('generic-amd64');
}

/** The advanced update the hup-advanced suite makes from a profile: to which profile, from and to which release, and the standard update after it. */
export interface AdvancedSuite {
  target: string;
  from: string;
  to: string;
  next: string;
  /** The newest release of the target line: where a fleet sends a device across the lines. */
  latest: string;
}

/**
 * For a profile an advanced path leads away from (lib/update-method.ts): the target profile of
 * the same board, the profile's base release, the oldest release of the target line newer than
 * it, and the one after that (a standard update on the new line). Undefined for other profiles.
 */
export function advancedSuiteFor(profileName: string): AdvancedSuite | undefined {
  const from = readLine(profileName);
  const ends = (end: { deviceType: string; layout?: string }, p: ProfileLine) =>
    end.deviceType === p.deviceType && (end.layout === undefined || end.layout === p.layout);
  const target = readConfiguredDirSync(devicesDir, 'HUPLAB_DEVICES', 'device profiles')
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .find(
      (name) => name !== profileName && ADVANCED_PATHS.some((a) => ends(a.from, from) && ends(a.to, readLine(name))),
    );
  if (!target) return undefined;
  const base = suiteReleasesFor(profileName).base;
  const newer = lineVersions(readLine(target)).filter((v) => compareVersions(v, base) > 0);
  if (newer.length < 2) {
    throw new HuplabError(
      'suite-releases-missing',
      `the advanced suite from ${profileName} (${base}) needs two releases of ${target}'s line newer than ${base}; it has ${newer.join(', ') || 'none'}`,
      {
        hint: `add releases for ${target} in images/releases/`,
      },
    );
  }
  return { target, from: base, to: newer[0]!, next: newer[1]!, latest: newer.at(-1)! };
}
