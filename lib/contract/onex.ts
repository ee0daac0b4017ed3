/**
 * What the resinOS 1.x update paths print and report, defined once for the device and the
 * harness: the field's words (balenahup's run-resinhup.sh and upgrade-1.x-to-2.x.sh, resinhup's
 * fingerprint module), where their logs go, and the refusals of their checks.
 */
import { FIELD_BOOT_KEPT } from '../fingerprint.ts';

/** The 1.x -> 1.x log, as the field's wrapper kept it (on the data partition, survives reboots). */
export const ONEX_LOG = '/mnt/data/resinhup/run-resinhup.sh.log';

/** The 1.x -> 2.x log of the field: in /tmp, lost at the reboot (`<YYYYmmdd_HHMMSS>`). */
export const ONEX_TO_2X_LOG_PREFIX = '/tmp/upgrade-1.x-to-2.x.sh.';

/** resinhup's line for a listed file whose md5 changed; one line per file. */
export const FINGERPRINT_FAILED = 'Fingerprint failed for: ';

export function fingerprintFailedLine(path: string): string {
  return `${FINGERPRINT_FAILED}${path}`;
}

/** The files named by fingerprint failure lines in an updater's output, in order. */
export function parseFingerprintFailures(output: string): string[] {
  const files: string[] = [];
  for (const line of output.split('\n')) {
    const i = line.indexOf(FINGERPRINT_FAILED);
    const path = i < 0 ? '' : line.slice(i + FINGERPRINT_FAILED.length).trim();
    if (path) files.push(path);
  }
  return files;
}

/** The refusal codes of the 1.x checks (the harness's faults expect them by name). */
export const ONEX_REFUSALS = {
  rootModified: 'root-modified',
  noFingerprint: 'fingerprint-missing',
  dataOverLimit: 'data-over-limit',
  onSecondaryRoot: 'on-secondary-root',
} as const;

/** The message of a data-over-limit refusal, and the numbers back out of it. */
export function dataOverLimitMessage(bytes: number, limit: number): string {
  return `the compressed /data backup would be ${bytes} bytes, over the ${limit}-byte room on the spare root; nothing was changed`;
}

const DATA_OVER = /compressed \/data backup would be (\d+) bytes, over the (\d+)-byte room/;

export function parseDataOverLimit(message: string): { bytes: number; limit: number } | undefined {
  const m = DATA_OVER.exec(message);
  return m ? { bytes: Number(m[1]), limit: Number(m[2]) } : undefined;
}

/** The field's progress messages, with their percentages, for the API. */
export const ONEX_PROGRESS = {
  preparing: { percent: 10, message: 'ResinOS: Preparing update...' },
  supervisor: { percent: 25, message: 'ResinOS: Preparing supervisor...' },
  preparing2: { percent: 50, message: 'ResinOS: Preparing update...' },
  running: { percent: 70, message: 'ResinOS: Running updater...' },
  finalizing: { percent: 90, message: 'ResinOS: Finalizing update...' },
  done: { percent: 100, message: 'ResinOS: Done. Rebooting...' },
  /** Done under --no-reboot: the new OS starts at the next reboot, whoever makes it. */
  doneNoReboot: { percent: 100, message: 'ResinOS: Done. The new OS starts at the next reboot.' },
  /** Nothing to do (the field then rebooted anyway; nothing changed, so this one does not). */
  alreadyUpdated: { percent: 100, message: 'ResinOS: Already updated.' },
  failed: { percent: 100, message: 'ResinOS: Update failed.' },
} as const;

export const ONEX_TO_2X_PROGRESS = {
  preparing: { percent: 5, message: 'Preparing OS update' },
  switching: { percent: 10, message: 'Switching partitions' },
  rebootingSwitch: { percent: 15, message: 'Rebooting from new partition' },
  preparing2: { percent: 25, message: 'Preparing OS update' },
  downloading: { percent: 50, message: 'Downloading OS update' },
  processing: { percent: 60, message: 'Processing OS update package' },
  running: { percent: 75, message: 'Running OS update' },
  done: { percent: 100, message: 'Update successful, rebooting' },
  failed: { percent: 100, message: 'OS update failed' },
} as const;

/** A check of the 1.x updates that passed: `[hup-1x] check NAME ok: detail`. */
export function onexCheckLine(name: string, detail: string): string {
  return `[hup-1x] check ${name} ok: ${detail}`;
}

/** A refusal of the 1.x updates' checks: `[hup-1x] refused CODE: message`. */
export function onexRefusedLine(code: string, message: string): string {
  return `[hup-1x] refused ${code}: ${message.replace(/\s*\n\s*/g, ' ')}`;
}

