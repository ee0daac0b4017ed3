/**
 * The resinOS 1.x -> 2.x migration, run on a 1.x device (bundled to one file and delivered over
 * SSH, as the field delivered upgrade-1.x-to-2.x.sh): the field's steps, each between step
 * markers (lib/contract/onex.ts), with the field's progress at the API. See README "The 1.x ->
 * 2.x migration" for what a failure or a power cut at each step leaves.
 *
 * Exit 0: migrated and rebooting (or, on the spare root, moved back to the main root and
 * rebooting: run it again); 1: failed; 2: usage; 75: another update holds the lock.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { UPDATER_EXIT } from '../../lib/contract/exit-codes.ts';
import {
  ONEX_MIGRATE_MILESTONES,
  onexCheckLine,
  onexRefusedLine,
  ONEX_MIGRATE_STEPS,
  ONEX_SWITCHED_ROOT,
  ONEX_TO_2X_LOG_PREFIX,
  ONEX_TO_2X_PROGRESS,
  ONEX_TOOL,
  SYSTEM_CONNECTIONS,
  type OnexMigrateStep,
} from '../../lib/contract/onex.ts';
import { fetchDetail } from '../../lib/contract/download-detail.ts';
import { BOOTLOADER_DESCRIPTION_PATH } from '../../lib/bootenv/index.ts';
import { applyLayer } from '../../lib/delta/index.ts';
import { atomicWriteFile } from '../../lib/fat/atomic-write.ts';
import { keyfilesFor1x } from '../../lib/nm-keyfiles.ts';
import { downloadVerified } from '../../lib/oci/download.ts';
import { migrationPlan, type MigrationPlan } from '../../lib/partition/migrate-1x.ts';
import { DATA_BACKUP_LIMIT_BYTES, LAYOUT_2X } from '../../lib/partition/resin-1x.ts';
import { compareVersions } from '../../lib/versions.ts';
import { installBootFiles } from '../common/bootfiles.ts';
import { loadBootloaderDescription, updateBootEnv } from '../common/bootenv.ts';
import { readDeviceConfig, readOsInfo, type DeviceConfig, type OsInfo } from '../common/config.ts';
import { reexecUnderUpdateLock } from '../common/exclusive.ts';
import { mountedRootDevice } from '../common/partitions.ts';
import { findTargetImage, registriesOf, registryClient } from '../common/registry.ts';
import { run } from '../common/run.ts';
import { runSteps, type UpdateStep } from '../common/step-runner.ts';
import { checkDataBackup } from './checks.ts';
import { MigrationLog } from './migrate-log.ts';
import { ProgressReporter } from '../common/progress.ts';
import { applyPhase, diskOf, diskSectors, readTable } from './repartition.ts';
import { ONEX_SERVICES, remove1xContainers, startServices, stopServices } from './services.ts';
import { apiJson, authHeaders } from './release.ts';

/** The field's bounds: sources from 1.8.0, targets from 2.2.0+rev1 (no maximum). */
const MIN_SOURCE = '1.8.0';
const MIN_TARGET = '2.2.0+rev1';
const SPARE = '/run/onex/spare';
const NEW_ROOT = '/run/onex/rootB';
const STATE = '/run/onex/state';
const TOOLS = '/run/onex/tools';
const BACKUP = 'resin-data.tar.gz';
/** Where dropbear's host key lives under the state folder (1.x) or partition (2.x). */
const HOST_KEY_DIR = 'root-overlay/etc/dropbear';
const WORK = '/mnt/data/balenahup/cache';
const KERNEL_ARCH: Record<string, string> = { aarch64: 'arm64', x86_64: 'amd64', armv7l: 'armhf' };
/** The programs the migration runs besides its tool: a 1.x image has them (e2fsprogs, busybox). */
const NEEDED = ['mke2fs', 'resize2fs', 'e2label', 'tar', 'dd', 'sync'];

interface Args {
  hostosVersion: string;
  noReboot: boolean;
  dataLimit: number;
}

interface Release {
  version: string;
  supervisorVersion: string;
  layout: string;
  deviceType: string;
  hostapp: { repository: string; tag: string; manifestDigest: string };
}

