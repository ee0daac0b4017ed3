/**
 * The versions a Modify dialog (or a device's Settings) lists: for each version any selected
 * device may be asked to take, which devices may take it and which are refused and why (the API's
 * GET /v1/devices/<uuid>/choices, which judges every rule of the lab), and for an OS version the
 * support policy's words for the release and whether the jump is guaranteed (GET /v1/policy).
 * Pure: the tests give it plain data.
 */
import type { DashboardRow, DeviceChoices, PolicyAnswer, PolicyRelease } from '../wire.ts';
import { TARGET_RULES } from '../../../lib/contract/fleet.ts';
import { sortVersions } from '../../../lib/versions.ts';
import { releaseWords } from './format.ts';

export type ChoiceKind = 'os' | 'supervisor';

/**
 * The support policy's refusals an operator may override ("Allow unsupported releases", the
 * API's allowUnsupported): the policy is judged last, so a device refused by one of these passed
 * every other rule.
 */
const OVERRIDABLE: ReadonlySet<string> = new Set([TARGET_RULES.endOfLife, TARGET_RULES.notMaintained]);

export interface DeviceVerdict {
  uuid: string;
  name: string;
}

export interface VersionOption {
  version: string;
  /** Devices that may take it. */
  allowed: Array<DeviceVerdict & { warning?: string }>;
  /** Devices refused only by the support policy: they take it when unsupported releases are allowed. */
  overridable: Array<DeviceVerdict & { rule: string; reason: string }>;
  /** Devices refused, each with the rule and its one-line reason. */
  refused: Array<DeviceVerdict & { rule: string; reason: string }>;
  /** OS: the policy's words for the release ("ESR 2026.10, Next-ESR, maintained until ..."). */
  policy?: string;
  /** OS: the policy does not support it as a target (end of life, not maintained). */
  unsupported?: boolean;
  /** OS: devices for which the jump is allowed but not guaranteed. */
  notGuaranteed: string[];
  /** At least one device may take it (with unsupported releases allowed, when they are). */
  selectable: boolean;
}

/** The versions, newest first, with their verdicts for the devices whose choices were fetched. */
export function versionOptions(
  kind: ChoiceKind,
  devices: readonly DashboardRow[],
  choices: readonly DeviceChoices[],
  policy?: PolicyAnswer,
  allowUnsupported = false,
): VersionOption[] {
  const byVersion = new Map<string, VersionOption>();
  const rowOf = new Map(devices.map((d) => [d.uuid, d]));
  for (const c of choices) {
    const row = rowOf.get(c.uuid);
    for (const choice of kind === 'os' ? c.os : c.supervisor) {
      let o = byVersion.get(choice.version);
      if (!o) {
        o = {
          version: choice.version,
          allowed: [],
          refused: [],
          overridable: [],
          notGuaranteed: [],
          selectable: false,
        };
        byVersion.set(choice.version, o);
      }
      const who = { uuid: c.uuid, name: c.name };
      if (choice.ok) o.allowed.push({ ...who, ...(choice.warning ? { warning: choice.warning.reason } : {}) });
      else {
        const refusal = { ...who, rule: choice.refusal?.rule ?? 'refused', reason: choice.refusal?.reason ?? '' };
        o.refused.push(refusal);
        if (OVERRIDABLE.has(refusal.rule)) o.overridable.push(refusal);
      }
      if (kind === 'os' && row && policy) {
        const jump = jumpVerdict(policy, row, choice.version);
        if (choice.ok && jump === 'not-guaranteed') o.notGuaranteed.push(c.name);
      }
    }
  }
  const out = [...byVersion.values()];
  for (const o of out) {
    o.selectable = o.allowed.length > 0 || (allowUnsupported && o.overridable.length > 0);
    if (kind === 'os' && policy) {
      const release = releaseOf(policy, devices, o.version);
      if (release) {
        o.policy = releaseWords(release);
        o.unsupported = release.phase === 'eol' || release.phase === 'superseded' || release.phase === 'unpublished';
      }
    }
  }
  return out.sort((a, b) => sortVersions(b.version, a.version));
}

/** The release entry of the policy for the first selected device type that has the version. */
function releaseOf(policy: PolicyAnswer, devices: readonly DashboardRow[], version: string): PolicyRelease | undefined {
  for (const type of new Set(devices.map((d) => d.deviceType))) {
    const found = policy.deviceTypes.find((t) => t.deviceType === type)?.releases.find((r) => r.version === version);
    if (found) return found;
  }
  return undefined;
}

/** The jump rule for one device: guaranteed, not guaranteed, or not a policy target at all. */
export function jumpVerdict(
  policy: PolicyAnswer,
  row: DashboardRow,
  version: string,
): 'guaranteed' | 'not-guaranteed' | 'not-a-target' {
  const releases = policy.deviceTypes.find((t) => t.deviceType === row.deviceType)?.releases;
  const current = releases?.find((r) => r.version === row.osVersion);
  const target = current?.targets.find((t) => t.version === version);
  if (!target) return 'not-a-target';
  return target.guaranteed ? 'guaranteed' : 'not-guaranteed';
}

/** What an option says beside its version, in one line. */
export function optionWords(o: VersionOption, selectedCount: number, allowUnsupported = false): string {
  const parts: string[] = [];
  if (o.policy) parts.push(o.policy);
  if (o.notGuaranteed.length) parts.push(`not guaranteed for ${o.notGuaranteed.join(', ')}`);
  else {
    const warned = o.allowed.filter((a) => a.warning);
    if (warned.length) parts.push(`warning: ${warned[0]!.warning}${andMore(warned.length - 1)}`);
  }
  const taking = allowUnsupported ? o.allowed.length + o.overridable.length : o.allowed.length;
  const refused = allowUnsupported ? o.refused.filter((r) => !OVERRIDABLE.has(r.rule)) : o.refused;
  if (!o.selectable) parts.push(`refused: ${refusedWords(o)}`);
  else {
    if (allowUnsupported && o.overridable.length)
      parts.push(`unsupported, allowed on request for ${o.overridable.map((r) => r.name).join(', ')}`);
    if (refused.length)
      parts.push(`${taking} of ${selectedCount} may take it; refused for ${refused.map((r) => r.name).join(', ')}`);
  }
  return parts.join(' · ');
}

function andMore(n: number): string {
  return n > 0 ? ` (and ${n} more device${n > 1 ? 's' : ''})` : '';
}

/** Whether any option is refused by the support policy alone for some device (so the choice to allow it matters). */
export function anyOverridable(options: readonly VersionOption[]): boolean {
  return options.some((o) => o.overridable.length > 0);
}

/** The first device's reason, and how many more were refused (their reasons name them alike). */
function refusedWords(o: VersionOption): string {
  const [first, ...more] = o.refused;
  if (!first) return 'no device may take it';
  return `${first.reason || first.rule}${andMore(more.length)}`;
}

/** Major version of a supervisor version ("16.9.0" -> 16). */
export function major(version: string | null | undefined): number | undefined {
  const m = /^(\d+)\./.exec(version ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Whether a supervisor target is a new major version for any of the devices. */
export function needsMajorConfirmation(version: string, devices: readonly DashboardRow[]): boolean {
  const to = major(version);
  return to !== undefined && devices.some((d) => (major(d.supervisorVersion) ?? to) < to);
}
