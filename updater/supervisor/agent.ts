/**
 * One beat of the agent: judge the attempts against what the device runs, report the state
 * (PATCH .../state), take the target from the answer and act on it, and keep the application the
 * answer names installed (application.ts). Network failures are said (rate-limited) and the next
 * beat tries again: a device whose link was down carries its target out when it comes back.
 */
import { rmSync } from 'node:fs';
import {
  AGENT_STATUS,
  type AgentState,
  type AgentStatus,
  type DeviceTarget,
  kindSetAt,
} from '../../lib/contract/fleet.ts';
import type { OsInfo } from '../common/config.ts';
import { ensureApplication } from './application.ts';
import { type Attempts, attemptFor, readAttempts, recordAttempt, shouldAttempt } from './attempts.ts';
import type { AgentContext } from './context.ts';
import { errorLine, RateLimitedFailure } from './log.ts';
import { forgetUpdater, osFailureReason, startOsUpdate, updaterRunning } from './os-update.ts';
import { pendingBreadcrumbs, staleInstallDirs } from './state.ts';
import { upgradeSupervisor } from './supervisor-upgrade.ts';
import { uploadLogs } from './log-upload.ts';

/** What the agent does in this process, beyond what its files say. */
interface Busy {
  /** The updater it started still runs. */
  os: boolean;
  /** It installed a supervisor and asked for its restart: it waits to be stopped. */
  restarting: boolean;
}

/** How long the agent waits to be stopped by the restart it asked for before it gives up waiting. */
export const RESTART_WAIT_MS = 60_000;

/**
 * How long an updater that finished well may leave the device on the old OS before the attempt
 * counts as failed. The advanced updater exits once it has handed the device over to takeover,
 * which then flashes and reboots it (minutes on a slow board); its exit is no verdict.
 */
export const REBOOT_WAIT_MS = 15 * 60_000;

export interface StatusInput {
  attempts: Attempts;
  breadcrumbs: readonly string[];
  /** The target of the last heartbeat; undefined when none was heard yet. */
  target: DeviceTarget | undefined | null;
  busy: Busy;
  osVersion: string;
  supervisorVersion: string;
}

/** The status a heartbeat reports (AGENT_STATUS). */
export function agentStatus(s: StatusInput): AgentStatus {
  if (s.busy.os) return AGENT_STATUS.updatingOs;
  if (s.busy.restarting) return AGENT_STATUS.updatingSupervisor;
  if (s.breadcrumbs.length > 0) return AGENT_STATUS.verifyingOs;
  const { os, supervisor } = s.attempts;
  if (os?.outcome === 'started') return AGENT_STATUS.updatingOs;
  if (supervisor?.outcome === 'started') return AGENT_STATUS.updatingSupervisor;
  // A failure counts while the target it was for is the current one (or none was heard yet).
  const current = (a: typeof os) =>
    !!a && (s.target === null || (s.target !== undefined && attemptFor(s.attempts, a.kind, s.target) === a));
  if (os?.outcome === 'failed' && current(os) && s.osVersion !== os.version) return AGENT_STATUS.osFailed;
  if (supervisor?.outcome === 'failed' && current(supervisor) && s.supervisorVersion !== supervisor.version)
    return AGENT_STATUS.supervisorFailed;
  return AGENT_STATUS.idle;
}

export class Agent {
  /** null: no heartbeat answered yet. */
  private target: DeviceTarget | undefined | null = null;
  private readonly busy: Busy = { os: false, restarting: false };
  private restartAskedAt = 0;
  /** When the updater this agent started exited 0: the reboot into the new OS is under way. */
  private updaterDoneAt: number | undefined;
  /** Progress reports owed for attempts judged here, sent after the next heartbeat that gets through. */
  private readonly owed: Array<{ percent: number; message: string; status: string }> = [];
  private readonly network: RateLimitedFailure;
  private readonly acting: RateLimitedFailure;
  private readonly fetching: RateLimitedFailure;

