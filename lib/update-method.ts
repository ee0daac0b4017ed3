/**
 * Which update method takes a device from the OS it runs to a target release: decided here, from
 * the two releases and the device type, and never chosen by the user (seeds: the standard path
 * for updates within a line, the advanced one, takeover, for jumps it cannot make). Shared by the
 * harness (the CLI and the API say which method will run before it runs) and the updater.
 */
import { compareVersions } from './versions.ts';

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
  | { method: 'refused'; reason: string; hint: string };

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

function describe(os: OsIdentity): string {
  return `${os.deviceType} ${os.version} (${os.layout}, ${os.arch})`;
}
