/**
 * Where a target may go: the seeds' rules judged for one device (or a batch) against what the
 * lab can give it (a FleetSource), and where a device stands against its target. One place for
 * the API's PUT/POST of targets, the choices a dashboard lists and the fleet rows; the rules
 * that do not depend on the lab are lib/'s (update-method.ts, supervisor-policy.ts).
 */
import {
  AGENT_STATUS,
  type DeviceTarget,
  kindSetAt,
  type Refusal,
  TARGET_RULES,
  type TargetProgress,
  type TargetRule,
  type TargetWarning,
  TARGET_WARNINGS,
  type UpdateKind,
} from '../../lib/contract/fleet.ts';
import { checkTarget, type PolicyRule, type ReleaseFacts } from '../../lib/release-policy.ts';
import { supervisorUpgradeRefusal } from '../../lib/supervisor-policy.ts';
import { chooseUpdateMethod, type OsIdentity, type UpdateMethod } from '../../lib/update-method.ts';
import { compareVersions } from '../../lib/versions.ts';
import { type DeviceInfo, type ProgressEntry, withOnline } from './device-records.ts';

/** A refusal, or the release a target may name (with a warning when the policy has one). */
export type Judged<T> = { ok: true; value: T; warning?: TargetWarning } | { ok: false; refusal: Refusal };

/**
 * The support policy OS targets are judged by (lib/release-policy.ts): the releases' facts and
 * the day they are judged on. The lab server's comes from the recipes; a run's backend has none
 * unless it is given one (its targets are the tests' own).
 */
export interface TargetPolicy {
  facts(): Promise<readonly ReleaseFacts[]>;
  /** The date targets are judged at (default: the time of the request). */
  now?(): Date;
}

/** A policy judgement asked for: the policy, and whether the request allows unsupported targets. */
export interface PolicyAsk {
  policy: TargetPolicy;
  allowUnsupported: boolean;
}

/** The policy's refusals as target rules: one name for each, shared with the device and the CLI. */
const POLICY_REFUSALS: Record<Exclude<PolicyRule, 'supported' | 'not-guaranteed'>, TargetRule> = {
  'unknown-release': TARGET_RULES.unknownRelease,
  'not-for-device': TARGET_RULES.notForDevice,
  'not-published': TARGET_RULES.notPublished,
  'end-of-life': TARGET_RULES.endOfLife,
  'not-maintained': TARGET_RULES.notMaintained,
};

/**
 * The support policy on an OS target of a device running `current`: a refusal (end of life, not
 * maintained, ...) unless unsupported targets are allowed, in which case it is a warning; a
 * warning for a jump that is not guaranteed; nothing for a supported target.
 */
export async function judgeOsPolicy(
  ask: PolicyAsk,
  deviceType: string,
  current: string,
  target: string,
): Promise<{ refusal?: Refusal; warning?: TargetWarning }> {
  const at = ask.policy.now?.() ?? new Date();
  const verdict = checkTarget(await ask.policy.facts(), { deviceType, current, target, at });
  if (verdict.rule === 'supported') return {};
  if (verdict.rule === 'not-guaranteed')
    return { warning: { rule: TARGET_WARNINGS.notGuaranteed, reason: verdict.reason } };
  const rule = POLICY_REFUSALS[verdict.rule];
  if (ask.allowUnsupported) return { warning: { rule, reason: `${verdict.reason}; set anyway (allowUnsupported)` } };
  return { refusal: { rule, reason: verdict.reason } };
}

/**
 * What targets may name, and how it gets published. The backend of a run judges by what it has
 * published (publishedSource); the lab server by its recipes, and it builds and publishes what a
 * target needs when the target is set (harness/server/publisher.ts).
 */
export interface FleetSource {
  /** The OS release `version` as this device would run it, or not-published (naming what is). */
  os(device: DeviceInfo, version: string): Promise<Judged<OsIdentity>>;
  /** The OS versions a target of this device may name (judged or not), oldest first. */
  osVersions(device: DeviceInfo): Promise<string[]>;
  /** The supervisor release `version` for a CPU architecture, or not-published. */
  supervisor(arch: string, version: string): Promise<Judged<{ minOsVersion: string }>>;
  supervisorVersions(arch: string): Promise<string[]>;
  /**
   * Makes what the device needs to carry the target out downloadable (builds when needed, may
   * take minutes); throws a HuplabError when it cannot. Called after the rules allowed it.
   */
  publish(device: DeviceInfo, kind: UpdateKind, version: string): Promise<void>;
}

export const notPublished = (reason: string): { ok: false; refusal: Refusal } => ({
  ok: false,
  refusal: { rule: TARGET_RULES.notPublished, reason },
});

/** The list of versions in a reason: "a, b" or "none". */
export const listed = (versions: string[]): string => (versions.length ? versions.join(', ') : 'none');

