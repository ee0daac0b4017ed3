/** Words and numbers as the page shows them: policy phases, statuses, times. Pure, tested. */
import type { DashboardRow, PolicyRelease } from '../wire.ts';

const PHASES: Record<PolicyRelease['phase'], string> = {
  latest: 'latest rolling release, maintained',
  superseded: 'rolling, not maintained',
  'next-esr': 'Next-ESR',
  'current-esr': 'Current-ESR',
  'sunset-esr': 'Sunset-ESR',
  eol: 'end of life',
  unpublished: 'not published yet',
};

export function phaseLabel(phase: PolicyRelease['phase']): string {
  return PHASES[phase] ?? phase;
}

/** A release's standing in a few words: "ESR 2026.10, Next-ESR, end of life 2027-07-12". */
export function releaseWords(r: PolicyRelease): string {
  if (r.line === 'rolling') {
    if (r.phase === 'superseded')
      return `rolling, not maintained since ${r.endOfLife ?? '?'}${r.supersededBy ? ` (superseded by ${r.supersededBy})` : ''}`;
    return phaseLabel(r.phase);
  }
  if (r.phase === 'eol') return `ESR ${r.line}, end of life since ${r.endOfLife ?? '?'}`;
  return `ESR ${r.line}, ${phaseLabel(r.phase)}, maintained until ${r.endOfLife ?? '?'}`;
}

/** The Status column: what the agent says; offline with the target it has not carried out yet. */
export function statusWords(row: DashboardRow): string {
  const status = row.status ?? 'Unknown';
  if (!row.online) {
    const t = row.target;
    const pending =
      t && row.targetProgress !== 'reached'
        ? [t.osVersion ? `OS ${t.osVersion}` : '', t.supervisorVersion ? `supervisor ${t.supervisorVersion}` : '']
            .filter(Boolean)
            .join(', ')
        : '';
    return pending ? `Offline, target pending: ${pending}` : 'Offline';
  }
  return status;
}

const FAILED_STATUSES: Record<string, 'os' | 'supervisor'> = {
  'OS update failed': 'os',
  'Supervisor update failed': 'supervisor',
};

/** The kind of update that failed: its target failed, or the agent says so in its status. */
function failedKind(row: DashboardRow): 'os' | 'supervisor' | undefined {
  const said = row.status ? FAILED_STATUSES[row.status] : undefined;
  if (said) return said;
  if (row.targetProgress !== 'failed') return undefined;
  const a = row.lastUpdate;
  return a?.supervisor?.outcome === 'failed' && a.os?.outcome !== 'failed' ? 'supervisor' : 'os';
}

/** "OS update failed" or "Supervisor update failed", when the last update failed. */
export function failureTitle(row: DashboardRow): string | undefined {
  const kind = failedKind(row);
  return kind === undefined ? undefined : kind === 'os' ? 'OS update failed' : 'Supervisor update failed';
}

/** Why it failed: the failed attempt's own reason. */
export function failureReason(row: DashboardRow): string | undefined {
  const kind = failedKind(row);
  if (kind === undefined) return undefined;
  const attempt = row.lastUpdate?.[kind];
  return attempt?.outcome === 'failed' && attempt.reason ? attempt.reason : 'no reason given';
}

/** "12 s ago", "3 min ago", "2 h ago", or the date. */
export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(s)) return 'never';
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return iso.slice(0, 10);
}

/** A percentage for the progress bar: 0 to 100, whole. */
export function percent(p: number | undefined): number {
  return Math.max(0, Math.min(100, Math.round(p ?? 0)));
}
