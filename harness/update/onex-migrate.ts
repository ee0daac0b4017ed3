/**
 * The resinOS 1.x -> 2.x migration on a running 1.x device: the migration's bundle handed over
 * SSH and run (updater/onex/migrate-main.ts), started again after the reboot when it moved the
 * device off the spare root first (the field's operator did the same), the device followed into
 * 2.x, and what the verdict needs collected: the data's checksums before and after, the keyfiles,
 * the layout, the application, and what the API saw.
 */
import { APP_FILES, APP_NO_IMAGE, APP_STORE, appStartedPattern, DEMO_APP } from '../../lib/contract/application.ts';
import { AGENT_FILES } from '../../lib/contract/fleet.ts';
import {
  ONEX_MIGRATE_PATH,
  ONEX_SWITCHED_ROOT,
  onexMigrateCommand,
  parseOnexChecks,
  SYSTEM_CONNECTIONS,
} from '../../lib/contract/onex.ts';
import { findFailedStep, parseStepLines, stepLine, type StepMarker } from '../../lib/contract/steps.ts';
import { escapeRegExp } from '../../lib/contract/regex.ts';
import { HuplabError } from '../../lib/errors.ts';
import { probeFilesystem, PROBE_BYTES } from '../../lib/partition/probe.ts';
import { silentNarrator, type Narrator } from '../../lib/narrator.ts';
import type { UpdateBackend } from '../backend/update-backend.ts';
import type { DeviceDriver } from '../driver/driver.ts';
import { fetchProgress } from './api-progress.ts';
import type { ApiProgressEntry } from './types.ts';

/** The application's data as the 2.x side must find it: md5 of every file, by path. */
export type DataSums = Record<string, string>;

export interface OnexDeviceFacts {
  version: string;
  /** The root label the kernel was booted with (root=LABEL=...). */
  rootLabel: string;
  /** Filesystem label of each partition of the disk, by number. */
  labels: Record<string, string>;
  data: DataSums;
  /** NetworkManager keyfiles on the boot partition, by name. */
  keyfiles: Record<string, string>;
  /** The application's process is running. */
  appRunning: boolean;
  /** The release the engine's store names current ('' when it holds none). */
  appRelease: string;
  /** The supervisor's log says it installed and started the application (APP_LOG.started). */
  appFetched: boolean;
  /** Container records and images on the data partition (1.x's stand-ins). */
  containers: number;
  /** config.json's ConnMan settings (files["network/network.config"]), if any. */
  configNetwork?: string;
  /** WiFi Connect's network.config in the application's data, if any. */
  wifiConnect?: string;
}

export interface MigrationRun {
  exitCode: number | null;
  output: string;
  steps: StepMarker[];
  failedStep?: string;
  failure?: string;
  refused?: { code: string; message: string };
}

export interface MigrationOutcome {
  to: string;
  /** Each run of the migration; two when the first moved the device off the spare root. */
  runs: MigrationRun[];
  /** The first run moved the device off the spare root and rebooted it. */
  switchedRoot: boolean;
  before: OnexDeviceFacts;
  /** After the reboot into 2.x (undefined when the migration did not reach it). */
  after?: OnexDeviceFacts;
  /** The first 2.x boot's init script said the store held no image of the application. */
  firstBootWithoutApp?: boolean;
  progress: ApiProgressEntry[];
  seconds: { migration: number; toFirstBoot: number };
}

/** The files the migration is not asked to keep: the 1.x supervisor's folder, removed as in the field. */
const NOT_KEPT = './resin-supervisor/';

