/**
 * The OS target: asks the API how to get there (standard, advanced or refused), fetches the
 * updater it names (checked against its sha256), records the attempt and starts the updater in a
 * session of its own. The updater reports its own progress, stops the supervisor (this process)
 * and reboots; the agent of the new OS judges the attempt: done once the new OS is committed,
 * failed when the device still runs the old one.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type DeviceTarget, kindSetAt } from '../../lib/contract/fleet.ts';
import { advancedCommand, hupCommand, UPDATER_PATHS } from '../../lib/contract/updater-command.ts';
import type { OsInfo } from '../common/config.ts';
import { fsyncPath } from '../common/supervisor-install.ts';
import { type Attempts, recordAttempt } from './attempts.ts';
import type { AgentContext } from './context.ts';
import { lastUpdaterFailure, rollbackReason } from './state.ts';

/** The updater the agent started: its pid (kept on disk for the next agent) and its output. */
export function updaterFiles(agentDir: string): { pid: string; output: string } {
  return { pid: join(agentDir, 'os-updater.pid'), output: join(agentDir, 'os-updater.log') };
}

/** True while the updater this device's agent started still runs (by its pid file). */
export function updaterRunning(ctx: Pick<AgentContext, 'paths'>): boolean {
  const { pid: pidFile } = updaterFiles(ctx.paths.agentDir);
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A pid reused by another program is not the updater.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(ctx.paths.updaters.hup) || cmdline.includes(ctx.paths.updaters.advanced);
  } catch {
    return true;
  }
}

/** Why an OS attempt failed: a rollback's record, else the updater's log, else what still runs. */
export function osFailureReason(ctx: Pick<AgentContext, 'paths'>, running: string, target: string): string {
  const still = `the device still runs ${running} after the update to ${target}`;
  const rolledBack = rollbackReason(ctx.paths.stateDir);
  if (rolledBack) return `${still}: ${rolledBack}`;
  const fromLog = lastUpdaterFailure(ctx.paths.updateLogDir);
  return fromLog ? `${still}: ${fromLog}` : still;
}

export type OsStart = { started: true } | { started: false; reason: string };

/**
 * Starts the update to `target.osVersion`. Throws (ApiError) when the API cannot be asked: the
 * agent tries again at the next beat, nothing recorded. A refusal is a failed attempt.
 */
export async function startOsUpdate(
  ctx: AgentContext,
  target: DeviceTarget & { osVersion: string },
  os: OsInfo,
  onEnd: (code: number | null) => void,
): Promise<OsStart> {
  const to = target.osVersion;
  const record = (outcome: 'started' | 'failed', reason?: string): Attempts =>
    recordAttempt(
      ctx.paths.attempts,
      { kind: 'os', version: to, targetSetAt: kindSetAt(target, 'os'), outcome, ...(reason ? { reason } : {}) },
      ctx.now,
    );
  const method = await ctx.api.updateMethod({ deviceType: os.deviceType, from: os.version, to });
  if (method.method === 'refused') {
    const reason = `the API refuses the update from ${os.version} to ${to}: ${method.reason}`;
    record('failed', reason);
    ctx.log.line(`OS target ${to}: ${reason}`);
    return { started: false, reason };
  }
  if (method.method === '1.x' || method.method === '1.x-to-2.x') {
    // The 1.x paths are run by the 1.x host's own scripts, never by this (2.x) agent.
    const reason = `the API answers the ${method.method} path from ${os.version} to ${to}, which this agent does not run`;
    record('failed', reason);
    ctx.log.line(`OS target ${to}: ${reason}`);
    return { started: false, reason };
  }
  const advanced = method.method === 'advanced';
  const bundle = await ctx.api.updater(advanced);
  const path = advanced ? ctx.paths.updaters.advanced : ctx.paths.updaters.hup;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bundle, { mode: 0o644 });
  const command = (advanced ? advancedCommand({ hostosVersion: to }) : hupCommand({ hostosVersion: to })).replace(
    advanced ? UPDATER_PATHS.advanced : UPDATER_PATHS.hup,
    path,
  );
  record('started', `${method.method} update from ${os.version}`);
  const files = updaterFiles(ctx.paths.agentDir);
  mkdirSync(ctx.paths.agentDir, { recursive: true });
  ctx.log.line(`OS target ${to}: ${method.method} update from ${os.version} (${method.reason}); running ${command}`);
  const child = ctx.spawnDetached(command, files.output);
  if (child.pid !== undefined) {
    writeFileSync(files.pid, `${child.pid}\n`);
    fsyncPath(files.pid);
  }
  child.onExit((code, signal) => {
    rmSync(files.pid, { force: true });
    ctx.log.line(`the updater to ${to} exited ${code ?? signal}`);
    onEnd(code);
  });
  return { started: true };
}

/** Forgets the updater's pid file (the attempt is judged). */
export function forgetUpdater(ctx: Pick<AgentContext, 'paths'>): void {
  const f = updaterFiles(ctx.paths.agentDir).pid;
  if (existsSync(f)) rmSync(f, { force: true });
}