interface Ctx {
  args: Args;
  config: DeviceConfig;
  os: OsInfo;
  log: MigrationLog;
  progress: ProgressReporter;
  target?: Release;
  root: string;
  disk: { disk: string; part: (n: number) => string };
  tool?: string;
  plan?: MigrationPlan;
  /** Set once the first table is written: from there nothing is put back. */
  layoutChanged?: boolean;
  servicesStopped?: boolean;
  dataUnmounted?: boolean;
  layer?: string;
  /** Set when the device was moved off the spare root: the remaining steps do nothing. */
  switched?: boolean;
}

function parseArgs(argv: string[]): Args {
  const out: Args = { hostosVersion: '', noReboot: false, dataLimit: DATA_BACKUP_LIMIT_BYTES };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--hostos-version') out.hostosVersion = argv[++i] ?? '';
    else if (a === '--no-reboot') out.noReboot = true;
    else if (a === '--data-limit') {
      out.dataLimit = Number(argv[++i]);
      if (!Number.isInteger(out.dataLimit) || out.dataLimit <= 0)
        throw new HuplabError('usage', '--data-limit takes a positive number of bytes');
    } else throw new HuplabError('usage', `unknown option ${a}`);
  }
  // The field drops `.prod` and refuses `.dev`.
  out.hostosVersion = out.hostosVersion.replace(/\.prod$/, '');
  if (/\.dev$/.test(out.hostosVersion))
    throw new HuplabError('usage', 'a .dev target is not supported', { hint: 'name the production release' });
  if (!/^\d+\.\d+\.\d+/.test(out.hostosVersion))
    throw new HuplabError('usage', `--hostos-version is missing or not a version: "${out.hostosVersion}"`);
  return out;
}

/** The API, three tries each (release.ts); the retries go to the field's log as warnings. */
function api<T>(ctx: Ctx, path: string): Promise<T> {
  return apiJson<T>(ctx.config, path, (line) => ctx.log.line(line, 'WARNING'));
}

function mount(dev: string, at: string, opts = 'rw'): void {
  mkdirSync(at, { recursive: true });
  run('mount', ['-t', 'ext4', '-o', opts, dev, at]);
}

function umount(at: string): void {
  run('umount', [at]);
}

const mounted = (at: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === at);

function partitionNumber(dev: string): number {
  const m = /(\d+)$/.exec(dev);
  if (!m) throw new HuplabError('root-unknown', `cannot read a partition number from ${dev}`);
  return Number(m[1]);
}