/** The facts of a running device, 1.x or 2.x, through one SSH session. */
export async function onexFacts(device: DeviceDriver): Promise<OnexDeviceFacts> {
  const ssh = await device.ssh();
  const script = [
    'echo "version $(. /etc/os-release; echo $VERSION)"',
    'echo "root $(sed -n "s/.*root=LABEL=\\([^ ]*\\).*/\\1/p" /proc/cmdline)"',
    'root=$(grep " / " /proc/mounts | tail -1 | cut -d" " -f1); dev=$(basename $(readlink -f $root))',
    'disk=$(basename $(readlink -f /sys/class/block/$dev/..))',
    // Each partition's first bytes: the label is read here, from the filesystem itself (vfat or ext4).
    `for p in /sys/class/block/$disk/$disk*; do echo "head $(cat $p/partition) $(dd if=/dev/$(basename $p) bs=${PROBE_BYTES} count=1 2>/dev/null | base64 -w0)"; done`,
    '(cd /mnt/data/resin-data 2>/dev/null && find . -type f | sort | while read f; do echo "data $(md5sum < "$f" | cut -d" " -f1) $f"; done)',
    `for f in ${SYSTEM_CONNECTIONS}/*; do [ -f "$f" ] && echo "keyfile $(basename $f) $(base64 -w0 < $f)"; done`,
    `service status ${DEMO_APP.name} >/dev/null 2>&1 && echo "app running" || echo "app stopped"`,
    'echo "containers $(ls /mnt/data/docker/containers 2>/dev/null | wc -l)"',
    `echo "appstore $(cat ${APP_STORE}/${DEMO_APP.appId}/${APP_FILES.current} 2>/dev/null)"`,
    `echo "agentlog $(tail -n 200 ${AGENT_FILES.log} 2>/dev/null | base64 -w0)"`,
    'echo "config $(base64 -w0 < /mnt/boot/config.json)"',
    'for f in /mnt/data/resin-data/*/network.config; do [ -f "$f" ] && echo "wificonnect $(base64 -w0 < $f)" && break; done',
    'true',
  ].join('; ');
  const out = await ssh.execOk(script, { timeoutMs: 120_000 });
  const facts: OnexDeviceFacts = {
    version: '',
    rootLabel: '',
    labels: {},
    data: {},
    keyfiles: {},
    appRunning: false,
    appRelease: '',
    appFetched: false,
    containers: 0,
  };
  for (const line of out.split('\n')) {
    const [kind, a = '', ...rest] = line.split(' ');
    const b = rest.join(' ');
    if (kind === 'version') facts.version = a;
    else if (kind === 'root') facts.rootLabel = a;
    else if (kind === 'head') facts.labels[a] = probeFilesystem(Buffer.from(b, 'base64'))?.label ?? '-';
    else if (kind === 'data' && !b.startsWith(NOT_KEPT)) facts.data[b] = a;
    else if (kind === 'keyfile') facts.keyfiles[a] = Buffer.from(b, 'base64').toString('utf8');
    else if (kind === 'app') facts.appRunning = a === 'running';
    else if (kind === 'containers') facts.containers = Number(a);
    else if (kind === 'appstore') facts.appRelease = a;
    else if (kind === 'agentlog')
      facts.appFetched = appStartedPattern(DEMO_APP.name).test(Buffer.from(a, 'base64').toString('utf8'));
    else if (kind === 'config') {
      const config = JSON.parse(Buffer.from(a, 'base64').toString('utf8')) as { files?: Record<string, string> };
      const network = config.files?.['network/network.config'];
      if (network) facts.configNetwork = network;
    } else if (kind === 'wificonnect') facts.wifiConnect = Buffer.from(a, 'base64').toString('utf8');
  }
  return facts;
}

