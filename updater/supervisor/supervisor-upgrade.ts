/**
 * The supervisor target: the release's record from the API, the seeds' rules asked again on the
 * device (supervisorUpgradeRefusal), the image pulled by digest and installed (install.ts), then
 * the supervisor service restarted on the new choice without a reboot and without touching the
 * application. The attempt stays 'started' until the new version runs and marks it done.
 */
import { type DeviceTarget, kindSetAt } from '../../lib/contract/fleet.ts';
import { AGENT_STATUS } from '../../lib/contract/fleet.ts';
import { supervisorUpgradeRefusal } from '../../lib/supervisor-policy.ts';
import type { OsInfo } from '../common/config.ts';
import { registriesOf } from '../common/registry.ts';
import { recordAttempt } from './attempts.ts';
import { ApiError } from './api-client.ts';
import type { AgentContext } from './context.ts';
import { pullAndInstall } from './install.ts';
import { errorLine } from './log.ts';

export type SupervisorOutcome = { kind: 'restarting'; dir: string } | { kind: 'failed'; reason: string };

/** The command that restarts the supervisor service on the state partition's choice. */
export function restartCommand(initScript: string): string {
  // Run detached: `stop` kills this process's group, the shell is in a session of its own.
  return `sleep 1; ${initScript} stop; ${initScript} start`;
}

/**
 * Carries out `target.supervisorVersion`. Throws (ApiError) when the API cannot be asked for the
 * release: nothing is recorded and the next beat tries again.
 */
export async function upgradeSupervisor(
  ctx: AgentContext,
  target: DeviceTarget & { supervisorVersion: string },
  os: OsInfo,
): Promise<SupervisorOutcome> {
  const to = target.supervisorVersion;
  const record = (outcome: 'started' | 'failed', reason?: string) =>
    recordAttempt(
      ctx.paths.attempts,
      {
        kind: 'supervisor',
        version: to,
        targetSetAt: kindSetAt(target, 'supervisor'),
        outcome,
        ...(reason ? { reason } : {}),
      },
      ctx.now,
    );
  const fail = async (reason: string, report: boolean): Promise<SupervisorOutcome> => {
    record('failed', reason);
    ctx.log.line(`supervisor target ${to}: failed: ${reason}; ${ctx.version} keeps running`);
    if (report)
      await ctx.api.progress(0, `Supervisor update failed: ${reason}`.slice(0, 1000), AGENT_STATUS.supervisorFailed);
    return { kind: 'failed', reason };
  };

  let release: Awaited<ReturnType<AgentContext['api']['supervisorRelease']>>;
  try {
    release = await ctx.api.supervisorRelease(to, os.arch);
  } catch (err) {
    if (err instanceof ApiError && (err.network || err.status === undefined || err.status >= 500)) throw err;
    return fail(errorLine(err), true);
  }
  const refusal = supervisorUpgradeRefusal({
    osVersion: os.version,
    current: ctx.version,
    target: to,
    targetMinOs: release.minOsVersion,
    confirmMajor: target.confirmMajor === true,
  });
  if (refusal) return fail(`${refusal.rule}: ${refusal.reason}`, true);

  record('started', `from ${ctx.version}`);
  ctx.log.line(`supervisor target ${to}: pulling ${release.image.repository}@${release.image.manifestDigest}`);
  await ctx.api.progress(10, `Downloading supervisor ${to}`, 'updating');
  let lastReport = Date.now();
  try {
    const installed = await pullAndInstall({
      version: to,
      arch: os.arch,
      image: release.image,
      registries: registriesOf(ctx.config),
      client: (r) => ctx.registryClient(r),
      agentDir: ctx.paths.agentDir,
      choice: ctx.paths.choice,
      log: (m) => ctx.log.line(m),
      onProgress: (bytes, total) => {
        if (Date.now() - lastReport < 2_000 || !total) return;
        lastReport = Date.now();
        void ctx.api.progress(10 + Math.floor((70 * bytes) / total), `Downloading supervisor ${to}`, 'updating');
      },
    });
    ctx.log.line(
      `supervisor ${to} installed in ${installed.dir} from ${installed.registry} (sha256 ${installed.sha256.slice(0, 12)}); restarting the supervisor on it`,
    );
    await ctx.api.progress(90, `Restarting the supervisor on ${to}`, 'updating');
    ctx.spawnDetached(restartCommand(ctx.paths.initScript), `${ctx.paths.agentDir}/restart.log`);
    return { kind: 'restarting', dir: installed.dir };
  } catch (err) {
    return fail(errorLine(err), true);
  }
}
