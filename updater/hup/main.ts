/**
 * The standard HUP updater, run on the device (bundled to one file with esbuild and delivered
 * over SSH). It writes the new OS into the inactive root and switches the bootloader only when
 * everything before has worked, so that an interruption at any point leaves the running OS
 * bootable and untouched. See README "The update" for the step list.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { applyDelta, applyLayer, DELTA_FORMATS_READ } from '../../lib/delta/index.ts';
import { installBootFiles } from '../common/bootfiles.ts';
import { readBootEnv, updateBootEnv } from '../common/bootenv.ts';
import { readOsInfo, type DeviceConfig, type OsInfo } from '../common/config.ts';
import { downloadVerified } from '../../lib/oci/download.ts';
import { heldExclusiveLocks, lockOverride } from '../common/locks.ts';
import { checkBootEnv, checkBootFilesystem } from '../common/boot-health.ts';
import type { UpdateLog } from '../common/log.ts';
import { exitWith, startUpdate } from '../common/start.ts';
import { findRoots, type Roots } from '../common/partitions.ts';
import { DownloadProgress, ProgressReporter } from '../common/progress.ts';
import { findTargetImage, registriesOf, registryClient } from '../common/registry.ts';
import { shortDigest } from '../../lib/oci/digest.ts';
import { requireDataSpace } from '../common/data-space.ts';
import { run } from '../common/run.ts';
import { compareVersions } from '../../lib/versions.ts';
import { parseArgs, type HupArgs } from './args.ts';
import { STEP_MILESTONES } from './milestones.ts';
import { orderedSteps, runSteps, type UpdateStep } from '../common/step-runner.ts';
import { HUP_STEPS, type HupStep } from '../../lib/contract/step-names.ts';
import { BREADCRUMBS, ROLLBACK_RECORDS, STATE_DIR, STATE_FILES } from '../../lib/contract/state-files.ts';
import { fetchDetail } from '../../lib/contract/download-detail.ts';
import { STANDARD_LOG_PREFIX } from '../../lib/contract/updater-command.ts';
import {
  OS_SUPERVISOR_CODE,
  OS_SUPERVISOR_CONF,
  parseSupervisorConf,
  SUPERVISOR_CHOICE,
  supervisorUpdatedDetail,
} from '../../lib/contract/supervisor.ts';
import { AGENT_DIR } from '../../lib/contract/fleet.ts';
import { installSupervisorCode } from '../common/supervisor-install.ts';

const WORK = '/mnt/data/balenahup/cache';
const NEW_ROOT = '/run/hup/inactive';
const STATE = STATE_DIR;
const MIN_VERSION = '2.0.0';

interface Release {
  version: string;
  supervisorVersion: string;
  layout: string;
  deviceType: string;
  hostapp: { repository: string; tag: string; manifestDigest: string };
}

interface Ctx {
  args: HupArgs;
  config: DeviceConfig;
  os: OsInfo;
  log: UpdateLog;
  progress: ProgressReporter;
  target?: Release;
  current?: Release;
  roots?: Roots;
  artifact?: { kind: 'delta' | 'full'; path: string; source: string; bytes: number };
  supervisorStopped?: boolean;
  bootFilesChanged?: boolean;
  mounted?: boolean;
  summary: Record<string, unknown>;
}

/** The device's API key as a Bearer header: the API, the registries and the delta service all require it. */
function authHeaders(ctx: Ctx): Record<string, string> {
  const key = ctx.config.deviceApiKey ?? ctx.config.apiKey;
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function api<T>(ctx: Ctx, path: string): Promise<T> {
  const base = ctx.config.apiEndpoint;
  if (!base) throw new HuplabError('config-invalid', 'config.json has no apiEndpoint');
  const key = ctx.config.deviceApiKey ?? ctx.config.apiKey;
  const r = await fetch(`${base.replace(/\/$/, '')}${path}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: AbortSignal.timeout(30_000),
  });
  const body = await r.text();
  if (!r.ok) throw new HuplabError('api-error', `API ${path} answered ${r.status}: ${body.slice(0, 200)}`);
  return JSON.parse(body) as T;
}

const steps: Record<HupStep, UpdateStep<Ctx>['run']> = {
  async checks(ctx) {
    const { config, os, args } = ctx;
    if (config.deviceType !== os.deviceType)
      throw new HuplabError(
        'wrong-device-type',
        `config.json says device type ${config.deviceType} but the OS is built for ${os.deviceType}`,
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
    if (target.deviceType && target.deviceType !== os.deviceType)
      throw new HuplabError(
        'wrong-device-type',
        `release ${target.version} is for ${target.deviceType}, this device is ${os.deviceType}`,
      );
    if (compareVersions(os.version, MIN_VERSION) < 0)
      throw new HuplabError(
        'version-unsupported',
        `running OS ${os.version} is older than ${MIN_VERSION}, which this updater needs`,
      );
    const order = compareVersions(target.version, os.version);
    if (order === 0) throw new HuplabError('same-version', `the device already runs ${os.version}`);
    if (order < 0 && !args.allowDowngrade)
      throw new HuplabError(
        'downgrade',
        `target ${target.version} is older than the running ${os.version}; downgrades are refused`,
      );
    if (target.layout !== os.layout) {
      throw new HuplabError(
        'needs-advanced',
        `target layout ${target.layout} differs from the running ${os.layout}: this update needs the advanced (takeover) path`,
      );
    }
    ctx.target = target;
    ctx.current = await api<Release>(
      ctx,
      `/v1/releases/${encodeURIComponent(os.version)}?deviceType=${encodeURIComponent(os.deviceType)}`,
    ).catch(() => undefined);
    // The registry must answer and have the target image (its manifest, verified), the fallback
    // if the primary cannot: asked before anything on the device is touched.
    const image = await findTargetImage({
      registries: registriesOf(config),
      image: target.hostapp,
      client: (reg) => registryClient(config, reg, { timeoutMs: 15_000, retries: 2, retryDelayMs: 1_000 }),
      log: (m) => ctx.log.line(m),
    });
    ctx.roots = findRoots();
    // The boot partition must be sound before anything is written to it (see boot-health.ts).
    const fat = checkBootFilesystem((m) => ctx.log.line(m));
    const env = await checkBootEnv(ctx.roots.active.slot, (m) => ctx.log.line(m));
    const repaired = [
      fat.repaired ? 'boot filesystem repaired' : '',
      env.repaired ? 'bootloader env rewritten' : '',
    ].filter(Boolean);
    const free = requireDataSpace();
    return `device ${os.deviceType}, ${os.version} -> ${target.version}, running root ${ctx.roots.active.slot} (${ctx.roots.active.device}), writing ${ctx.roots.inactive.slot} (${ctx.roots.inactive.device}), ${(free / 2 ** 20).toFixed(0)} MiB free on /mnt/data; image ${target.hostapp.repository}@${shortDigest(target.hostapp.manifestDigest)} (${image.layers} layer(s), ${image.bytes} bytes) at ${image.registry}${repaired.length ? `; ${repaired.join(', ')}` : ''}`;
  },

  async 'stop-supervisor'(ctx) {
    run('service', ['stop', 'balena-supervisor'], { allowFail: true });
    ctx.supervisorStopped = true;
    return 'supervisor stopped; the application keeps running';
  },

  async fetch(ctx) {
    mkdirSync(WORK, { recursive: true });
    const target = ctx.target!;
    if (ctx.config.deltaEndpoint && ctx.current) {
      try {
        // The formats this updater reads: the service answers with the best one it has.
        const q = `src=${encodeURIComponent(ctx.current.hostapp.manifestDigest)}&dest=${encodeURIComponent(target.hostapp.manifestDigest)}&formats=${DELTA_FORMATS_READ.join(',')}`;
        const r = await fetch(`${ctx.config.deltaEndpoint.replace(/\/$/, '')}/v1/deltas?${q}`, {
          headers: authHeaders(ctx),
          signal: AbortSignal.timeout(30_000),
        });
        if (r.ok) {
          const d = (await r.json()) as { digest: string; size: number; url: string };
          const path = `${WORK}/delta-${d.digest.slice(7, 19)}`;
          const bar = new DownloadProgress(ctx.progress, { kind: 'delta', band: FETCH_BAND });
          const got = await downloadVerified({
            url: new URL(d.url),
            digest: d.digest,
            destPath: path,
            source: `delta service ${ctx.config.deltaEndpoint}`,
            what: `delta ${d.digest.slice(0, 19)}`,
            timeoutMs: 30_000,
            retries: 5,
            retryDelayMs: 1_000,
            expectedSize: d.size,
            headers: authHeaders(ctx),
            onProgress: (b, total) => bar.update(b, total),
          }).finally(() => bar.finish());
          const bytes = got.size;
          ctx.artifact = { kind: 'delta', path, source: ctx.config.deltaEndpoint, bytes };
          return fetchDetail({ kind: 'delta', digest: d.digest, bytes, source: ctx.config.deltaEndpoint });
        }
        ctx.log.line(`no delta from ${ctx.current.version} to ${target.version} (${r.status}); pulling the full image`);
      } catch (err) {
        ctx.log.line(
          `delta failed (${isHuplabError(err) ? err.oneLine() : (err as Error).message}); pulling the full image`,
        );
      }
    }
    return fetchFull(ctx, FETCH_BAND);
  },

  async 'write-root'(ctx) {
    const { inactive } = ctx.roots!;
    const label = `resin-root${inactive.slot}`;
    const format = () => {
      if (ctx.mounted) {
        run('umount', [NEW_ROOT]);
        ctx.mounted = false;
      }
      run('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, inactive.device]);
      mkdirSync(NEW_ROOT, { recursive: true });
      run('mount', ['-t', 'ext4', inactive.device, NEW_ROOT]);
      ctx.mounted = true;
    };
    format();
    let how: string;
    if (ctx.artifact!.kind === 'delta') {
      try {
        const r = await applyDelta({ delta: ctx.artifact!.path, baseRoot: '/', targetRoot: NEW_ROOT });
        how = `delta applied (format ${r.format}): ${r.filesFromDelta} files from the delta, ${r.filesFromBase} from the running root`;
      } catch (err) {
        ctx.log.line(
          `delta could not be applied (${isHuplabError(err) ? err.oneLine() : (err as Error).message}); falling back to the full image`,
        );
        await fetchFull(ctx, WRITE_ROOT_BAND);
        format();
        await applyLayer({ layer: ctx.artifact!.path, targetRoot: NEW_ROOT });
        how = 'full image written after the delta failed';
      }
    } else {
      await applyLayer({ layer: ctx.artifact!.path, targetRoot: NEW_ROOT });
      how = 'full image written';
    }
    run('sync', []);
    const written = readOsInfo(NEW_ROOT);
    if (written.version !== ctx.target!.version || !existsSync(`${NEW_ROOT}/sbin/init`)) {
      throw new HuplabError(
        'write-root-invalid',
        `the written root says version ${written.version}, expected ${ctx.target!.version}`,
      );
    }
    rmSync(ctx.artifact!.path, { force: true });
    return `${how} to ${label} (${inactive.device})`;
  },

  async 'boot-files'(ctx) {
    ctx.bootFilesChanged = true;
    const plan = await installBootFiles(NEW_ROOT, '/mnt/boot', (m) => ctx.log.line(m));
    return `${plan.copy.length} boot files checked/updated, kept back: ${plan.keptBack.join(' ') || 'none'}`;
  },

  async breadcrumbs(ctx) {
    for (const f of ROLLBACK_RECORDS) rmSync(`${STATE}/${f}`, { force: true });
    writeFileSync(
      `${STATE}/${STATE_FILES.healthVariables}`,
      `FROM_VERSION=${ctx.os.version}\nTO_VERSION=${ctx.target!.version}\nOLD_ROOT=${ctx.roots!.active.slot}\n`,
    );
    writeFileSync(`${STATE}/${STATE_FILES.healthBreadcrumb}`, '');
    writeFileSync(`${STATE}/${STATE_FILES.altbootBreadcrumb}`, '');
    run('sync', []);
    return 'rollback-health and rollback-altboot breadcrumbs created';
  },

  async 'supervisor-update'(ctx) {
    const newer = ctx.target!.supervisorVersion;
    const running = readSupervisorVersion();
    if (compareVersions(newer, running) <= 0) return `supervisor ${running} is current (new OS ships ${newer})`;
    try {
      // Sealed with its sha256 file: the launcher runs a choice only when its code matches it.
      installSupervisorCode({
        agentDir: AGENT_DIR,
        choice: SUPERVISOR_CHOICE,
        version: newer,
        code: readFileSync(`${NEW_ROOT}${OS_SUPERVISOR_CODE}`),
      });
      return supervisorUpdatedDetail(running, newer);
    } catch (err) {
      // As in the field: a supervisor update failure is only a warning.
      ctx.log.line(`warning: supervisor update failed: ${(err as Error).message}`);
      return `supervisor update failed (warning only), still ${running}`;
    }
  },

  async 'bootloader-switch'(ctx) {
    if (ctx.mounted) {
      run('umount', [NEW_ROOT]);
      ctx.mounted = false;
    }
    const env = await updateBootEnv({
      resin_root_part: ctx.roots!.inactive.slot,
      upgrade_available: '1',
      bootcount: '0',
    });
    run('sync', []);
    return `bootloader env: resin_root_part=${env.resin_root_part} upgrade_available=${env.upgrade_available} bootcount=${env.bootcount}`;
  },

  async reboot(ctx) {
    if (ctx.args.noReboot) {
      await ctx.progress.report(100, 'Update successful pending reboot.', 'done');
      return 'not rebooting (--no-reboot)';
    }
    let waited = false;
    for (;;) {
      if (lockOverride()) {
        if (waited) ctx.log.line('lock override set: rebooting now');
        break;
      }
      const held = heldExclusiveLocks();
      if (held.length === 0) break;
      if (!waited) ctx.log.line(`reboot waiting on application lock: ${held.join(' ')}`);
      await ctx.progress.report(100, 'Reboot waiting on application lock', 'waiting', 1);
      waited = true;
      await new Promise((r) => setTimeout(r, 5_000));
    }
    await ctx.progress.report(100, 'Update successful, rebooting', 'rebooting');
    run('sync', []);
    // Reboot a moment later, detached, so this process can finish its log and exit cleanly.
    spawn('sh', ['-c', 'sleep 2; reboot'], { detached: true, stdio: 'ignore' }).unref();
    return 'rebooting in 2 s';
  },
};

const STEPS = orderedSteps(HUP_STEPS, steps, STEP_MILESTONES);

/**
 * The parts of the overall bar a download fills: the fetch step's (up to the next milestone), or
 * the write-root step's when a delta failed to apply and the full image is fetched there.
 */
const FETCH_BAND = [STEP_MILESTONES.fetch![0], STEP_MILESTONES['write-root']![0] - 1] as const;
const WRITE_ROOT_BAND = [STEP_MILESTONES['write-root']![0], STEP_MILESTONES['boot-files']![0] - 1] as const;

async function fetchFull(ctx: Ctx, band: readonly [number, number]): Promise<string> {
  const { repository, manifestDigest } = ctx.target!.hostapp;
  const registries = registriesOf(ctx.config);
  const errors: string[] = [];
  // One bar over every attempt: a download that starts over on the fallback never moves it back.
  const bar = new DownloadProgress(ctx.progress, { kind: 'full', band });
  for (const reg of registries) {
    try {
      // 30 s without a byte ends an attempt; the next one resumes where it stopped (Range), so a
      // link that drops for a while costs a retry, not the download.
      const client = registryClient(ctx.config, reg, { timeoutMs: 30_000, retries: 5 });
      const { manifest } = await client.getManifest(repository, manifestDigest);
      const layer = (manifest as { layers: Array<{ digest: string; size: number }> }).layers[0]!;
      const path = `${WORK}/layer-${layer.digest.slice(7, 19)}.tar.gz`;
      const got = await client
        .fetchBlob(repository, layer.digest, path, {
          expectedSize: layer.size,
          onProgress: (b, total) => bar.update(b, total),
        })
        .finally(() => bar.finish());
      ctx.log.line(
        `download progress reported: ${bar.sent.map((p) => `${p.percent}%`).join(' ') || 'none (too quick)'}`,
      );
      if (got.resumes > 0)
        ctx.log.line(`download of ${layer.digest} resumed ${got.resumes} time(s) in ${got.attempts} attempts`);
      ctx.artifact = { kind: 'full', path, source: reg, bytes: client.bytesDownloaded };
      return fetchDetail({
        kind: 'full',
        digest: layer.digest,
        bytes: layer.size,
        source: reg,
        attempts: got.attempts,
        resumes: got.resumes,
      });
    } catch (err) {
      const why = isHuplabError(err) ? err.oneLine() : (err as Error).message;
      errors.push(`${reg}: ${why}`);
      ctx.log.line(
        `registry ${reg} failed: ${why}${reg !== registries.at(-1) ? '; trying the fallback registry' : ''}`,
      );
    }
  }
  throw new HuplabError('fetch-failed', `no registry delivered the new OS: ${errors.join('; ')}`);
}

function readSupervisorVersion(): string {
  for (const f of [SUPERVISOR_CHOICE, OS_SUPERVISOR_CONF]) {
    const v = existsSync(f) ? parseSupervisorConf(readFileSync(f, 'utf8')) : undefined;
    if (v) return v;
  }
  return '0.0.0';
}

/** After a failure: put back what this run changed on the running system, keep the app up. */
async function cleanup(ctx: Ctx): Promise<void> {
  if (ctx.mounted) run('umount', [NEW_ROOT], { allowFail: true });
  if (ctx.bootFilesChanged) {
    try {
      await installBootFiles('/', '/mnt/boot', (m) => ctx.log.line(`restore: ${m}`));
      ctx.log.line('boot files of the running OS restored');
    } catch (err) {
      ctx.log.line(`could not restore the boot files: ${(err as Error).message}`);
    }
  }
  const env = (() => {
    try {
      return readBootEnv();
    } catch {
      return undefined;
    }
  })();
  if (env && env.upgrade_available === '1' && env.resin_root_part !== ctx.roots?.active.slot) {
    await updateBootEnv({ resin_root_part: ctx.roots!.active.slot, upgrade_available: '0', bootcount: '0' }).catch(
      () => {},
    );
  }
  for (const f of BREADCRUMBS) rmSync(`${STATE}/${f}`, { force: true });
  if (ctx.supervisorStopped) run('service', ['start', 'balena-supervisor'], { allowFail: true });
}

async function main(): Promise<number> {
  const start = startUpdate('hup', STANDARD_LOG_PREFIX, parseArgs);
  if ('exit' in start) return start.exit;
  const { args, log, config } = start;
  const ctx: Ctx = {
    args,
    config,
    os: readOsInfo('/'),
    log,
    progress: new ProgressReporter(config, (m) => log.line(m)),
    summary: {},
  };
  log.line(
    `huplab standard HUP: ${ctx.os.version} -> ${args.hostosVersion} on ${config.uuid} (${ctx.os.deviceType}); log ${log.path}`,
  );
  return runSteps(ctx, STEPS, { failedLine: (why) => `OS update failed: ${why}`, cleanup });
}

exitWith('hup', main);