/** One run of the installed migration over SSH, until it exits (it reboots the device 2 s later). */
async function runOnce(device: DeviceDriver, to: string, dataLimit: number | undefined): Promise<MigrationRun> {
  const ssh = await device.ssh();
  const mark = device.console.mark();
  const r = await ssh.exec(onexMigrateCommand({ to, ...(dataLimit !== undefined ? { dataLimit } : {}) }), {
    timeoutMs: 25 * 60_000,
  });
  let output = r.stdout + r.stderr;
  let code = r.code ?? null;
  if (code === null) {
    // The session was lost with the migration still running (a TCG Pi writing its SD card can
    // leave SSH unanswered long enough): the migration goes on by itself; it is followed on the
    // console, where each step marker also goes, to its last step or its failure.
    const end = await device.console.expect(
      new RegExp(`${escapeRegExp(stepLine('reboot', 'done'))}|\\[hup\\] step \\S+ failed`),
      {
        since: mark,
        timeoutMs: 25 * 60_000,
        what: 'the end of the migration on the console',
      },
    );
    output = `${output}\n${device.console.text(mark)}`;
    code = end.match.includes('failed') ? 1 : 0;
  }
  const failed = findFailedStep(output);
  const refused = parseOnexChecks(output).refused;
  return {
    exitCode: code,
    output,
    steps: parseStepLines(output),
    ...(failed ? { failedStep: failed.step, failure: failed.why } : {}),
    ...(refused ? { refused } : {}),
  };
}

/**
 * Migrates a running 1.x device to `to`: runs the migration (twice when the device was on the
 * spare root), follows the reboot into 2.x, and collects the facts on both sides.
 */
export async function migrateDevice(opts: {
  device: DeviceDriver;
  backend: UpdateBackend;
  to: string;
  uuid: string;
  narrator?: Narrator;
  /** The compressed /data limit (default: the field's 170 MB). */
  dataLimit?: number;
}): Promise<MigrationOutcome> {
  const narrator = opts.narrator ?? silentNarrator;
  const { device, backend } = opts;
  const bundle = backend.migration?.updater;
  if (!bundle)
    throw new HuplabError('backend-invalid', 'this backend serves no 1.x -> 2.x migration', {
      hint: 'start it with startUpdateBackend({ migration: ... })',
    });
  const before = await narrator.step('read the 1.x device (data checksums, layout)', () => onexFacts(device));
  const started = Date.now();
  const runs: MigrationRun[] = [];
  let switchedRoot = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    await (await device.ssh()).putFile(bundle.path, ONEX_MIGRATE_PATH);
    const mark = device.console.mark();
    const r = await narrator.step(`run the 1.x -> 2.x migration to ${opts.to}`, () =>
      runOnce(device, opts.to, opts.dataLimit),
    );
    runs.push(r);
    if (r.exitCode === 0 && r.output.includes(ONEX_SWITCHED_ROOT) && attempt === 0) {
      switchedRoot = true;
      await narrator.step('follow the reboot onto the main root', () =>
        device.waitForOs({ since: mark, timeoutMs: 240_000 }),
      );
      continue;
    }
    const migration = (Date.now() - started) / 1000;
    let after: OnexDeviceFacts | undefined;
    let firstBootWithoutApp: boolean | undefined;
    if (r.exitCode === 0) {
      await narrator.step('follow the reboot into 2.x', () => device.waitForOs({ since: mark, timeoutMs: 300_000 }));
      firstBootWithoutApp = device.console.text(mark).includes(APP_NO_IMAGE);
      after = await narrator.step('read the 2.x device once the supervisor has fetched the application', () =>
        waitForApplication(device),
      );
    }
    return {
      to: opts.to,
      runs,
      switchedRoot,
      before,
      ...(after ? { after } : {}),
      ...(firstBootWithoutApp !== undefined ? { firstBootWithoutApp } : {}),
      progress: await fetchProgress(backend, opts.uuid),
      seconds: { migration, toFirstBoot: (Date.now() - started) / 1000 },
    };
  }
  throw new HuplabError('migration-looped', 'the migration moved the device off the spare root twice');
}

/**
 * The 2.x device's facts once the supervisor has fetched the application again and it runs (or
 * after four minutes, as it is): the agent starts some seconds into the boot, beats every five.
 */
export async function waitForApplication(device: DeviceDriver): Promise<OnexDeviceFacts> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const facts = await onexFacts(device);
    if ((facts.appRunning && facts.appFetched) || Date.now() > deadline) return facts;
    await new Promise((r) => setTimeout(r, 3_000));
  }
}
