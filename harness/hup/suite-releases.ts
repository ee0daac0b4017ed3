/**
 * The releases the suites update between on one device profile: the oldest, second and third
 * release of the profile's OS line (releases naming its device type, with its layout), unless
 * HUPLAB_BASE_RELEASE / HUPLAB_NEXT_RELEASE / HUPLAB_PATCH_RELEASE say otherwise (`huplab
 * qualify` sets them). One place, so that the fixtures and the report say the same thing.
 * Synchronous, because Playwright's config and the suites' module scope need it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { devicesDir, releasesDir } from '../../lib/paths.ts';
import { sortVersions } from '../../lib/versions.ts';

export interface SuiteReleases { base: string; next: string; patch: string }

export function suiteReleasesFor(profileName: string): SuiteReleases {
  const profile = JSON.parse(readFileSync(join(devicesDir, `${profileName}.json`), 'utf8')) as { deviceType: string; layout?: string };
  const layout = profile.layout ?? 'balena-ab-v1';
  const line = readdirSync(releasesDir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(releasesDir, f), 'utf8')) as { version: string; deviceTypes: string[]; layout: string })
    .filter((r) => r.deviceTypes.includes(profile.deviceType) && r.layout === layout)
    .map((r) => r.version)
    .sort(sortVersions);
  const pick = (env: string | undefined, i: number, role: string): string => {
    if (env) return env;
    const v = line[i];
    if (!v) {
      throw new HuplabError('suite-releases-missing', `profile ${profileName} has ${line.length} release(s) of layout ${layout} (${line.join(', ') || 'none'}); the suites need a ${role} release`, {
        hint: `add a release for ${profile.deviceType} with layout ${layout} in images/releases/, or set HUPLAB_${role.toUpperCase()}_RELEASE`,
      });
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