  constructor(private readonly ctx: AgentContext) {
    this.network = new RateLimitedFailure(ctx.log, 'talking to the API');
    this.acting = new RateLimitedFailure(ctx.log, 'carrying out the target');
    this.fetching = new RateLimitedFailure(ctx.log, 'fetching the application');
    // An install a power cut interrupted: its partial folder is never used, and goes.
    for (const dir of staleInstallDirs(ctx.paths.agentDir)) {
      rmSync(dir, { recursive: true, force: true });
      ctx.log.line(`removed ${dir}, left by an interrupted install`);
    }
  }

  /** Judges 'started' attempts against what runs now; returns the record after. */
  settle(os: OsInfo, breadcrumbs: readonly string[]): Attempts {
    const { ctx } = this;
    let attempts = readAttempts(ctx.paths.attempts);
    const a = attempts.os;
    if (a?.outcome === 'started' && !this.busy.os && breadcrumbs.length === 0) {
      if (os.version === a.version) {
        attempts = recordAttempt(
          ctx.paths.attempts,
          { ...a, outcome: 'done', reason: `running ${a.version}` },
          ctx.now,
        );
        forgetUpdater(ctx);
        this.updaterDoneAt = undefined;
        ctx.log.line(`OS update to ${a.version} done: the new OS is committed`);
      } else if (!updaterRunning(ctx) && !this.awaitingReboot()) {
        const failure = osFailureReason(ctx, os.version, a.version);
        const reason =
          this.updaterDoneAt === undefined
            ? failure
            : `${failure}: the updater finished, yet no reboot came within ${REBOOT_WAIT_MS / 60_000} min`;
        attempts = recordAttempt(ctx.paths.attempts, { ...a, outcome: 'failed', reason }, ctx.now);
        forgetUpdater(ctx);
        this.updaterDoneAt = undefined;
        ctx.log.line(`OS update to ${a.version} failed: ${reason}`);
      }
    }
    if (this.busy.restarting && ctx.now().getTime() - this.restartAskedAt > RESTART_WAIT_MS) {
      ctx.log.line(`the supervisor was not restarted within ${RESTART_WAIT_MS / 1000} s`);
      this.busy.restarting = false;
    }
    const s = attempts.supervisor;
    if (s?.outcome === 'started' && !this.busy.restarting) {
      if (ctx.version === s.version) {
        attempts = recordAttempt(
          ctx.paths.attempts,
          { ...s, outcome: 'done', reason: `running ${s.version}` },
          ctx.now,
        );
        ctx.log.line(`supervisor upgrade to ${s.version} done`);
        this.owed.push({ percent: 100, message: `Supervisor updated to ${s.version}`, status: 'done' });
      } else {
        const reason = `the supervisor still runs ${ctx.version} after the upgrade to ${s.version} (interrupted, or the launcher refused the installed code: see the console)`;
        attempts = recordAttempt(ctx.paths.attempts, { ...s, outcome: 'failed', reason }, ctx.now);
        ctx.log.line(`supervisor upgrade to ${s.version} failed: ${reason}`);
        this.owed.push({
          percent: 0,
          message: `Supervisor update failed: ${reason}`,
          status: AGENT_STATUS.supervisorFailed,
        });
      }
    }
    return attempts;
  }

  /** The updater finished well in this boot and its reboot may still come. */
  private awaitingReboot(): boolean {
    return this.updaterDoneAt !== undefined && this.ctx.now().getTime() - this.updaterDoneAt < REBOOT_WAIT_MS;
  }

  /** The heartbeat's body as things stand. */
  state(os: OsInfo, breadcrumbs: readonly string[], attempts: Attempts): AgentState {
    const status = agentStatus({
      attempts,
      breadcrumbs,
      target: this.target,
      busy: this.busy,
      osVersion: os.version,
      supervisorVersion: this.ctx.version,
    });
    const lastUpdate = {
      ...(attempts.os ? { os: attempts.os } : {}),
      ...(attempts.supervisor ? { supervisor: attempts.supervisor } : {}),
    };
    const uptime = this.ctx.uptime?.();
    return {
      osVersion: os.version,
      supervisorVersion: this.ctx.version,
      status,
      ...(attempts.os || attempts.supervisor ? { lastUpdate } : {}),
      ...(uptime !== undefined && Number.isFinite(uptime) && uptime >= 0 ? { uptimeSeconds: Math.floor(uptime) } : {}),
    };
  }