const steps: Record<OnexMigrateStep, (ctx: Ctx) => Promise<string | void>> = {
  async checks(ctx) {
    const { os, config, args } = ctx;
    if (config.deviceType !== os.deviceType)
      throw new HuplabError(
        'wrong-device-type',
        `config.json says device type ${config.deviceType} but the OS is built for ${os.deviceType}`,
      );
    if (!os.version.startsWith('1.'))
      throw new HuplabError('version-unsupported', `the running OS ${os.version} is too high: this migrates 1.x`);
    if (compareVersions(os.version, MIN_SOURCE) < 0)
      throw new HuplabError(
        'version-unsupported',
        `the running OS ${os.version} is too low, need ${MIN_SOURCE} or greater`,
      );
    if (compareVersions(args.hostosVersion, MIN_TARGET) < 0)
      throw new HuplabError(
        'version-unsupported',
        `target ${args.hostosVersion} is too low, need ${MIN_TARGET} or greater`,
      );
    const target = await api<Release>(
      ctx,
      `/v1/releases/${encodeURIComponent(args.hostosVersion)}?deviceType=${encodeURIComponent(os.deviceType)}`,
    ).catch((err: unknown) => {
      throw new HuplabError(
        'release-not-found',
        `target release ${args.hostosVersion} for ${os.deviceType}: ${isHuplabError(err) ? err.message : String(err)}`,
      );
    });
    if (target.deviceType !== os.deviceType || target.layout !== LAYOUT_2X)
      throw new HuplabError(
        'wrong-target',
        `release ${target.version} is ${target.layout} for ${target.deviceType}; the migration goes to ${LAYOUT_2X} for ${os.deviceType}`,
      );
    // The image must exist before anything is touched (the field asks Docker Hub for the manifest).
    const image = await findTargetImage({
      registries: registriesOf(ctx.config),
      image: target.hostapp,
      client: (reg) => registryClient(ctx.config, reg, { timeoutMs: 15_000, retries: 2, retryDelayMs: 1_000 }),
      log: (m) => ctx.log.line(m),
    });
    ctx.target = target;
    return `device ${os.deviceType}, ${os.version} -> ${target.version}, running from ${ctx.root} on ${ctx.disk.disk}; image ${image.bytes} bytes at ${image.registry}`;
  },

  async 'data-check'(ctx) {
    try {
      const r = await checkDataBackup('/mnt/data/resin-data', ctx.args.dataLimit);
      process.stdout.write(`${onexCheckLine('data-backup', `${r.bytes} of ${r.limit} bytes compressed`)}\n`);
      return `${r.bytes} of ${r.limit} bytes compressed`;
    } catch (err) {
      // The checks' own refusal line, which the harness reads the code and the numbers from.
      if (isHuplabError(err)) process.stdout.write(`${onexRefusedLine(err.code, err.message)}\n`);
      throw err;
    }
  },

  async 'root-check'(ctx) {
    const n = partitionNumber(ctx.root);
    if (n === 2) return `running from the main root ${ctx.root}`;
    if (n !== 3)
      throw new HuplabError('root-unknown', `running from partition ${n} (${ctx.root}); the 1.x roots are 2 and 3`);
    // On the spare root (a 1.x -> 1.x update put it there): copy it over the main root and boot
    // that; the update is then started again (the field's script exits 0 here too).
    await ctx.progress.milestone(ONEX_TO_2X_PROGRESS.switching.percent, ONEX_TO_2X_PROGRESS.switching.message);
    stopServices((m) => ctx.log.line(m, 'WARNING'));
    ctx.servicesStopped = true;
    run('sync', []);
    // Read-only for the copy: nothing may change under dd (the field's sysrq u).
    run('mount', ['-o', 'remount,ro', '/']);
    const main = ctx.disk.part(2);
    run('dd', [`if=${ctx.root}`, `of=${main}`, 'bs=4M', 'conv=fsync']);
    const sum = (dev: string) => run('sha256sum', [dev]).stdout.split(' ')[0] ?? '';
    const [from, to] = [sum(ctx.root), sum(main)];
    if (from !== to)
      throw new HuplabError('copy-mismatch', `the copy of ${ctx.root} on ${main} differs (${from} vs ${to})`);
    run('e2label', [main, 'resin-root']);
    await updateBootEnv({ resin_root_part: 'A', upgrade_available: '0', bootcount: '0' });
    run('sync', []);
    await ctx.progress.milestone(
      ONEX_TO_2X_PROGRESS.rebootingSwitch.percent,
      ONEX_TO_2X_PROGRESS.rebootingSwitch.message,
    );
    ctx.log.line(ONEX_SWITCHED_ROOT);
    ctx.switched = true;
    spawn('sh', ['-c', 'sleep 2; reboot'], { detached: true, stdio: 'ignore' }).unref();
    return `copied ${ctx.root} to ${main} (sha256 ${from.slice(0, 12)}), bootloader on resin-root; rebooting`;
  },

  async tools(ctx) {
    const missing = NEEDED.filter((p) => run('which', [p], { allowFail: true }).code !== 0);
    if (missing.length)
      throw new HuplabError('tools-missing', `this 1.x image lacks ${missing.join(', ')}`, {
        hint: 'the migration needs e2fsprogs and busybox in the 1.x image',
      });
    const machine = run('uname', ['-m']).stdout.trim();
    const name = `${ONEX_TOOL}-${KERNEL_ARCH[machine] ?? machine}`;
    const listed = await api<{ tools: Array<{ name: string; sha256: string; size: number }> }>(ctx, '/v1/takeover');
    const t = listed.tools.find((x) => x.name === name);
    if (!t)
      throw new HuplabError(
        'tools-missing',
        `the API has no ${name} (has: ${listed.tools.map((x) => x.name).join(', ') || 'none'})`,
      );
    mkdirSync(TOOLS, { recursive: true });
    const path = join(TOOLS, ONEX_TOOL);
    await downloadVerified({
      url: new URL(`${ctx.config.apiEndpoint!.replace(/\/$/, '')}/v1/takeover/${name}`),
      digest: `sha256:${t.sha256}`,
      destPath: path,
      source: 'API',
      what: name,
      timeoutMs: 30_000,
      retries: 3,
      retryDelayMs: 1_000,
      expectedSize: t.size,
      headers: authHeaders(ctx.config),
    });
    chmodSync(path, 0o755);
    ctx.tool = path;
    // The plan is made (and a table that is not the 1.x one refused) before anything is stopped.
    ctx.plan = migrationPlan(await readTable(ctx.disk.disk), diskSectors(ctx.disk.disk));
    return `${name} (${t.size} bytes, sha256 ${t.sha256.slice(0, 12)} checked); ${NEEDED.join(' ')} present; 2.x layout: ${ctx.plan.partitions.map((p) => `p${p.index} ${p.label} ${p.sectors >> 11} MiB`).join(', ')}`;
  },

  async 'stop-services'(ctx) {
    stopServices((m) => ctx.log.line(m, 'WARNING'));
    ctx.servicesStopped = true;
    const r = remove1xContainers();
    return `supervisor and application stopped; ${r.containers} container(s) and ${r.images} image store(s) removed`;
  },

  async backup(ctx) {
    const spare = ctx.disk.part(3);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-updt', spare]);
    mount(spare, SPARE);
    const tar = run('tar', ['-czf', `${SPARE}/${BACKUP}`, '-C', '/mnt/data', 'resin-data'], { allowFail: true });
    if (tar.code !== 0) {
      umount(SPARE);
      throw new HuplabError(
        'backup-failed',
        `Could not back up resin-data: ${tar.stderr.trim().split('\n').at(-1) ?? ''}`,
      );
    }
    run('sync', []);
    return `/mnt/data/resin-data backed up to ${spare} (${statSync(`${SPARE}/${BACKUP}`).size} bytes)`;
  },

  async repartition(ctx) {
    const plan = ctx.plan!;
    // config.json lives on the boot partition from 1.12; older releases kept it on resin-conf.
    if (!existsSync('/mnt/boot/config.json') && existsSync('/mnt/conf/config.json'))
      copyFileSync('/mnt/conf/config.json', '/mnt/boot/config.json');
    for (const at of ['/mnt/data', '/mnt/conf']) if (mounted(at)) umount(at);
    ctx.dataUnmounted = true;
    // Phase 1: state and data at their 2.x places; the backup (on the old p3) copied onto data.
    ctx.layoutChanged = true;
    applyPhase(ctx.disk.disk, plan.data, ctx.tool!, (m) => ctx.log.line(m));
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-state', ctx.disk.part(5)]);
    // The device keeps its SSH host key: 1.x kept it in the root's /mnt/state folder, 2.x on the
    // state partition (the field's script let 2.x make a new one; operators then met a changed key).
    mount(ctx.disk.part(5), STATE);
    if (existsSync(`/mnt/state/${HOST_KEY_DIR}`)) {
      mkdirSync(`${STATE}/${HOST_KEY_DIR}`, { recursive: true });
      run('cp', ['-a', `/mnt/state/${HOST_KEY_DIR}/.`, `${STATE}/${HOST_KEY_DIR}/`]);
    }
    umount(STATE);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-data', ctx.disk.part(6)]);
    mount(ctx.disk.part(6), '/mnt/data', 'rw,noatime');
    copyFileSync(`${SPARE}/${BACKUP}`, `/mnt/data/${BACKUP}`);
    run('sync', []);
    umount(SPARE);
    // Phase 2: the running root grows in place to its 2.x end; rootB after it.
    applyPhase(ctx.disk.disk, plan.roots, ctx.tool!, (m) => ctx.log.line(m));
    run('resize2fs', [ctx.disk.part(2)]);
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'resin-rootB', ctx.disk.part(3)]);
    run('sync', []);
    return `2.x layout written: ${plan.partitions.map((p) => `p${p.index} ${p.label}`).join(', ')}; resin-root grown to ${plan.partitions[1]!.sectors >> 11} MiB (keeps its 1.x label until the boot switch)`;
  },

  async fetch(ctx) {
    const { repository, manifestDigest } = ctx.target!.hostapp;
    mkdirSync(WORK, { recursive: true });
    const errors: string[] = [];
    for (const reg of registriesOf(ctx.config)) {
      try {
        const client = registryClient(ctx.config, reg, { timeoutMs: 30_000, retries: 5 });
        const { manifest } = await client.getManifest(repository, manifestDigest);
        const layer = (manifest as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
        const path = `${WORK}/layer-${layer.digest.slice(7, 19)}.tar.gz`;
        const got = await client.fetchBlob(repository, layer.digest, path, { expectedSize: layer.size });
        ctx.layer = path;
        return fetchDetail({
          kind: 'full',
          digest: layer.digest,
          bytes: layer.size,
          source: reg,
          attempts: got.attempts,
          resumes: got.resumes,
        });
      } catch (err) {
        errors.push(`${reg}: ${isHuplabError(err) ? err.oneLine() : (err as Error).message}`);
      }
    }
    throw new HuplabError('fetch-failed', `no registry delivered the new OS: ${errors.join('; ')}`);
  },

  async 'write-root'(ctx) {
    mount(ctx.disk.part(3), NEW_ROOT);
    await applyLayer({ layer: ctx.layer!, targetRoot: NEW_ROOT });
    run('sync', []);
    const written = readOsInfo(NEW_ROOT);
    if (written.version !== ctx.target!.version || !existsSync(`${NEW_ROOT}/sbin/init`))
      throw new HuplabError(
        'write-root-invalid',
        `the written root says version ${written.version}, expected ${ctx.target!.version}`,
      );
    rmSync(ctx.layer!, { force: true });
    return `${ctx.target!.version} written to resin-rootB (${ctx.disk.part(3)})`;
  },

  async 'restore-data'() {
    run('tar', ['-xzf', `/mnt/data/${BACKUP}`, '-C', '/mnt/data']);
    rmSync(`/mnt/data/${BACKUP}`);
    run('sync', []);
    const files = run('find', ['/mnt/data/resin-data', '-type', 'f']).stdout.trim().split('\n').filter(Boolean);
    return `resin-data restored on the 2.x data partition (${files.length} files)`;
  },

  async network(ctx) {
    const configNetwork = (ctx.config as { files?: Record<string, string> }).files?.['network/network.config'];
    // WiFi Connect 1.x kept its settings in the application's /data (one folder per application).
    const appDirs = existsSync('/mnt/data/resin-data') ? readdirSync('/mnt/data/resin-data') : [];
    const wifiConnect = appDirs.map((d) => `/mnt/data/resin-data/${d}/network.config`).find((f) => existsSync(f));
    const files = keyfilesFor1x({
      ...(configNetwork ? { configJsonNetwork: configNetwork } : {}),
      ...(wifiConnect ? { wifiConnect: readFileSync(wifiConnect, 'utf8') } : {}),
    });
    mkdirSync(SYSTEM_CONNECTIONS, { recursive: true });
    for (const f of files) await atomicWriteFile(`${SYSTEM_CONNECTIONS}/${f.name}`, Buffer.from(f.content));
    run('sync', []);
    return files.length
      ? `NetworkManager keyfiles written: ${files.map((f) => f.name).join(', ')}`
      : 'no network settings to migrate';
  },

  async supervisor(ctx) {
    const conf = (root: string) =>
      /SUPERVISOR_VERSION=(\S+)/.exec(readFileSync(`${root}/etc/balena-supervisor/supervisor.conf`, 'utf8'))?.[1] ??
      '0.0.0';
    const running = conf('/');
    const shipped = conf(NEW_ROOT);
    // The 1.x supervisor's own folder goes (the field's `rm /mnt/data/resin-data/resin-supervisor`):
    // the 2.x supervisor starts from nothing and fetches the application again.
    rmSync('/mnt/data/resin-data/resin-supervisor', { recursive: true, force: true });
    // The state partition is new and empty: the 2.x OS's own supervisor runs at the first boot.
    mount(ctx.disk.part(5), STATE);
    rmSync(`${STATE}/supervisor.conf`, { force: true });
    umount(STATE);
    return compareVersions(shipped, running) > 0
      ? `supervisor ${running} -> ${shipped}: the new OS's own runs at its first boot`
      : `supervisor ${running}; the new OS ships ${shipped}`;
  },

  async 'boot-files'() {
    const plan = await installBootFiles(NEW_ROOT, '/mnt/boot');
    // Flushed before the switch: a power cut right after this step must find the 2.x boot files
    // whole (their renames too), which then boot resin-rootB even before the env says so.
    run('sync', []);
    return `${plan.copy.length} boot files of the new OS installed, kept back: ${plan.keptBack.join(' ') || 'none'}`;
  },

  async 'bootloader-switch'(ctx) {
    // The new OS's description: the 2.x bootloader reads the env files the way it says.
    const description = loadBootloaderDescription(`${NEW_ROOT}${BOOTLOADER_DESCRIPTION_PATH}`);
    umount(NEW_ROOT);
    // The old root takes its 2.x label now, not earlier: until here the 1.x bootloader finds it.
    run('e2label', [ctx.disk.part(2), 'resin-rootA']);
    // No rollback to 1.x (the field has none): nothing pending, the new root chosen.
    const env = await updateBootEnv({ resin_root_part: 'B', upgrade_available: '0', bootcount: '0' }, { description });
    run('sync', []);
    return `resin-root relabelled resin-rootA; bootloader env: resin_root_part=${env.resin_root_part} upgrade_available=${env.upgrade_available}`;
  },

  async reboot(ctx) {
    if (ctx.args.noReboot) {
      await ctx.progress.report(100, 'Update successful', 'done');
      return 'not rebooting (--no-reboot)';
    }
    await ctx.progress.report(ONEX_TO_2X_PROGRESS.done.percent, ONEX_TO_2X_PROGRESS.done.message, 'rebooting');
    run('sync', []);
    spawn('sh', ['-c', 'sleep 2; reboot'], { detached: true, stdio: 'ignore' }).unref();
    return 'rebooting in 2 s';
  },
};

