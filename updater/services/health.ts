import { existsSync, readFileSync } from 'node:fs';
import { run } from '../common/run.ts';
import { STATE_FILES, statePath } from '../../lib/contract/state-files.ts';
import { parseSupervisorRunState, SUPERVISOR_RUN_STATE } from '../../lib/contract/supervisor.ts';

export interface HealthResult {
  healthy: boolean;
  reasons: string[];
}

/**
 * The health tests rollback-health runs on a freshly updated OS: the supervisor is up with a
 * fresh heartbeat and the application runs. A marker file lets the harness make the check fail
 * on purpose (the health-fail fault), the way a broken engine would.
 */
export function checkHealth(): HealthResult {
  const reasons: string[] = [];
  const fault = statePath(STATE_FILES.faultHealth);
  if (existsSync(fault)) reasons.push(`forced unhealthy by ${fault}`);
  try {
    const s = parseSupervisorRunState(readFileSync(SUPERVISOR_RUN_STATE, 'utf8'));
    if (!s) throw new Error('not a supervisor state');
    if (Date.now() - s.heartbeat > 15_000)
      reasons.push(`supervisor heartbeat is ${Math.round((Date.now() - s.heartbeat) / 1000)} s old`);
  } catch {
    reasons.push(`supervisor has not reported (no valid ${SUPERVISOR_RUN_STATE})`);
  }
  if (run('service', ['status', 'balena-supervisor'], { allowFail: true }).code !== 0)
    reasons.push('supervisor service is not running');
  if (run('service', ['status', 'demo-app'], { allowFail: true }).code !== 0)
    reasons.push('application is not running');
  return { healthy: reasons.length === 0, reasons };
}
