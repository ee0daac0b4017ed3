/**
 * Where the device stands, read from its disks: the update breadcrumbs on the state partition,
 * and the latest updater log's last failure line (the reason an OS update failed).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BREADCRUMBS, STATE_FILES } from '../../lib/contract/state-files.ts';
import { parseUpdateFailedReason } from '../../lib/contract/update-log.ts';
import { STANDARD_LOG_NAME_RE } from '../../lib/contract/updater-command.ts';

/** The breadcrumbs of an OS update not yet committed (or rolled back). */
export function pendingBreadcrumbs(stateDir: string): string[] {
  return BREADCRUMBS.filter((f) => existsSync(join(stateDir, f)));
}

/** The newest updater log's failure reason, if it has one (one line). */
export function lastUpdaterFailure(logDir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(logDir)
      .filter((n) => STANDARD_LOG_NAME_RE.test(n) || /^upgrade-.*\.log$/.test(n))
      .sort();
  } catch {
    return undefined;
  }
  const newest = names.at(-1);
  if (!newest) return undefined;
  let lines: string[];
  try {
    lines = readFileSync(join(logDir, newest), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  // Lines are "<ISO time> <message>".
  const messages = lines.map((l) => l.replace(/^\d{4}-\d\d-\d\dT\S+ /, '').trim()).filter(Boolean);
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    const reason = parseUpdateFailedReason(m);
    if (reason) return reason;
    if (/\b(error|failed|refus)/i.test(m) && !/warning/i.test(m)) return m.slice(0, 300);
  }
  return undefined;
}

/** What a rollback left on the state partition, in words; undefined when there was none. */
export function rollbackReason(stateDir: string): string | undefined {
  if (existsSync(join(stateDir, STATE_FILES.healthFailed)))
    return 'rollback-health rolled the new OS back but could not restore the old boot files';
  if (existsSync(join(stateDir, STATE_FILES.healthTriggered)))
    return 'rollback-health found the new OS unhealthy and rolled it back';
  if (existsSync(join(stateDir, STATE_FILES.altbootTriggered)))
    return 'the new OS did not boot; rollback-altboot restored the old one';
  return undefined;
}

/** Leftovers of an install a power cut interrupted (hidden folders of the agent's folder). */
export function staleInstallDirs(agentDir: string): string[] {
  try {
    return readdirSync(agentDir)
      .filter((n) => /^\..+\.(partial|blobs)$|^\..+\.old-[0-9a-f]+$/.test(n))
      .map((n) => join(agentDir, n));
  } catch {
    return [];
  }
}
