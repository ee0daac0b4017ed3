/**
 * Which update a run makes, decided before anything is built or booted: the target profile (the
 * device's own, or the one of its board on the target release's OS line) and the method, from
 * the same lib/update-method.ts the API answers with. The user names releases, never a method.
 */
import { HuplabError } from '../../lib/errors.ts';
import { listProfiles, loadProfile, type Profile } from '../../lib/profile.ts';
import { LAYOUT_1X, LAYOUT_2X } from '../../lib/partition/resin-1x.ts';
import { ADVANCED_PATHS, chooseUpdateMethod, type OsIdentity, type UpdateMethod } from '../../lib/update-method.ts';
import { loadRelease, loadReleases, releaseFacts } from '../../images/recipe.ts';
import { checkTarget, day, type TargetVerdict } from '../../lib/release-policy.ts';

export interface UpdatePlan {
  device: Profile;
  target: Profile;
  current: OsIdentity;
  next: OsIdentity;
  decision: UpdateMethod;
}

/**
 * The target profile: `toDevice` when given; otherwise the device's own when the release is of
 * its line, or the one profile of the same device type whose line (layout) the release is.
 */
export async function targetProfile(device: Profile, to: string, toDevice?: string): Promise<Profile> {
  if (toDevice) return loadProfile(toDevice);
  const recipe = await loadRelease(to);
  if (recipe.layout === device.layout && recipe.deviceTypes.includes(device.deviceType)) return device;
  // Profiles running this release that an advanced path leads to from the device's line.
  const candidates: Profile[] = [];
  for (const name of await listProfiles()) {
    const p = await loadProfile(name);
    if (!recipe.deviceTypes.includes(p.deviceType) || p.layout !== recipe.layout) continue;
    const from = { deviceType: device.deviceType, layout: device.layout };
    // A 1.x device leaves its line only by the 1.x -> 2.x migration, which keeps the board and
    // its device type and changes the layout; the advanced paths start from the 2.x line.
    if (device.layout === LAYOUT_1X) {
      if (p.layout === LAYOUT_2X && p.deviceType === device.deviceType) candidates.push(p);
    } else if (ADVANCED_PATHS.some((a) => ends(a.from, from) && ends(a.to, p))) candidates.push(p);
  }
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length > 1) {
    throw new HuplabError(
      'target-ambiguous',
      `release ${to} runs on ${candidates.map((c) => c.name).join(' and ')}, both reached from ${device.name}`,
      { hint: 'name the target profile with --to-device' },
    );
  }
  throw new HuplabError(
    'release-not-for-device',
    `release ${to} (${recipe.layout}, for ${recipe.deviceTypes.join(', ')}) does not run on ${device.name} (${device.deviceType}, ${device.layout}) and no advanced path leads there from it`,
    {
      hint: `pick a release of ${device.name}'s line (\`huplab images list\`)`,
    },
  );
}

export async function planUpdate(opts: {
  device: string;
  from: string;
  to: string;
  toDevice?: string;
}): Promise<UpdatePlan> {
  const device = await loadProfile(opts.device);
  const target = await targetProfile(device, opts.to, opts.toDevice);
  const [fromRecipe, toRecipe] = [await loadRelease(opts.from), await loadRelease(opts.to)];
  for (const [r, p] of [
    [fromRecipe, device],
    [toRecipe, target],
  ] as const) {
    if (!r.deviceTypes.includes(p.deviceType) || r.layout !== p.layout) {
      throw new HuplabError(
        'release-not-for-device',
        `release ${r.version} (${r.layout}, for ${r.deviceTypes.join(', ')}) does not run on ${p.name} (${p.deviceType}, ${p.layout})`,
        {
          hint: `pick a release of ${p.name}'s line (\`huplab images list\`)`,
        },
      );
    }
  }
  const current: OsIdentity = {
    version: opts.from,
    deviceType: device.deviceType,
    layout: device.layout,
    arch: device.arch,
  };
  const next: OsIdentity = {
    version: opts.to,
    deviceType: target.deviceType,
    layout: target.layout,
    arch: target.arch,
  };
  return { device, target, current, next, decision: chooseUpdateMethod(current, next) };
}

const ends = (end: { deviceType: string; layout?: string }, p: { deviceType: string; layout: string }) =>
  end.deviceType === p.deviceType && (end.layout === undefined || end.layout === p.layout);

/** One line saying which method will run and why (printed before it runs). */
export function describePlan(plan: UpdatePlan): string {
  const d = plan.decision;
  const where = plan.target.name === plan.device.name ? plan.device.name : `${plan.device.name} -> ${plan.target.name}`;
  return `update method: ${d.method} (${where}, ${plan.current.version} -> ${plan.next.version}): ${d.reason}${d.method === 'refused' ? `; ${d.hint}` : ''}`;
}

/** The support policy on a plan's target (lib/release-policy.ts), on the day it is judged. */
export interface PolicyVerdict extends TargetVerdict {
  /** The day judged, YYYY-MM-DD. */
  at: string;
}

/**
 * What the support policy says of the plan's target at `at`: only the target is judged (a device
 * may run any release, maintained or not), for the target profile's device type.
 */
export async function planPolicy(plan: UpdatePlan, at: Date): Promise<PolicyVerdict> {
  const facts = releaseFacts(await loadReleases());
  const verdict = checkTarget(facts, {
    deviceType: plan.target.deviceType,
    current: plan.current.version,
    target: plan.next.version,
    at,
  });
  return { ...verdict, at: day(at) };
}

/** The hint of a policy refusal: what to do about it. */
export function policyHint(plan: UpdatePlan): string {
  return `pick a maintained target (\`huplab releases --device ${plan.target.name}\`), or pass --allow-unsupported to run it anyway`;
}

/** One line saying what the support policy says of the target (printed beside the method). */
export function describePolicy(v: PolicyVerdict, allowUnsupported = false): string {
  const what = !v.allowed
    ? allowUnsupported
      ? 'unsupported, allowed by --allow-unsupported'
      : 'refused'
    : v.guaranteed
      ? 'supported'
      : 'allowed, not guaranteed';
  return `support policy: ${what} (on ${v.at}): ${v.reason}`;
}
