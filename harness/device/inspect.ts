import type { DeviceDriver } from '../driver/driver.ts';
import {
  BOOTLOADER_DESCRIPTION_PATH,
  DEFAULT_BOOTLOADER,
  bootloaderDescription,
  decodeBootEnv,
  parseBootloaderDescription,
  type BootEnvFiles,
  type BootloaderDescription,
  type BootloaderProfile,
} from '../../lib/bootenv/index.ts';
import type { DeviceSsh } from '../ssh/client.ts';
import { BOOT_FILES_DIR, COPY_IF_ABSENT, KEPT_BACK } from '../../lib/boot-files.ts';
import {
  parseOsReleaseVariant,
  parseSupervisorConf,
  parseSupervisorRunState,
  SUPERVISOR_CHOICE,
  SUPERVISOR_RUN_STATE,
  type Variant,
} from '../../lib/contract/index.ts';

/** What a running device reports about itself: the facts suites and reports assert on. */
export interface DeviceFacts {
  version: string;
  /** The OS variant its /etc/os-release declares (VARIANT_ID); absent when it names none. */
  variant?: Variant;
  /** Label of the root filesystem mounted at /. */
  root: string;
  /** The root the kernel was told to mount (from the bootloader). */
  cmdlineRoot: string;
  bootEnv: Record<string, string>;
  appRecords: number;
  lastRecord: string;
  /** The running supervisor's version, as it reports itself; '' when it has not reported. */
  supervisorVersion: string;
  /** The supervisor that reported runs now: its service is up and the process that wrote the report is alive. */
  supervisorRunning: boolean;
  /** The state partition's supervisor choice (what an updater installed); '' when there is none. */
  supervisorChoice: string;
  /** Boot partition files that differ from the ones the running OS ships (kept-back ones aside). */
  bootFilesMismatch: string[];
}

