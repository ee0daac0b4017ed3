/**
 * The resinOS 1.x -> 1.x updater (the field's run-resinhup.sh / upgrade-1.x.sh), run on the
 * device by Node as the other updaters: one update at a time (the field's lock), cross-checks
 * before anything stops, the supervisor and the application stopped, the updater tools fetched
 * from the API as an artifact of their own and checked against their digest, then run (the
 * fingerprint check, the new OS onto the spare root and the boot partition, config.json, the
 * switch: updater/onex/resinhup-main.ts), the supervisor updated when the new OS ships a newer
 * one, the reboot. Its log is the field's /mnt/data/resinhup/run-resinhup.sh.log, its progress
 * the field's percentages and words. Exit 0: switched and rebooting; 3: already updated, nothing
 * changed; 1: failed, the running OS as it was and its services started again (the field left
 * them stopped).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { downloadVerified } from '../../lib/oci/download.ts';
import { compareVersions } from '../../lib/versions.ts';
import { LAYOUT_1X } from '../../lib/partition/resin-1x.ts';
import { timedDetail } from '../../lib/contract/steps.ts';
import {
  ONEX_EXIT,
  ONEX_TOOLS_ARTIFACT,
  ONEX_UPDATE_PATHS,
  onexFailedAfterLine,
  onexStartLine,
  parseOnexChecks,
  type OnexUpdateStep,
} from '../../lib/contract/onex.ts';
import { LIMITS_1X } from '../../lib/update-method.ts';
import { OS_SUPERVISOR_CODE, parseSupervisorConf, supervisorUpdatedDetail } from '../../lib/contract/supervisor.ts';
import { AGENT_DIR } from '../../lib/contract/fleet.ts';
import { readDeviceConfig, readOsInfo, type DeviceConfig, type OsInfo } from '../common/config.ts';
import { reexecUnderUpdateLock } from '../common/exclusive.ts';
import { ProgressReporter } from '../common/progress.ts';
import { requireDataSpace } from '../common/data-space.ts';
import { run } from '../common/run.ts';
import { installSupervisorCode } from '../common/supervisor-install.ts';
import type { Roots } from '../common/partitions.ts';
import { OnexLog } from './log.ts';
import { reportStage, type OnexStage } from './progress.ts';
import { apiBase, apiJson, authHeaders, releaseRecord, type OnexRelease } from './release.ts';
import { startServices, stopServices } from './services.ts';
import { findOnexRoots } from './spare-root.ts';
import { parseOnexArgs, toolsArgs, type OnexArgs } from './update-args.ts';

/** The agent's choice on a 1.x root (no state partition: a folder of the root, kept by the update). */
const ROOT_CHOICE = '/mnt/state/supervisor.conf';
const NEW_ROOT = '/run/hup-1x/new-root';

interface Ctx {
  args: OnexArgs;
  config: DeviceConfig;
  os: OsInfo;
  log: OnexLog;
  progress: ProgressReporter;
  target?: OnexRelease;
  roots?: Roots;
  stopped: string[];
  /** The supervisor the new OS ships, when newer than the one running. */
  newerSupervisor?: { running: string; newer: string };
}

/** "Already updated": not a failure, the field's exit 3. */
class AlreadyUpdated extends Error {}

function runningSupervisor(): string {
  for (const f of [ROOT_CHOICE, '/etc/balena-supervisor/supervisor.conf']) {
    const v = existsSync(f) ? parseSupervisorConf(readFileSync(f, 'utf8')) : undefined;
    if (v) return v;
  }
  return '0.0.0';
}

interface Step {
  name: OnexUpdateStep;
  stage?: OnexStage;
  run(ctx: Ctx): Promise<string>;
}

