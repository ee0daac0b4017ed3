/**
 * The advanced HUP updater (takeover), run on the device for the jumps the standard path cannot
 * make (another partition layout, architecture or boot firmware). Stage 1 is this program: it
 * checks, downloads the raw OS image from the API (not the registry: no delta), collects what the
 * device must keep (config.json, network files, SSH host keys) into a RAM filesystem with a static
 * busybox and stage 2 (updater/takeover/stage2.sh), and makes busybox init re-execute stage 2 as
 * PID 1. Stage 2 stops everything, flashes the whole disk and reboots into the new OS.
 *
 * Until stage 2 starts writing the disk, any failure leaves the running OS as it was: this
 * program undoes its own changes, and stage 2 reboots into the old OS.
 */
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname } from 'node:path';
import { HuplabError } from '../../lib/errors.ts';
import { downloadVerified } from '../../lib/oci/download.ts';
import type { OsImageInfo, UpdateMethodName } from '../../lib/update-method.ts';
import { readOsInfo, type DeviceConfig, type OsInfo } from '../common/config.ts';
import type { UpdateLog } from '../common/log.ts';
import { exitWith, startUpdate } from '../common/start.ts';
import { mountedRootDevice } from '../common/partitions.ts';
import { ProgressReporter } from '../common/progress.ts';
import { run } from '../common/run.ts';
import { orderedSteps, runSteps } from '../common/step-runner.ts';
import { ADVANCED_STEPS, type AdvancedStep } from '../../lib/contract/step-names.ts';
import { STATE_DIR, STATE_FILES } from '../../lib/contract/state-files.ts';
import { imageDownloadDetail } from '../../lib/contract/download-detail.ts';
import { parseAdvancedArgs, type AdvancedArgs } from './args.ts';
import STAGE2 from '../takeover/stage2.sh';

const WORK_DIR = '/mnt/data/balenahup';
const RAM = '/run/takeover';
const HOST_KEYS = `${STATE_DIR}/${STATE_FILES.rootOverlay}/etc/dropbear`;
/** Room in RAM besides the image: busybox, the flash writer, stage 2's files. */
const RAM_SPARE = 48 * 2 ** 20;

/** Progress reported to the API as each step starts; the handover reports its own. */
const STEP_MILESTONES: Partial<Record<AdvancedStep, readonly [number, string]>> = {
  checks: [10, 'Preparing OS update'],
  download: [25, 'Downloading OS image'],
  collect: [40, 'Preparing takeover'],
};

interface TargetRelease {
  version: string;
  deviceType: string;
  layout: string;
  arch: string;
  image?: OsImageInfo;
  bootFlash?: { file: string; sha256: string; size: number; physBase: number; bankBytes: number };
}
interface MethodAnswer {
  method: UpdateMethodName;
  reason: string;
  hint?: string;
  target: TargetRelease;
}

interface Ctx {
  args: AdvancedArgs;
  config: DeviceConfig;
  os: OsInfo;
  log: UpdateLog;
  progress: ProgressReporter;
  target?: TargetRelease;
  image?: OsImageInfo;
  disk?: string;
  imagePath?: string;
  /** Takeover's tools as downloaded (simg-flash, cfi-flash). */
  tools: string[];
  ramMounted?: boolean;
  inittabBound?: boolean;
}