/** At the start of a line, or after the time stamp of a log line. */
const ONEX_LINE = /^(?:\d{4}-\d\d-\d\dT[\d:.]+Z )?\[hup-1x\] (check (\S+) ok|refused (\S+)): (.*)$/;

/** The 1.x checks' lines in an output: each passed check and the refusal, if any. */
export function parseOnexChecks(output: string): {
  passed: Array<{ name: string; detail: string }>;
  refused?: { code: string; message: string };
} {
  const passed: Array<{ name: string; detail: string }> = [];
  let refused: { code: string; message: string } | undefined;
  for (const line of output.split('\n')) {
    const m = ONEX_LINE.exec(line.trim());
    if (!m) continue;
    if (m[2]) passed.push({ name: m[2], detail: m[4]! });
    else refused = { code: m[3]!, message: m[4]! };
  }
  return refused ? { passed, refused } : { passed };
}

/** Where the harness (or an operator) puts the 1.x checks' bundle on the device: RAM, as the updaters. */
export const ONEX_CHECKS_PATH = '/tmp/hup-1x-checks.mjs';

/** The 1.x checks' command line: `/usr/bin/node /tmp/hup-1x-checks.mjs --method M [--data-limit N]`. */
export function onexChecksCommand(o: { method: '1.x' | '1.x-to-2.x'; dataLimit?: number }): string {
  return [
    '/usr/bin/node',
    ONEX_CHECKS_PATH,
    '--method',
    o.method,
    ...(o.dataLimit !== undefined ? ['--data-limit', String(Math.floor(o.dataLimit))] : []),
  ].join(' ');
}

/**
 * The 1.x -> 1.x update (the field's run-resinhup.sh and its resinhup image): where the harness
 * (or an operator) puts the updater, where it puts the tools it fetches, its exit statuses, its
 * steps, and what it keeps of the running root.
 */
export const ONEX_UPDATE_PATHS = {
  /** The updater itself, in RAM as the other updaters. */
  updater: '/tmp/hup-1x.mjs',
  /** The updater tools (the field's resinhup), fetched from the API as an artifact of their own. */
  tools: '/tmp/resinhup/resinhup.mjs',
  /** The download of the new OS, on the data partition (the field exported it to /tmp/resinhup). */
  cache: '/mnt/data/resinhup/cache',
} as const;

/** The name the API serves the updater tools under (GET /v1/takeover lists it with its sha256). */
export const ONEX_TOOLS_ARTIFACT = 'resinhup';

/**
 * The statuses of the updater and of its tools, as in the field: 3 is "already updated" (the
 * device runs the target or a newer release), 2 an intermediate step that needs a reboot and a
 * second run in the field (resinhup's boot partition growth, which this line never needs: its
 * boot partition is 40 MiB from the start), so 2 is a usage error here, as for the other
 * updaters; 75 the lock held.
 */
export const ONEX_EXIT = { ok: 0, failed: 1, usage: 2, alreadyUpdated: 3, locked: 75 } as const;

/** The updater's own steps, in order (`[hup] step NAME ...`); `resinhup` runs the tools' steps. */
export type OnexUpdateStep = (typeof ONEX_UPDATE_STEPS)[number];
export const ONEX_UPDATE_STEPS = [
  'checks',
  'stop-services',
  'supervisor-check',
  'fetch-tools',
  'resinhup',
  'supervisor-update',
  'reboot',
] as const;

/** The tools' steps, in order, printed between the updater's `resinhup` start and done. */
export type OnexToolStep = (typeof ONEX_TOOL_STEPS)[number];
export const ONEX_TOOL_STEPS = [
  'fingerprint',
  'fetch',
  'write-root',
  'keep-files',
  'boot-files',
  'config-json',
  'bootloader-switch',
] as const;

/**
 * What the new root keeps of the running one (the field's list): the machine id, the SSH host
 * key (here under /mnt/state, the 1.x root's stand-in for the 2.x state partition), the
 * supervisor's configuration (the OS's and the agent's choice), ConnMan's state.
 */
export const ONEX_KEPT_PATHS = [
  '/etc/machine-id',
  '/mnt/state/root-overlay/etc/dropbear',
  '/etc/supervisor.conf',
  '/mnt/state/supervisor.conf',
  '/var/lib/connman',
] as const;

/** The field's quirks: files of the running root that the new root takes over as they are. */
export const ONEX_QUIRKS = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'] as const;

/**
 * Boot files the update never replaces: those the fingerprint check leaves out (the field's list,
 * config.json, the env files, which only the switch writes), and U-Boot's env.
 */
export const ONEX_BOOT_IGNORED = [...FIELD_BOOT_KEPT, '/uboot.env'] as const;

/** What a changed text file of the boot partition is saved as before it is replaced. */
export const HUP_OLD_SUFFIX = '.hup.old';