const STEPS: Step[] = [
  {
    name: 'checks',
    stage: 'preparing',
    async run(ctx) {
      const { config, os, args } = ctx;
      if (config.deviceType !== os.deviceType)
        throw new HuplabError(
          'wrong-device-type',
          `config.json says device type ${config.deviceType} but the OS is built for ${os.deviceType}`,
        );
      if (os.layout !== LAYOUT_1X)
        throw new HuplabError('not-1x', `this device runs ${os.version} (${os.layout}), not resinOS 1.x`, {
          hint: 'use the standard updater',
        });
      const target = await releaseRecord(config, args.hostosVersion, os.deviceType);
      if (target.layout !== LAYOUT_1X)
        throw new HuplabError(
          'not-1x',
          `${target.version} is not a resinOS 1.x release (${target.layout}): that is the 1.x -> 2.x migration`,
        );
      // The field's limits (balena-hup-action-utils' resinhup11), as the method's choice has them.
      if (compareVersions(os.version, LIMITS_1X.minSource) < 0)
        throw new HuplabError(
          'version-unsupported',
          `the running ${os.version} is too low for a host OS update, need ${LIMITS_1X.minSource} or greater`,
        );
      if (compareVersions(target.version, LIMITS_1X.min1xTarget) < 0)
        throw new HuplabError(
          'version-unsupported',
          `target ${target.version} is older than ${LIMITS_1X.min1xTarget}, the oldest this updater takes`,
        );
      if (compareVersions(os.version, target.version) >= 0)
        throw new AlreadyUpdated(`the device runs ${os.version}, not older than the target ${target.version}`);
      ctx.target = target;
      ctx.roots = findOnexRoots();
      requireDataSpace();
      return `device ${os.deviceType}, ${os.version} -> ${target.version}, running ${ctx.roots.active.device}, writing ${ctx.roots.inactive.device}`;
    },
  },
  {
    name: 'stop-services',
    async run(ctx) {
      ctx.stopped = stopServices((m) => ctx.log.line(m));
      return `stopped: ${ctx.stopped.join(' ') || 'none'}`;
    },
  },
  {
    name: 'supervisor-check',
    stage: 'supervisor',
    async run(ctx) {
      const running = runningSupervisor();
      const newer = ctx.target!.supervisorVersion;
      if (compareVersions(newer, running) <= 0)
        return `supervisor ${running} is current (${ctx.target!.version} ships ${newer})`;
      ctx.newerSupervisor = { running, newer };
      return `supervisor ${running} -> ${newer} once the new OS is written`;
    },
  },
  {
    name: 'fetch-tools',
    stage: 'preparing2',
    async run(ctx) {
      const listed = await apiJson<{ tools: Array<{ name: string; sha256: string; size: number }> }>(
        ctx.config,
        '/v1/takeover',
        (line) => ctx.log.line(line),
      );
      const t = listed.tools.find((x) => x.name === ONEX_TOOLS_ARTIFACT);
      if (!t)
        throw new HuplabError(
          'no-updater-tools',
          `the API has no ${ONEX_TOOLS_ARTIFACT} (has: ${listed.tools.map((x) => x.name).join(', ') || 'none'})`,
        );
      mkdirSync(dirname(ONEX_UPDATE_PATHS.tools), { recursive: true });
      const base = apiBase(ctx.config);
      await downloadVerified({
        url: new URL(`${base}/v1/takeover/${ONEX_TOOLS_ARTIFACT}`),
        digest: `sha256:${t.sha256}`,
        destPath: ONEX_UPDATE_PATHS.tools,
        source: `API ${base}`,
        what: ONEX_TOOLS_ARTIFACT,
        timeoutMs: 30_000,
        retries: 3,
        retryDelayMs: 1_000,
        expectedSize: t.size,
        headers: authHeaders(ctx.config),
      });
      return `${ONEX_TOOLS_ARTIFACT} ${t.size} bytes, sha256:${t.sha256.slice(0, 12)} checked`;
    },
  },
  {
    name: 'resinhup',
    stage: 'running',
    async run(ctx) {
      const out: string[] = [];
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [ONEX_UPDATE_PATHS.tools, ...toolsArgs(ctx.args)], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        // The field appended the tools' output to its own log.
        for (const stream of [child.stdout, child.stderr])
          createInterface({ input: stream }).on('line', (l) => {
            out.push(l);
            ctx.log.forward(l);
          });
        child.on('error', reject);
        child.on('close', (c) => resolve(c ?? ONEX_EXIT.failed));
      });
      if (code !== ONEX_EXIT.ok) {
        const refused = parseOnexChecks(out.join('\n')).refused;
        throw new HuplabError(
          refused?.code ?? 'resinhup-failed',
          refused?.message ?? `the updater tools failed (exit ${code}): ${out.at(-1) ?? ''}`,
        );
      }
      return 'new OS on the spare root, boot files and config.json migrated, bootloader switched';
    },
  },
  {
    name: 'supervisor-update',
    stage: 'finalizing',
    async run(ctx) {
      const s = ctx.newerSupervisor;
      if (!s) return 'no supervisor update needed';
      const dev = ctx.roots!.inactive.device;
      mkdirSync(NEW_ROOT, { recursive: true });
      run('mount', ['-t', 'ext4', dev, NEW_ROOT]);
      try {
        // The choice lives on the root on 1.x: the new root's (kept from this one) names it.
        installSupervisorCode({
          agentDir: AGENT_DIR,
          choice: `${NEW_ROOT}${ROOT_CHOICE}`,
          version: s.newer,
          code: readFileSync(`${NEW_ROOT}${OS_SUPERVISOR_CODE}`),
        });
      } catch (err) {
        // As in the field: a supervisor update failure is a warning only.
        ctx.log.line(`warning: supervisor update failed: ${(err as Error).message}`);
        return `supervisor update failed (warning only), still ${s.running}`;
      } finally {
        run('sync', []);
        run('umount', [NEW_ROOT], { allowFail: true });
      }
      return supervisorUpdatedDetail(s.running, s.newer);
    },
  },
  {
    name: 'reboot',
    async run(ctx) {
      run('sync', []);
      await reportStage(ctx.progress, ctx.args.noReboot ? 'doneNoReboot' : 'done');
      if (ctx.args.noReboot) return 'not rebooting (--no-reboot)';
      spawn('sh', ['-c', 'sleep 2; reboot'], { detached: true, stdio: 'ignore' }).unref();
      return 'rebooting in 2 s';
    },
  },
];