export interface InspectOptions {
  /** The device's bootloader, to decode its env files with. */
  bootloader?: BootloaderDescription;
  /** Or the profile it is built from (used when `bootloader` is not given). */
  profile?: BootloaderProfile;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Without a profile: the description the image carries, as the updater reads it; an image
 * without one is a generic-amd64 GRUB image.
 */
async function deviceBootloader(ssh: DeviceSsh, opts: InspectOptions): Promise<BootloaderDescription> {
  if (opts.bootloader) return opts.bootloader;
  if (opts.profile) return bootloaderDescription(opts.profile);
  const r = await ssh.exec(`cat ${BOOTLOADER_DESCRIPTION_PATH}`);
  return r.code === 0
    ? parseBootloaderDescription(r.stdout, `device ${BOOTLOADER_DESCRIPTION_PATH}`)
    : (structuredClone(DEFAULT_BOOTLOADER) as BootloaderDescription);
}

/** The logical boot env (resin_root_part A|B whatever the bootloader); undefined if the env file cannot be read. */
async function readDeviceBootEnv(
  ssh: DeviceSsh,
  desc: BootloaderDescription,
): Promise<Record<string, string> | undefined> {
  const env = await ssh.exec(`cat ${quote(`/mnt/boot${desc.envFile}`)}`);
  if (env.code !== 0) return undefined;
  // The files are text (name=value lines, or a grubenv block of them): exact through UTF-8.
  const files: BootEnvFiles = { env: Buffer.from(env.stdout, 'utf8') };
  if (desc.countFile !== undefined) {
    const count = await ssh.exec(`cat ${quote(`/mnt/boot${desc.countFile}`)}`);
    if (count.code === 0) files.count = Buffer.from(count.stdout, 'utf8');
  }
  return decodeBootEnv(desc, files) as Record<string, string>;
}

/** The device's boot env as the updater sees it (resin_root_part A|B), whatever its bootloader. */
export async function readLogicalBootEnv(device: DeviceDriver): Promise<Record<string, string>> {
  const ssh = await device.ssh();
  return (await readDeviceBootEnv(ssh, await deviceBootloader(ssh, {}))) ?? {};
}

const OS_RELEASE = 'cat /etc/os-release';
const osVersion = (osRelease: string) => /^VERSION="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? '';

/**
 * The release the device runs now (its /etc/os-release), asked within `timeoutMs`; undefined
 * when it does not answer in time. What was flashed says nothing after an update.
 */
export async function runningVersion(device: DeviceDriver, timeoutMs = 5_000): Promise<string | undefined> {
  try {
    const ssh = await device.ssh();
    const r = await ssh.exec(OS_RELEASE, { timeoutMs, connectTimeoutMs: timeoutMs });
    return r.code === 0 ? osVersion(r.stdout) || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** The variant the device runs now (its /etc/os-release); undefined when it names none. */
export async function runningVariant(device: DeviceDriver): Promise<Variant | undefined> {
  const ssh = await device.ssh();
  return parseOsReleaseVariant(await ssh.execOk(OS_RELEASE));
}

export async function inspectDevice(device: DeviceDriver, opts: InspectOptions = {}): Promise<DeviceFacts> {
  const ssh = await device.ssh();
  const run = (cmd: string) => ssh.execOk(cmd).then((s) => s.trim());
  const osRelease = await run(OS_RELEASE);
  const version = osVersion(osRelease);
  const variant = parseOsReleaseVariant(osRelease);
  // Which labelled partition is mounted at /: busybox has findfs but no blkid, so resolve each
  // root label to its device and compare with the mounted one.
  const rootDev = await run('awk \'$2 == "/" && $1 ~ /^\\/dev\\// { print $1 }\' /proc/mounts | tail -n 1');
  const labels = await run('for l in resin-rootA resin-rootB; do echo "$l $(findfs LABEL=$l 2>/dev/null)"; done');
  const root =
    labels
      .split('\n')
      .map((l) => l.split(' '))
      .find(([, dev]) => dev === rootDev)?.[0] ?? '';
  const cmdlineRoot = /root=LABEL=(\S+)/.exec(await run('cat /proc/cmdline'))?.[1] ?? '';
  // A garbled env (a fault, a power cut) is a fact to report, not a reason to fail the inspection.
  let bootEnv: Record<string, string> = {};
  try {
    bootEnv = (await readDeviceBootEnv(ssh, await deviceBootloader(ssh, opts))) ?? {};
  } catch (err) {
    bootEnv = { unreadable: (err as Error).message };
  }
  const records = await ssh.exec('wc -l < /mnt/data/demo-app/records.log; tail -n 1 /mnt/data/demo-app/records.log');
  const [count, last] = records.stdout.trim().split('\n');
  const { supervisorVersion, supervisorRunning, supervisorChoice } = await supervisorFacts(ssh);
  const skip = [...KEPT_BACK, ...COPY_IF_ABSENT].map((p) => `.${p}`).join('|');
  const mismatch = await ssh.exec(
    `cd ${BOOT_FILES_DIR} && find . -type f | while read -r f; do case "$f" in ${skip}) continue ;; esac; cmp -s "$f" "/mnt/boot/$f" || echo "\${f#./}"; done`,
  );
  const bootFilesMismatch =
    mismatch.code === 0
      ? mismatch.stdout.trim().split('\n').filter(Boolean)
      : [`(cannot compare: ${mismatch.stderr.trim()})`];
  return {
    version,
    ...(variant ? { variant } : {}),
    root,
    cmdlineRoot,
    bootEnv,
    appRecords: Number(count ?? 0),
    lastRecord: last ?? '',
    supervisorVersion,
    supervisorRunning,
    supervisorChoice,
    bootFilesMismatch,
  };
}

/**
 * Which supervisor the device runs, and which one the state partition chose: asked of the
 * running supervisor itself, not of the OS's supervisor.conf (an update changes that with the
 * root switch alone, whether or not a supervisor was installed). Its report outlives it (a
 * stopped supervisor leaves its last one), so it runs only when the process that wrote the report
 * is alive and its service is up. A supervisor that has just (re)started may not have reported
 * yet: it is given a few seconds.
 */
async function supervisorFacts(
  ssh: DeviceSsh,
): Promise<{ supervisorVersion: string; supervisorRunning: boolean; supervisorChoice: string }> {
  const alive = `pid=$(sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p' ${SUPERVISOR_RUN_STATE} 2>/dev/null); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null`;
  const r = await ssh.exec(
    `i=0; until ${alive} || [ $i -ge 10 ]; do sleep 1; i=$((i+1)); done; cat ${SUPERVISOR_RUN_STATE} 2>/dev/null; echo; echo ${SEPARATOR}; cat ${SUPERVISOR_CHOICE} 2>/dev/null; echo; echo ${SEPARATOR}; ${alive} && service status balena-supervisor`,
  );
  const [state = '', choice = '', running = ''] = r.stdout.split(`${SEPARATOR}\n`);
  return {
    supervisorVersion: parseSupervisorRunState(state.trim())?.version ?? '',
    supervisorRunning: running.trim() === 'running',
    supervisorChoice: parseSupervisorConf(choice) ?? '',
  };
}

const SEPARATOR = '--- supervisor choice ---';
