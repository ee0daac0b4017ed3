/**
 * Which update method takes a device from the OS it runs to a target release: decided here, from
 * the two releases and the device type, and never chosen by the user (seeds: the standard path
 * for updates within a line, the advanced one, takeover, for jumps it cannot make). Shared by the
 * harness (the CLI and the API say which method will run before it runs) and the updater.
 */
import { compareVersions } from './versions.ts';
import { LAYOUT_1X, LAYOUT_2X } from './partition/resin-1x.ts';

/** What decides the method: the release and what it was built for. */
export interface OsIdentity {
  version: string;
  deviceType: string;
  /** Partition layout id (lib/profile.ts `layout`, the recipe's `layout`). */
  layout: string;
  /** Debian architecture of the OS's userland. */
  arch: string;
}

/** A served raw OS image: the file as downloaded and the disk image it unpacks to. */
export interface OsImageInfo {
  compression: 'gzip' | 'none';
  /** raw: the disk image itself; android-sparse: AOSP's sparse format (zero runs as FILL chunks). */
  format: 'raw' | 'android-sparse';
  sha256: string;
  size: number;
  /** Of the disk image itself, for checking what was flashed. */
  rawSha256: string;
  rawSize: number;
}

/** A jump the standard path cannot make, which the advanced path may. */
export interface AdvancedPath {
  name: string;
  from: { deviceType: string; layout?: string };
  to: { deviceType: string; layout?: string };
  /** What changes, said to the user. */
  crosses: string;
}

export const ADVANCED_PATHS: readonly AdvancedPath[] = [
  {
    name: 'raspberrypi3-32-to-64',
    from: { deviceType: 'raspberrypi3' },
    to: { deviceType: 'raspberrypi3-64' },
    crosses: 'a 32-bit OS to a 64-bit one (another architecture and boot firmware)',
  },
  {
    name: 'jetson-xavier-jetpack4-to-5',
    from: { deviceType: 'jetson-xavier', layout: 'jetson-l4t32' },
    to: { deviceType: 'jetson-xavier', layout: 'jetson-l4t35' },
    crosses: 'JetPack 4 to JetPack 5 (another partition layout and new QSPI boot firmware)',
  },
];

export type UpdateMethod =
  | { method: 'standard'; reason: string }
  | { method: 'advanced'; reason: string; path: AdvancedPath }
  | { method: '1.x'; reason: string }
  | { method: '1.x-to-2.x'; reason: string }
  | { method: 'refused'; reason: string; hint: string };

/** Every method name the API may answer with (the device and the harness parse these). */
export const UPDATE_METHODS = ['standard', 'advanced', '1.x', '1.x-to-2.x', 'refused'] as const;
export type UpdateMethodName = (typeof UPDATE_METHODS)[number];

/**
 * The field's limits on the 1.x paths (the hup action's resinhup11 and resinhup12, and the
 * scripts' own checks): the running 1.x must be 1.8.0 or newer; a 1.x target 1.26.0 or newer; a
 * 2.x target 2.2.0+rev1 or newer (the script has no maximum, and neither has huplab).
 */
export const LIMITS_1X = { minSource: '1.8.0', min1xTarget: '1.26.0', min2xTarget: '2.2.0' } as const;

const matches = (end: { deviceType: string; layout?: string }, os: OsIdentity) =>
  end.deviceType === os.deviceType && (end.layout === undefined || end.layout === os.layout);

/**
 * The method, or the reason there is none. `allowDowngrade` is the standard path's own opt-in
 * (balena's --allow-downgrade); the advanced path never goes back, as it cannot roll back.
 */