async function main(): Promise<number> {
  let args: OnexArgs;
  try {
    args = parseOnexArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`hup-1x: ${isHuplabError(err) ? err.oneLine() : String(err)}\n`);
    return ONEX_EXIT.usage;
  }
  const locked = reexecUnderUpdateLock('hup-1x', ONEX_EXIT.locked, ONEX_EXIT.failed);
  if (locked !== undefined) return locked;
  const log = new OnexLog();
  const configPath = existsSync('/mnt/boot/config.json') ? '/mnt/boot/config.json' : '/mnt/conf/config.json';
  let config: DeviceConfig;
  try {
    config = readDeviceConfig(configPath);
  } catch (err) {
    log.line(`ERROR: ${isHuplabError(err) ? err.oneLine() : String(err)} (the API cannot be told)`);
    return ONEX_EXIT.failed;
  }
  const ctx: Ctx = {
    args,
    config,
    os: readOsInfo('/'),
    log,
    progress: new ProgressReporter(config, (m) => log.line(m)),
    stopped: [],
  };
  log.line(
    onexStartLine({ from: ctx.os.version, to: args.hostosVersion, uuid: config.uuid, deviceType: ctx.os.deviceType }),
  );
  const started = Date.now();
  let current = '';
  try {
    for (const step of STEPS) {
      current = step.name;
      log.marker(step.name, 'start');
      if (step.stage) await reportStage(ctx.progress, step.stage);
      const t0 = Date.now();
      const detail = await step.run(ctx);
      log.marker(step.name, 'done', timedDetail((Date.now() - t0) / 1000, detail));
    }
    return ONEX_EXIT.ok;
  } catch (err) {
    if (err instanceof AlreadyUpdated) {
      log.marker(current, 'done', timedDetail((Date.now() - started) / 1000, `already updated: ${err.message}`));
      await reportStage(ctx.progress, 'alreadyUpdated');
      return ONEX_EXIT.alreadyUpdated;
    }
    const why = isHuplabError(err) ? err.oneLine() : err instanceof Error ? err.message : String(err);
    log.marker(current, 'failed', why);
    log.line(onexFailedAfterLine((Date.now() - started) / 1000));
    startServices(ctx.stopped, (m) => log.line(m));
    await reportStage(ctx.progress, 'failed');
    return ONEX_EXIT.failed;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`hup-1x: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(ONEX_EXIT.failed);
  },
);