  /** One beat: settle, report, act. Never throws. */
  async beat(): Promise<void> {
    const { ctx } = this;
    try {
      const os = ctx.readOs();
      const breadcrumbs = pendingBreadcrumbs(ctx.paths.stateDir);
      const attempts = this.settle(os, breadcrumbs);
      let target: DeviceTarget | undefined;
      try {
        target = await ctx.api.heartbeat(this.state(os, breadcrumbs, attempts));
        this.network.ok();
      } catch (err) {
        this.network.failed(errorLine(err));
        return;
      }
      this.target = target;
      while (this.owed.length > 0) {
        const r = this.owed[0]!;
        if (!(await ctx.api.progress(r.percent, r.message, r.status))) break;
        this.owed.shift();
      }
      await this.keepApplication();
      if (await this.act(target, os, breadcrumbs, attempts)) {
        // Say the new status now rather than a beat later (the supervisor may be stopped first).
        const after = readAttempts(ctx.paths.attempts);
        await ctx.api.heartbeat(this.state(os, breadcrumbs, after)).catch(() => undefined);
      }
      await uploadLogs({
        dir: ctx.paths.updateLogDir,
        sentFile: ctx.paths.logsSent,
        send: (name, text) => ctx.api.log(name, text),
        log: (line) => ctx.log.line(line),
      });
    } catch (err) {
      ctx.log.line(`beat failed: ${errorLine(err)}`);
    }
  }

  /**
   * Keeps the application the API named installed and started, unless an OS update runs (it
   * stops the application itself, and the reboot follows). Failures are said rate-limited; the
   * next beat tries again.
   */
  private async keepApplication(): Promise<void> {
    const app = this.ctx.api.application;
    if (!app || this.busy.os) return;
    try {
      await ensureApplication(this.ctx, app);
      this.fetching.ok();
    } catch (err) {
      this.fetching.failed(errorLine(err));
    }
  }

  /** Carries out the target when nothing is in progress; true when it started or judged something. */
  async act(
    target: DeviceTarget | undefined,
    os: OsInfo,
    breadcrumbs: readonly string[],
    attempts: Attempts,
  ): Promise<boolean> {
    const { ctx } = this;
    if (!target || this.busy.os || this.busy.restarting || breadcrumbs.length > 0) return false;
    if (attempts.os?.outcome === 'started' || attempts.supervisor?.outcome === 'started') return false;
    try {
      if (target.osVersion !== undefined && shouldAttempt(attempts, 'os', target, os.version)) {
        this.busy.os = true;
        const r = await startOsUpdate(ctx, { ...target, osVersion: target.osVersion }, os, (code) => {
          this.busy.os = false;
          if (code === 0) this.updaterDoneAt = ctx.now().getTime();
          else {
            const a = readAttempts(ctx.paths.attempts).os;
            if (a?.outcome === 'started' && a.targetSetAt === kindSetAt(target, 'os')) {
              const reason = osFailureReason(ctx, os.version, a.version);
              recordAttempt(ctx.paths.attempts, { ...a, outcome: 'failed', reason }, ctx.now);
            }
          }
        }).catch((err: unknown) => {
          this.busy.os = false;
          throw err;
        });
        if (!r.started) this.busy.os = false;
        this.acting.ok();
        return true;
      }
      if (
        target.supervisorVersion !== undefined &&
        shouldAttempt(attempts, 'supervisor', target, ctx.version) &&
        // An OS target still to be reached goes first.
        (target.osVersion === undefined || target.osVersion === os.version || attemptFor(attempts, 'os', target))
      ) {
        const r = await upgradeSupervisor(ctx, { ...target, supervisorVersion: target.supervisorVersion }, os);
        if (r.kind === 'restarting') {
          this.busy.restarting = true;
          this.restartAskedAt = ctx.now().getTime();
        }
        this.acting.ok();
        return true;
      }
      this.acting.ok();
    } catch (err) {
      this.acting.failed(errorLine(err));
    }
    return false;
  }
}
