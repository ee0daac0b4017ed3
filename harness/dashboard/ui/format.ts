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
    // The kinds it has not reached: a target keeps the OS version it reached when a supervisor
    // version is set later.
    const pending =
      t && row.targetProgress !== 'reached'
        ? [
            t.osVersion && t.osVersion !== row.osVersion ? `OS ${t.osVersion}` : '',
            t.supervisorVersion && t.supervisorVersion !== row.supervisorVersion
              ? `supervisor ${t.supervisorVersion}`
              : '',
          ]
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

/**
 * The Uptime of the summary: "2 h 5 min (since 2026-12-04 09:00:00 UTC)" while the device is
 * online; offline, how long it had been up when last heard from.
 */
export function uptimeWords(
  row: Pick<DashboardRow, 'bootedAt' | 'online' | 'lastSeen'>,
  now: number = Date.now(),
): string {
  if (!row.bootedAt) return 'unknown (its agent does not say)';
  const booted = Date.parse(row.bootedAt);
  const since = `since ${row.bootedAt.slice(0, 19).replace('T', ' ')} UTC`;
  if (row.online) return `${duration(now - booted)} (${since})`;
  const seen = row.lastSeen ? Date.parse(row.lastSeen) : Number.NaN;
  return Number.isFinite(seen) ? `offline; it had been up ${duration(seen - booted)} when last heard from` : 'offline';
}

/** "45 s", "12 min", "2 h 5 min", "3 d 4 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/**
 * The update logs as the page lists them: the parts of one file (the agent sends a growing log a
 * part at a time) joined under its name, in the order the files first came, each with the time
 * of its last part.
 */
export function joinLogParts(parts: ReadonlyArray<{ name: string; text: string; at: string }>) {
  const byName = new Map<string, { name: string; text: string; at: string }>();
  for (const p of parts) {
    const seen = byName.get(p.name);
    if (seen) {
      seen.text += p.text;
      seen.at = p.at;
    } else byName.set(p.name, { ...p });
  }
  return [...byName.values()];
}

/** A percentage for the progress bar: 0 to 100, whole. */
export function percent(p: number | undefined): number {
  return Math.max(0, Math.min(100, Math.round(p ?? 0)));
}