async function apiGet(ctx: Ctx, path: string): Promise<Response> {
  const base = ctx.config.apiEndpoint;
  if (!base) throw new HuplabError('config-invalid', 'config.json has no apiEndpoint');
  const key = ctx.config.deviceApiKey ?? ctx.config.apiKey;
  return fetch(`${base.replace(/\/$/, '')}${path}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: AbortSignal.timeout(30_000),
  });
}

async function apiJson<T>(ctx: Ctx, path: string): Promise<T> {
  const r = await apiGet(ctx, path);
  const body = await r.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (!r.ok) {
    const why = (parsed as { error?: string } | undefined)?.error ?? body.slice(0, 200);
    throw new HuplabError('api-error', `API ${path.split('?')[0]} answered ${r.status}: ${why}`);
  }
  return parsed as T;
}

/** The whole disk a partition is on (/dev/vda9 -> /dev/vda, /dev/mmcblk0p2 -> /dev/mmcblk0). */
function diskOf(partition: string): string {
  const sys = realpathSync(`/sys/class/block/${basename(partition)}`);
  return `/dev/${basename(dirname(sys))}`;
}

function blockDeviceBytes(disk: string): number {
  return Number(readFileSync(`/sys/class/block/${basename(disk)}/size`, 'utf8').trim()) * 512;
}

function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** `uname -m` to the Debian architecture takeover's tools are built for. */
const KERNEL_ARCH: Record<string, string> = { aarch64: 'arm64', x86_64: 'amd64', armv7l: 'armhf' };

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

const steps: Record<AdvancedStep, (ctx: Ctx) => Promise<string>> = {
  async checks(ctx) {
    const { config, os, args } = ctx;
    if (config.deviceType !== os.deviceType)
      throw new HuplabError(
        'wrong-device-type',
        `config.json says device type ${config.deviceType} but the OS is built for ${os.deviceType}`,
      );
    const q = new URLSearchParams({
      deviceType: os.deviceType,
      from: os.version,
      to: args.hostosVersion,
      toDeviceType: args.deviceType ?? os.deviceType,
    });
    const answer = await apiJson<MethodAnswer>(ctx, `/v1/update-method?${q}`);
    if (answer.method === 'refused')
      throw new HuplabError('update-refused', `${answer.reason}${answer.hint ? ` (${answer.hint})` : ''}`);
    if (answer.method !== 'advanced')
      throw new HuplabError(
        'needs-other-method',
        `${answer.reason}: this update takes the ${answer.method} path, not takeover`,
      );
    const target = answer.target;
    if (!target.image)
      throw new HuplabError(
        'no-os-image',
        `the API serves no raw image of ${target.version} for ${target.deviceType}, which the advanced update downloads`,
      );
    if (target.image.format !== 'android-sparse' || target.image.compression !== 'gzip') {
      throw new HuplabError(
        'image-format',
        `the ${target.version} image is ${target.image.format}/${target.image.compression}; takeover flashes gzip'ed Android sparse images`,
      );
    }
    ctx.target = target;
    ctx.image = target.image;
    ctx.disk = diskOf(mountedRootDevice());
    const diskBytes = blockDeviceBytes(ctx.disk);
    if (target.image.rawSize > diskBytes) {
      throw new HuplabError(
        'disk-too-small',
        `the ${target.version} image is ${mib(target.image.rawSize)} but ${ctx.disk} holds ${mib(diskBytes)}`,
      );
    }
    const mounts = readFileSync('/proc/mounts', 'utf8');
    if (!/^\S+ \/mnt\/data ext4 rw[, ]/m.test(mounts))
      throw new HuplabError('data-unusable', '/mnt/data is not mounted read-write: the image has nowhere to go');
    const data = statfsSync('/mnt/data');
    const free = data.bavail * data.bsize;
    const need = target.image.size + 16 * 2 ** 20;
    if (free < need)
      throw new HuplabError('no-space', `/mnt/data has ${mib(free)} free; the image needs ${mib(need)}`, {
        hint: 'free space on the data partition and retry',
      });
    const ram = memAvailable();
    if (ram < target.image.size + RAM_SPARE * 2)
      throw new HuplabError(
        'no-memory',
        `${mib(ram)} of RAM available; takeover holds the ${mib(target.image.size)} image in RAM and needs ${mib(target.image.size + RAM_SPARE * 2)}`,
      );
    if (target.bootFlash && !existsSync('/dev/mem'))
      throw new HuplabError(
        'no-flash-access',
        `${target.version} needs its boot firmware written to the flash, and /dev/mem is missing`,
      );
    return `${answer.reason}; disk ${ctx.disk} ${mib(diskBytes)}, ${mib(free)} free on /mnt/data, ${mib(ram)} RAM available`;
  },

  async download(ctx) {
    const target = ctx.target!;
    const image = ctx.image!;
    mkdirSync(WORK_DIR, { recursive: true });
    // A leftover of an earlier attempt (interrupted before the flash) only takes space.
    for (const f of readdirSync(WORK_DIR))
      if (/^os-image-.*\.img\.gz/.test(f)) rmSync(`${WORK_DIR}/${f}`, { force: true });
    ctx.imagePath = `${WORK_DIR}/os-image-${target.deviceType}-${target.version}.img.gz`;
    const base = ctx.config.apiEndpoint!.replace(/\/$/, '');
    const key = ctx.config.deviceApiKey ?? ctx.config.apiKey;
    const got = await downloadVerified({
      url: new URL(
        `${base}/v1/os-images/${encodeURIComponent(target.deviceType)}/${encodeURIComponent(target.version)}`,
      ),
      digest: `sha256:${image.sha256}`,
      destPath: ctx.imagePath,
      source: `API ${base}`,
      what: `OS image ${target.version} for ${target.deviceType}`,
      timeoutMs: 30_000,
      retries: 5,
      retryDelayMs: 1_000,
      expectedSize: image.size,
      ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
    });
    // Takeover's tools, for the CPU the kernel runs (`uname -m`): the disk writer, and the boot
    // flash writer when the new OS needs its firmware in the flash.
    const machine = run('uname', ['-m']).stdout.trim();
    const arch = KERNEL_ARCH[machine] ?? machine;
    const wanted = ['simg-flash', ...(target.bootFlash ? ['cfi-flash'] : [])];
    const listed = await apiJson<{ tools: Array<{ name: string; sha256: string; size: number }> }>(ctx, '/v1/takeover');
    const tools: Array<{ name: string; bytes: number }> = [];
    for (const tool of wanted) {
      const name = `${tool}-${arch}`;
      const t = listed.tools.find((x) => x.name === name);
      if (!t)
        throw new HuplabError(
          'no-takeover-tool',
          `the API has no ${name}, which takeover needs on this ${arch} kernel (has: ${listed.tools.map((x) => x.name).join(', ') || 'none'})`,
        );
      const path = `${WORK_DIR}/${tool}`;
      await downloadVerified({
        url: new URL(`${base}/v1/takeover/${name}`),
        digest: `sha256:${t.sha256}`,
        destPath: path,
        source: `API ${base}`,
        what: name,
        timeoutMs: 30_000,
        retries: 3,
        retryDelayMs: 1_000,
        ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
        expectedSize: t.size,
        ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}),
      });
      ctx.tools.push(path);
      tools.push({ name, bytes: t.size });
    }
    return imageDownloadDetail({
      version: target.version,
      bytes: got.size,
      format: image.format,
      sha256: image.sha256,
      attempts: got.attempts,
      tools,
    });
  },

  async collect(ctx) {
    const image = ctx.image!;
    const size = Math.ceil((image.size + RAM_SPARE) / 2 ** 20);
    mkdirSync(RAM, { recursive: true });
    run('mount', ['-t', 'tmpfs', '-o', `size=${size}m,mode=0700`, 'takeover', RAM]);
    ctx.ramMounted = true;
    mkdirSync(`${RAM}/bin`, { recursive: true });
    // Stage 2 runs with the disk gone: a static busybox is all it has.
    copyFileSync('/bin/busybox', `${RAM}/bin/busybox`);
    run(`${RAM}/bin/busybox`, ['--install', '-s', `${RAM}/bin`]);
    writeFileSync(`${RAM}/stage2.sh`, STAGE2, { mode: 0o755 });
    for (const t of ctx.tools) copyFileSync(t, `${RAM}/${basename(t)}`);
    run('chmod', ['0755', `${RAM}/bin/busybox`, ...ctx.tools.map((t) => `${RAM}/${basename(t)}`)]);
    const kept: string[] = ['config.json'];
    mkdirSync(`${RAM}/keep/boot`, { recursive: true });
    // config.json goes to the new OS as it is, but for the device type when the path changes it
    // (a Pi 3 on the 32-bit OS becomes a raspberrypi3-64): the new OS's updater checks it.
    const config = JSON.parse(readFileSync('/mnt/boot/config.json', 'utf8')) as Record<string, unknown>;
    if (config.deviceType !== ctx.target!.deviceType) {
      kept[0] = `config.json (deviceType ${String(config.deviceType)} -> ${ctx.target!.deviceType})`;
      config.deviceType = ctx.target!.deviceType;
    }
    writeFileSync(`${RAM}/keep/boot/config.json`, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    for (const d of ['system-connections', 'system-proxy']) {
      if (existsSync(`/mnt/boot/${d}`)) {
        cpSync(`/mnt/boot/${d}`, `${RAM}/keep/boot/${d}`, { recursive: true });
        kept.push(`${d}/ (${readdirSync(`/mnt/boot/${d}`).length} files)`);
      }
    }
    if (existsSync(HOST_KEYS)) {
      cpSync(HOST_KEYS, `${RAM}/keep/state/root-overlay/etc/dropbear`, { recursive: true });
      kept.push('SSH host keys');
    }
    const target = ctx.target!;
    const env: Record<string, string | number> = {
      STAMP: ctx.log.path.replace(/^.*\.(\d{8}_\d{6})\.log$/, '$1'),
      FROM_VERSION: ctx.os.version,
      TO_VERSION: target.version,
      TO_DEVICE_TYPE: target.deviceType,
      DISK: ctx.disk!,
      IMAGE_REL: ctx.imagePath!.replace(/^\/mnt\/data\//, ''),
      IMAGE_SHA256: image.sha256,
      RAW_SIZE: image.rawSize,
      RAW_SHA256: image.rawSha256,
      FLASH_FILE: target.bootFlash?.file ?? '',
      FLASH_SHA256: target.bootFlash?.sha256 ?? '',
      FLASH_BASE: target.bootFlash ? `0x${target.bootFlash.physBase.toString(16)}` : '',
      FLASH_BANK: target.bootFlash ? `0x${target.bootFlash.bankBytes.toString(16)}` : '',
      ...networkNow(),
      API: ctx.config.apiEndpoint?.replace(/\/$/, '') ?? '',
      API_KEY: ctx.config.deviceApiKey ?? ctx.config.apiKey ?? '',
      UUID: ctx.config.uuid,
    };
    writeFileSync(
      `${RAM}/takeover.env`,
      `${Object.entries(env)
        .map(([k, v]) => `${k}='${String(v).replace(/'/g, `'\\''`)}'`)
        .join('\n')}\n`,
      { mode: 0o600 },
    );
    // busybox init re-reads its table on SIGHUP and, on SIGQUIT, stops everything (its shutdown
    // action, then TERM and KILL to every process) and execs the restart action as PID 1.
    const table = readFileSync('/etc/inittab', 'utf8')
      .split('\n')
      .filter((l) => !/^[^#]*:restart:/.test(l));
    writeFileSync(
      `${RAM}/inittab`,
      [...table.filter(Boolean), `::restart:${RAM}/bin/sh ${RAM}/stage2.sh`, ''].join('\n'),
    );
    run('mount', ['--bind', `${RAM}/inittab`, '/etc/inittab']);
    ctx.inittabBound = true;
    return `RAM filesystem ${RAM} (${size} MiB) with busybox, stage 2, ${ctx.tools.map((t) => basename(t)).join(', ')}; keeping ${kept.join(', ')}; the data partition's other contents will not be kept`;
  },

  async handover(ctx) {
    await ctx.progress.report(45, 'Handing over to takeover', 'updating');
    run('sync', []);
    // A moment later, detached, so this process can finish its log and exit before init kills it.
    spawn('sh', ['-c', 'sleep 2; kill -HUP 1; sleep 1; kill -QUIT 1'], { detached: true, stdio: 'ignore' }).unref();
    return 'init re-executes takeover stage 2 as PID 1 in 3 s';
  },
};

