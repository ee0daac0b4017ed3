import type { Command } from 'commander';
import { loadReleases, releaseFacts } from '../../images/recipe.ts';
import { HuplabError } from '../../lib/errors.ts';
import { listProfiles, loadProfile } from '../../lib/profile.ts';
import {
  deviceTypesOf,
  MAX_JUMP_QUARTERS,
  parsePolicyDate,
  type PolicyReport,
  policyReport,
  type ReleaseFacts,
} from '../../lib/release-policy.ts';
import { makeOutput } from './output.ts';
import { run } from './run.ts';

export interface ReleasesOptions {
  device?: string;
  at?: string;
  json?: boolean;
}

/**
 * `huplab releases`: the support policy at a date (lib/release-policy.ts), per device type: each
 * published release with its line, phase, maintained or not, end of life, and the targets a
 * device on it may be updated to (a `*` marks a jump that is allowed but not guaranteed).
 */
export function registerReleases(program: Command): void {
  program
    .command('releases')
    .description(
      'the support policy at a date: each release with its line (rolling or ESR), phase, maintenance, end of life and the targets a device on it may be updated to',
    )
    .option('--device <device>', 'only this device profile (e.g. raspberrypi3) or device type (e.g. jetson-xavier)')
    .option('--at <date>', 'the date to ask about, YYYY-MM-DD (default: today)')
    .option('--json', 'print the result as JSON')
    .action(
      run(async (o: ReleasesOptions) => {
        const out = makeOutput(!!o.json);
        const report = await planReleases(o);
        out.result(report, () => releasesLines(report));
      }),
    );
}

/** Checks the options and computes the report; every mistake is a one-line error. */
export async function planReleases(o: ReleasesOptions, now = new Date()): Promise<PolicyReport> {
  const at = o.at === undefined ? now : parsePolicyDate(o.at, '--at');
  const facts = releaseFacts(await loadReleases());
  const deviceTypes = o.device === undefined ? deviceTypesOf(facts) : [await deviceTypeOf(o.device, facts)];
  return policyReport(facts, deviceTypes, at);
}

/** A profile's device type, or a device type some release names; else a one-line error. */
async function deviceTypeOf(device: string, facts: readonly ReleaseFacts[]): Promise<string> {
  const types = deviceTypesOf(facts);
  if (types.includes(device)) return device;
  const profiles = await listProfiles();
  if (profiles.includes(device)) {
    const profile = await loadProfile(device);
    if (types.includes(profile.deviceType)) return profile.deviceType;
    throw new HuplabError('no-releases', `no release is built for ${device} (device type ${profile.deviceType})`, {
      hint: 'add a recipe listing it in images/releases/',
    });
  }
  throw new HuplabError(
    'unknown-device',
    `--device "${device}" is neither a device profile nor a device type of a release`,
    {
      hint: `profiles: ${profiles.join(', ')}; device types: ${types.join(', ')}`,
    },
  );
}

/** The report for people: a table per device type. */
export function releasesLines(report: PolicyReport): string[] {
  const lines = [`support policy on ${report.at.slice(0, 10)}:`];
  for (const d of report.deviceTypes) {
    lines.push(`${d.deviceType}:`);
    if (d.releases.length === 0) lines.push('  no release published yet');
    else
      lines.push(
        `  ${'version'.padEnd(9)} ${'line'.padEnd(8)} ${'phase'.padEnd(12)} ${'maintained'.padEnd(10)} ${'end of life'.padEnd(11)} targets`,
      );
    for (const r of d.releases) {
      const targets = r.targets.map((t) => `${t.version}${t.guaranteed ? '' : '*'}`).join(' ') || '-';
      lines.push(
        `  ${r.version.padEnd(9)} ${r.line.padEnd(8)} ${r.phase.padEnd(12)} ${(r.maintained ? 'yes' : 'no').padEnd(10)} ${(r.endOfLife ?? '-').padEnd(11)} ${targets}`,
      );
    }
  }
  lines.push(
    `* allowed but not guaranteed: a jump of more than ${MAX_JUMP_QUARTERS} quarters (two ESR lines); end-of-life and unmaintained releases are no targets`,
  );
  return lines;
}