export function chooseUpdateMethod(
  current: OsIdentity,
  target: OsIdentity,
  opts: { allowDowngrade?: boolean } = {},
): UpdateMethod {
  const order = compareVersions(target.version, current.version);
  if (current.layout === LAYOUT_1X || target.layout === LAYOUT_1X) return choose1x(current, target, order);
  const sameLine =
    current.deviceType === target.deviceType && current.layout === target.layout && current.arch === target.arch;
  if (sameLine) {
    if (order === 0)
      return { method: 'refused', reason: `the device already runs ${current.version}`, hint: 'pick a newer release' };
    if (order < 0 && !opts.allowDowngrade) {
      return {
        method: 'refused',
        reason: `${target.version} is older than the running ${current.version}; downgrades are refused`,
        hint: `update to a release newer than ${current.version} (\`huplab images list\` lists them); to watch the refusal, run \`huplab hup --fault downgrade\` with --from older than --to`,
      };
    }
    return {
      method: 'standard',
      reason: `same device type (${current.deviceType}), layout (${current.layout}) and architecture (${current.arch})`,
    };
  }
  const path = ADVANCED_PATHS.find((p) => matches(p.from, current) && matches(p.to, target));
  if (path) {
    if (order < 0) {
      return {
        method: 'refused',
        reason: `${target.version} is older than the running ${current.version}; the advanced path never goes back`,
        hint: `pick a release of ${target.deviceType} (${target.layout}) newer than ${current.version}`,
      };
    }
    return {
      method: 'advanced',
      reason: `${describe(current)} -> ${describe(target)}: ${path.crosses}, which the standard path cannot make`,
      path,
    };
  }
  const back = ADVANCED_PATHS.find((p) => matches(p.to, current) && matches(p.from, target));
  if (back) {
    return {
      method: 'refused',
      reason: `no way back from ${describe(current)} to ${describe(target)}: the advanced path only goes ${back.crosses.split(' (')[0]}`,
      hint: `pick a release of ${current.deviceType} (${current.layout})`,
    };
  }
  if (current.deviceType !== target.deviceType) {
    return {
      method: 'refused',
      reason: `${target.version} is built for ${target.deviceType}, this device is ${current.deviceType}, and no advanced path joins them`,
      hint: `pick a release of ${current.deviceType}`,
    };
  }
  return {
    method: 'refused',
    reason: `${describe(current)} -> ${describe(target)}: the layout or architecture changes and no advanced path covers it`,
    hint: `pick a release of the ${current.layout} line`,
  };
}

/** The 1.x paths: within the 1.x line (`1.x`) and from it to the 2.x A/B line (`1.x-to-2.x`). */
function choose1x(current: OsIdentity, target: OsIdentity, order: number): UpdateMethod {
  if (current.layout !== LAYOUT_1X) {
    return {
      method: 'refused',
      reason: `no way back from ${describe(current)} to ${describe(target)}: the 1.x line is only left, never entered`,
      hint: `pick a release of ${current.deviceType} (${current.layout})`,
    };
  }
  if (current.deviceType !== target.deviceType || current.arch !== target.arch) {
    return {
      method: 'refused',
      reason: `${describe(current)} -> ${describe(target)}: a 1.x device stays the same device type and architecture`,
      hint: `pick a release of ${current.deviceType} (${current.arch})`,
    };
  }
  if (order === 0)
    return { method: 'refused', reason: `the device already runs ${current.version}`, hint: 'pick a newer release' };
  if (order < 0) {
    return {
      method: 'refused',
      reason: `${target.version} is older than the running ${current.version}; the 1.x paths never go back`,
      hint: `pick a release newer than ${current.version}`,
    };
  }
  if (compareVersions(current.version, LIMITS_1X.minSource) < 0) {
    return {
      method: 'refused',
      reason: `the running ${current.version} is too low for a host OS update, need ${LIMITS_1X.minSource} or greater`,
      hint: `the field updated 1.x hosts older than ${LIMITS_1X.minSource} by reflashing; pick a device on ${LIMITS_1X.minSource} or newer`,
    };
  }
  if (target.layout === LAYOUT_1X) {
    if (compareVersions(target.version, LIMITS_1X.min1xTarget) < 0) {
      return {
        method: 'refused',
        reason: `the 1.x target ${target.version} is too low, need ${LIMITS_1X.min1xTarget} or greater`,
        hint: `pick a 1.x release of ${LIMITS_1X.min1xTarget} or newer`,
      };
    }
    return {
      method: '1.x',
      reason: `within the 1.x line (${current.deviceType}, ${LAYOUT_1X}): the spare root resin-updt gets the new OS, checked against the running root's fingerprint first`,
    };
  }
  if (target.layout === LAYOUT_2X) {
    if (compareVersions(target.version, LIMITS_1X.min2xTarget) < 0) {
      return {
        method: 'refused',
        reason: `the 2.x target ${target.version} is too low, need ${LIMITS_1X.min2xTarget}+rev1 or greater`,
        hint: `pick a 2.x release of ${LIMITS_1X.min2xTarget}+rev1 or newer`,
      };
    }
    return {
      method: '1.x-to-2.x',
      reason: `${describe(current)} -> ${describe(target)}: the disk is repartitioned to the 2.x A/B layout, /data backed up on the spare root and restored, the network settings carried to NetworkManager`,
    };
  }
  return {
    method: 'refused',
    reason: `${describe(current)} -> ${describe(target)}: a 1.x device goes to the 1.x line or to ${LAYOUT_2X}, nowhere else`,
    hint: `pick a release of the ${LAYOUT_1X} or ${LAYOUT_2X} line of ${current.deviceType}`,
  };
}

function describe(os: OsIdentity): string {
  return `${os.deviceType} ${os.version} (${os.layout}, ${os.arch})`;
}