const STEPS = orderedSteps(ADVANCED_STEPS, steps, STEP_MILESTONES);

/** The interface, address and gateway in use, for stage 2 to put back once the services are gone. */
function networkNow(): { NET_IF: string; NET_ADDR: string; NET_GW: string } {
  const route = run('ip', ['-4', 'route', 'show', 'default'], { allowFail: true }).stdout;
  const m = /default via (\S+) dev (\S+)/.exec(route);
  if (!m) return { NET_IF: '', NET_ADDR: '', NET_GW: '' };
  const addr =
    /inet (\S+)/.exec(run('ip', ['-4', 'addr', 'show', 'dev', m[2]!], { allowFail: true }).stdout)?.[1] ?? '';
  return { NET_IF: addr ? m[2]! : '', NET_ADDR: addr, NET_GW: m[1]! };
}

/** After a failure before the handover: the running OS as it was (less the log). */
function cleanup(ctx: Ctx): void {
  if (ctx.inittabBound) run('umount', ['/etc/inittab'], { allowFail: true });
  if (ctx.ramMounted) run('umount', [RAM], { allowFail: true });
  if (ctx.imagePath) rmSync(ctx.imagePath, { force: true });
  for (const t of ctx.tools) rmSync(t, { force: true });
}

async function main(): Promise<number> {
  const start = startUpdate('hup-advanced', 'upgrade-takeover', parseAdvancedArgs);
  if ('exit' in start) return start.exit;
  const { args, log, config } = start;
  const ctx: Ctx = {
    args,
    config,
    os: readOsInfo('/'),
    log,
    progress: new ProgressReporter(config, (m) => log.line(m)),
    tools: [],
  };
  log.line(
    `huplab advanced HUP (takeover): ${ctx.os.version} -> ${args.hostosVersion}${args.deviceType ? ` (${args.deviceType})` : ''} on ${config.uuid} (${ctx.os.deviceType}); log ${log.path}`,
  );
  return runSteps(ctx, STEPS, {
    failedLine: (why) => `OS update failed: ${why}; nothing was flashed, the running OS is unchanged`,
    cleanup,
  });
}

exitWith('hup-advanced', main);