/** The updater's command line: `/usr/bin/node /tmp/hup-1x.mjs --hostos-version X [--no-reboot]`. */
export function onexUpdateCommand(o: { hostosVersion: string; noReboot?: boolean }): string {
  if (!/^[A-Za-z0-9._+-]+$/.test(o.hostosVersion)) throw new Error(`not a version: ${o.hostosVersion}`);
  return [
    '/usr/bin/node',
    ONEX_UPDATE_PATHS.updater,
    '--hostos-version',
    o.hostosVersion,
    ...(o.noReboot ? ['--no-reboot'] : []),
  ].join(' ');
}

/** What the updater's first log line starts with: one per run in the log. */
export const ONEX_START = 'huplab 1.x update: ';

/** The updater's first log line, which says which run the following lines are. */
export function onexStartLine(o: { from: string; to: string; uuid: string; deviceType: string }): string {
  return `${ONEX_START}${o.from} -> ${o.to} on ${o.uuid} (${o.deviceType})`;
}

/** Whether a log's text has the start of the run from `from` to `to`. */
export function hasOnexStart(log: string, from: string, to: string): boolean {
  return log.includes(`${ONEX_START}${from} -> ${to} on `);
}

/** The wrapper's "Update failed after N seconds" line (the field's words), and N back out of it. */
export function onexFailedAfterLine(seconds: number): string {
  return `Update failed after ${Math.round(seconds)} seconds. Check the logs.`;
}

/**
 * The 1.x -> 2.x migration's steps, in order, each between `[hup] step NAME start|done` markers
 * (lib/contract/steps.ts) as the 2.x updaters' are: the harness times them and the power-cut
 * campaign aims at them. The size of /data is checked before anything is touched; `root-check`
 * is where a device on the spare root is moved back; nothing is written to the disk's layout
 * before `repartition`, and the old root keeps its 1.x label (and boots) until
 * `bootloader-switch`.
 */
export const ONEX_MIGRATE_STEPS = [
  'checks',
  'data-check',
  'root-check',
  'tools',
  'stop-services',
  'backup',
  'repartition',
  'fetch',
  'write-root',
  'restore-data',
  'network',
  'supervisor',
  'boot-files',
  'bootloader-switch',
  'reboot',
] as const;
export type OnexMigrateStep = (typeof ONEX_MIGRATE_STEPS)[number];

/**
 * The field's progress at each step's start (upgrade-1.x-to-2.x.sh): 5 while checking, 25 once
 * on the main root, 50 downloading, 60 processing, 75 running; the switch of roots (10, 15) and
 * the end (100) are reported by the steps themselves.
 */
export const ONEX_MIGRATE_MILESTONES: Partial<Record<OnexMigrateStep, { percent: number; message: string }>> = {
  checks: ONEX_TO_2X_PROGRESS.preparing,
  tools: ONEX_TO_2X_PROGRESS.preparing2,
  fetch: ONEX_TO_2X_PROGRESS.downloading,
  'write-root': ONEX_TO_2X_PROGRESS.processing,
  'restore-data': ONEX_TO_2X_PROGRESS.running,
};

/**
 * The migration's line when it moved a device off the spare root and rebooted it: the field's
 * script exits 0 there and the update is started again once the device is back (the harness
 * does, as the field's operator did).
 */
export const ONEX_SWITCHED_ROOT = '[hup-1x] moved to the main root resin-root; rebooting: run the update again';

/** Where the harness puts the migration's bundle on the device (RAM: /data goes away during it). */
export const ONEX_MIGRATE_PATH = '/tmp/upgrade-1.x-to-2.x.mjs';

/** The field's log of the migration: `/tmp/upgrade-1.x-to-2.x.sh.<YYYYmmdd_HHMMSS>.log`, lost at the reboot. */
export const ONEX_TO_2X_LOG_RE = /^upgrade-1\.x-to-2\.x\.sh\.\d{8}_\d{6}\.log$/;

/** The migration's extra tool (served by the API's tool list, checked against its sha256). */
export const ONEX_TOOL = 'blkpg-part';

/** Where the migration puts the NetworkManager keyfiles: the boot partition, read by 2.x at boot. */
export const SYSTEM_CONNECTIONS = '/mnt/boot/system-connections';

/** The migration's command line: `/usr/bin/node /tmp/upgrade-1.x-to-2.x.mjs --hostos-version V [--no-reboot]`. */
export function onexMigrateCommand(o: { to: string; noReboot?: boolean; dataLimit?: number }): string {
  return [
    '/usr/bin/node',
    ONEX_MIGRATE_PATH,
    '--hostos-version',
    o.to,
    ...(o.noReboot ? ['--no-reboot'] : []),
    ...(o.dataLimit !== undefined ? ['--data-limit', String(Math.floor(o.dataLimit))] : []),
  ].join(' ');
}