/** A device's OS target judged: refused, or allowed with the method it will run by. */
export async function judgeOs(
  source: FleetSource,
  device: DeviceInfo,
  version: string,
  now: number = Date.now(),
  policy?: PolicyAsk,
): Promise<Judged<UpdateMethod>> {
  if (!withOnline(device, now).online)
    return {
      ok: false,
      refusal: {
        rule: TARGET_RULES.offline,
        reason: `OS updates go to online devices only; ${device.name} last seen ${device.lastSeen ?? 'never'}`,
      },
    };
  const target = await source.os(device, version);
  if (!target.ok) return target;
  if (!device.osVersion)
    return notPublished(`${device.name} has not reported the OS it runs, so no update method can be chosen`);
  if (compareVersions(version, device.osVersion) < 0)
    return {
      ok: false,
      refusal: {
        rule: TARGET_RULES.noDowngrade,
        reason: `OS ${version} is older than the running ${device.osVersion} of ${device.name}: OS targets never go back`,
      },
    };
  const running = await source.os(device, device.osVersion);
  if (!running.ok)
    return notPublished(
      `the running OS ${device.osVersion} of ${device.name} is not published, so no update method can be chosen (${running.refusal.reason})`,
    );
  const method = chooseUpdateMethod(running.value, target.value);
  if (method.method === 'refused')
    return {
      ok: false,
      refusal: { rule: TARGET_RULES.methodRefused, reason: `${device.name}: ${method.reason} (${method.hint})` },
    };
  if (!policy) return { ok: true, value: method };
  const judged = await judgeOsPolicy(policy, device.deviceType, device.osVersion, version);
  if (judged.refusal) return { ok: false, refusal: judged.refusal };
  return { ok: true, value: method, ...(judged.warning ? { warning: judged.warning } : {}) };
}

/** A device's supervisor target judged (the batch's arch rule is judgeBatchArch's). */
export async function judgeSupervisor(
  source: FleetSource,
  device: DeviceInfo,
  version: string,
  confirmMajor: boolean,
): Promise<Judged<{ minOsVersion: string }>> {
  const release = await source.supervisor(device.arch, version);
  if (!release.ok) return release;
  if (!device.osVersion)
    return {
      ok: false,
      refusal: {
        rule: TARGET_RULES.osTooOld,
        reason: `${device.name} has not reported the OS it runs, so an independent supervisor upgrade cannot be judged`,
      },
    };
  const refusal = supervisorUpgradeRefusal({
    osVersion: device.osVersion,
    current: device.supervisorVersion ?? '0.0.0',
    target: version,
    targetMinOs: release.value.minOsVersion,
    confirmMajor,
  });
  return refusal ? { ok: false, refusal } : release;
}

/**
 * A supervisor batch goes to one CPU architecture. The batch's is the one most of its devices
 * have (on a tie, the first device's); when any device is of another, every device is refused,
 * the reason naming the devices of the other arches.
 */
export function judgeBatchArch(devices: DeviceInfo[]): Refusal | undefined {
  const count = new Map<string, number>();
  for (const d of devices) count.set(d.arch, (count.get(d.arch) ?? 0) + 1);
  if (count.size <= 1) return undefined;
  let arch = devices[0]!.arch;
  for (const [a, n] of count) if (n > count.get(arch)!) arch = a;
  const others = devices.filter((d) => d.arch !== arch).map((d) => `${d.name} (${d.arch})`);
  return {
    rule: TARGET_RULES.mixedArch,
    reason: `a supervisor batch goes to one CPU architecture: this batch's is ${arch} (most of its devices; the first device's on a tie), and ${others.join(', ')} ${others.length > 1 ? 'are' : 'is'} of another; set them in a batch of their own`,
  };
}

/**
 * Where a device stands against its target: reached when it reports the target's versions and
 * is Idle; failed when its last attempt of a kind, for that version and at or after that kind's
 * setAt, failed; in-progress when such an attempt started (or is done, the device not Idle yet)
 * or progress arrived after the target was set; pending otherwise; none without a target.
 */
export function targetProgress(
  device: DeviceInfo,
  target: DeviceTarget | undefined,
  last: ProgressEntry | undefined,
): TargetProgress {
  if (!target) return 'none';
  const kinds: Array<[UpdateKind, string, string | undefined, string]> = [];
  if (target.osVersion) kinds.push(['os', target.osVersion, device.osVersion, kindSetAt(target, 'os')]);
  if (target.supervisorVersion)
    kinds.push(['supervisor', target.supervisorVersion, device.supervisorVersion, kindSetAt(target, 'supervisor')]);
  if (!kinds.length) return 'none';
  const each = kinds.map(([kind, version, running, setAt]): TargetProgress => {
    if (running === version && device.status === AGENT_STATUS.idle) return 'reached';
    const attempt = device.lastUpdate?.[kind];
    const ours = attempt && attempt.version === version && attempt.targetSetAt >= setAt ? attempt : undefined;
    if (ours?.outcome === 'failed') return 'failed';
    // Reports arrive in time order: one after the target was set means the last one is.
    if (ours || (last !== undefined && last.at > setAt)) return 'in-progress';
    return 'pending';
  });
  if (each.includes('failed')) return 'failed';
  if (each.every((p) => p === 'reached')) return 'reached';
  if (each.some((p) => p !== 'pending')) return 'in-progress';
  return 'pending';
}

/** The device's last progress report when it arrived after the target was set. */
export function progressSince(
  target: DeviceTarget | undefined,
  last: ProgressEntry | undefined,
): ProgressEntry | undefined {
  if (!target) return undefined;
  return last && last.at > target.setAt ? last : undefined;
}
