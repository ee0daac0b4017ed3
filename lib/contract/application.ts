/**
 * The user application as the device keeps it and the harness reads it: an image in the
 * registry (its code at the layer's root), unpacked by the supervisor into the engine's image
 * store on the data partition, and started from there by the OS's init script. A freshly built
 * device has it preloaded (as `balena preload` does); the 1.x -> 2.x migration removes the
 * images, so the first 2.x boot has none and the supervisor fetches the application again.
 */

/** The application the lab runs (the demo application: records.log, its update lock). */
export const DEMO_APP = { appId: 1, name: 'demo-app' } as const;

/** What the API says a device's fleet runs: the heartbeat's `application`. */
export interface ApplicationRelease {
  appId: number;
  name: string;
  /** The release's version, as the image's label and the store's folder name say it. */
  release: string;
  /** Pulled by digest, never by tag. */
  image: { repository: string; manifestDigest: string };
}

/**
 * The engine's image store on the data partition: under `docker/image`, which the 1.x -> 2.x
 * migration removes with the 1.x images. The init script (images/device-files/rootfs/etc/rc.d/
 * S80demo-app) reads the same paths.
 */
export const APP_STORE = '/mnt/data/docker/image/apps';

/** The files of an application's folder and of each installed release. */
export const APP_FILES = {
  /** Names the release the init script starts (one line); written last, by rename. */
  current: 'current',
  /** The application's code, at the image layer's root. */
  code: 'app.mjs',
  /** Its sha256 (`sha256sum`'s line): the init script starts only code that hashes to it. */
  codeSha256: 'app.mjs.sha256',
  /** The image's release record ({appId, name, release}). */
  release: 'app-release.json',
} as const;

/** The config labels an application image carries; the supervisor checks them against the API's answer. */
export const APP_LABELS = {
  appId: 'io.balena.app-id',
  release: 'io.balena.app-release',
} as const;

/** The init script that starts and stops the application. */
export const APP_INIT_SCRIPT = '/etc/rc.d/S80demo-app';

/** What the init script prints when the store holds no usable image of the application. */
export const APP_NO_IMAGE = 'demo-app: no image of the application on this device; the supervisor fetches it';

/** The agent's log lines about the application (AGENT_FILES.log), read by the migration's verdict. */
export const APP_LOG = {
  pulling: (app: ApplicationRelease, why: string) =>
    `application ${app.name} release ${app.release}: ${why}; pulling ${app.image.repository}@${app.image.manifestDigest}`,
  started: (app: ApplicationRelease, registry: string) =>
    `application ${app.name} release ${app.release} installed from ${registry} and started`,
} as const;

/** The regular expression that finds APP_LOG.started for `name` in the agent's log file. */
export function appStartedPattern(name: string): RegExp {
  // The agent's log starts each line with its time.
  return new RegExp(`^(?:\\S+ )?application ${name} release \\S+ installed from \\S+ and started$`, 'm');
}