const STEPS: UpdateStep<Ctx>[] = ONEX_MIGRATE_STEPS.map((name) => {
  const m = ONEX_MIGRATE_MILESTONES[name];
  return {
    name,
    ...(m ? { milestone: [m.percent, m.message] as const } : {}),
    // After the move off the spare root the device reboots: the rest is the next run's.
    run: (ctx: Ctx) =>
      ctx.switched ? Promise.resolve('skipped: moved to the main root, rebooting') : steps[name](ctx),
  };
});

/**
 * After a failure: before the layout changed, the 1.x device is put back as it ran (data mounted,
 * services started); the containers removed stay removed (the supervisor fetches them again).
 * After it, nothing can be put back: the field's script has no rollback either.
 */
async function cleanup(ctx: Ctx): Promise<void> {
  for (const at of [NEW_ROOT, STATE, SPARE]) if (mounted(at)) run('umount', [at], { allowFail: true });
  if (ctx.layoutChanged) {
    ctx.log.line('the partition layout was changed already: the device is left as it is', 'ERROR');
    return;
  }
  if (ctx.servicesStopped) startServices(ONEX_SERVICES, (m) => ctx.log.line(m, 'WARNING'));
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`upgrade-1.x-to-2.x: ${isHuplabError(err) ? err.oneLine() : String(err)}\n`);
    return UPDATER_EXIT.usage;
  }
  const locked = reexecUnderUpdateLock('upgrade-1.x-to-2.x', UPDATER_EXIT.locked, UPDATER_EXIT.failed);
  if (locked !== undefined) return locked;
  const log = new MigrationLog(ONEX_TO_2X_LOG_PREFIX);
  const config = readDeviceConfig(existsSync('/mnt/boot/config.json') ? undefined : '/mnt/conf/config.json');
  const root = mountedRootDevice();
  const ctx: Ctx = {
    args,
    config,
    os: readOsInfo('/'),
    log,
    progress: new ProgressReporter(config, (m) => log.line(m, 'WARNING')),
    root,
    disk: diskOf(root),
  };
  log.line(
    `resinOS 1.x -> 2.x migration: ${ctx.os.version} -> ${args.hostosVersion} on ${config.uuid}; log ${log.path}`,
  );
  return runSteps(ctx, STEPS, { failedLine: (why) => `OS update failed: ${why}`, cleanup });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`upgrade-1.x-to-2.x: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(UPDATER_EXIT.failed);
  },
);
