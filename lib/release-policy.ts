/**
 * The support policy of the seeds ("balenaOS support policy"): which releases are maintained at a
 * date, which ESR phase a line is in, when it reaches end of life, and which updates a device may
 * take. Pure functions over the recipes' facts and a date given by the caller: no file is read
 * here (images/recipe.ts loads the recipes) and no clock is read (the caller passes "now").
 *
 * - Rolling: only the latest rolling release of a device type (by version) is maintained; the
 *   previous one stops being maintained the day a newer one is published.
 * - ESR: a line is named year.month of its first release, one per quarter (2026.1, 2026.4, ...).
 *   It is supported for 9 months from that first release, in three phases named for the support
 *   left: `next-esr` its first 3 months, `current-esr` the next 3, `sunset-esr` the final 3, then
 *   `eol`. A line takes only patch releases of its own major.minor (fixes, no new features), and
 *   they share the line's end of life.
 * - Jumps: a standard update is guaranteed (qualified) for a jump of at most MAX_JUMP_QUARTERS
 *   quarters, counted from the quarter of the release the device runs to that of the target: an
 *   ESR release counts from its line's quarter, a rolling release from the quarter it was
 *   published in. Two quarters is the span of the ESR lines supported at the same time, so a
 *   device on a `sunset-esr` line reaches the `next-esr` one, and a rolling release reaches the
 *   rolling releases of the next two quarters. A larger jump is allowed but not guaranteed.
 *
 * Version order (downgrades, the same version) and the update method are not decided here: see
 * chooseUpdateMethod (lib/update-method.ts).
 */
import { HuplabError } from './errors.ts';
import { compareVersions, sortVersions } from './versions.ts';

/** The rolling line's name in a recipe. */
export const ROLLING = 'rolling';
/** An ESR line is supported this many months from its first release... */
export const ESR_SUPPORT_MONTHS = 9;
/** ...in three phases of this many months each. */
export const ESR_PHASE_MONTHS = 3;
/** The months a new ESR line may start in: one line a quarter. */
export const ESR_LINE_MONTHS: readonly number[] = [1, 4, 7, 10];
/** The largest jump, in quarters, a standard update is qualified (guaranteed) for. */
export const MAX_JUMP_QUARTERS = 2;

/** What the policy needs of a release recipe. */
export interface ReleaseFacts {
  version: string;
  /** Publication date, RFC 3339. */
  date: string;
  /** `rolling`, or an ESR line's name (year.month of its first release, e.g. 2026.7). */
  line: string;
  deviceTypes: readonly string[];
}

export type EsrPhase = 'next-esr' | 'current-esr' | 'sunset-esr' | 'eol';
/** A rolling release is `latest` (maintained) or `superseded`; any release is `unpublished` before its date. */
export type Phase = 'latest' | 'superseded' | EsrPhase | 'unpublished';

/** A release as the policy sees it at a date, for one device type. */
export interface ReleaseStatus {
  version: string;
  line: string;
  /** Publication day, YYYY-MM-DD. */
  published: string;
  phase: Phase;
  maintained: boolean;
  /**
   * The day maintenance ends (YYYY-MM-DD): an ESR line's end of life, or the day a newer rolling
   * release was published. Undefined for the latest rolling release (until a newer one appears)
   * and for a release not published yet.
   */
  endOfLife?: string;
  /** An ESR release: the day its line's first release was published (YYYY-MM-DD). */
  lineStart?: string;
  /** A superseded rolling release: the release that superseded it. */
  supersededBy?: string;
}

/**
 * Why a target is or is not allowed, the first rule that applies, in this order. `allowed: false`
 * (a refusal, unless the user allows unsupported targets) for every rule but `supported` and
 * `not-guaranteed`; `not-guaranteed` is allowed with a warning.
 */
export type PolicyRule =
  | 'unknown-release'
  | 'not-for-device'
  | 'not-published'
  | 'end-of-life'
  | 'not-maintained'
  | 'not-guaranteed'
  | 'supported';

export interface TargetVerdict {
  target: string;
  rule: PolicyRule;
  /** False: refused, unless the user allows unsupported targets. */
  allowed: boolean;
  /** The jump is within MAX_JUMP_QUARTERS (only meaningful for an allowed target). */
  guaranteed: boolean;
  /** One line: the rule, the releases and the dates. */
  reason: string;
}

/** A recipe whose line or date breaks the policy: its version, the field, what is wrong. */
export interface LineProblem {
  version: string;
  field: 'line' | 'date';
  message: string;
}

// ---------------------------------------------------------------------------------------------
// Dates

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** YYYY-MM-DD of a date, in UTC. */
export function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/**
 * A date a user names (`--at`, an API query): YYYY-MM-DD (midnight UTC) or an RFC 3339 date-time,
 * with a real calendar day (2026-02-30 is refused, not rolled into March); anything else is a
 * one-line error naming `what`.
 */
export function parsePolicyDate(text: string, what = 'date'): Date {
  const m = DATE_RE.exec(text);
  const d = m ? new Date(m[4] ? text : `${text}T00:00:00Z`) : undefined;
  // The calendar day as written: Date rolls an impossible day over into the next month.
  const calendar = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : undefined;
  const real =
    m !== null &&
    d !== undefined &&
    !Number.isNaN(d.getTime()) &&
    calendar!.getUTCMonth() + 1 === Number(m[2]) &&
    calendar!.getUTCDate() === Number(m[3]);
  if (!real) {
    throw new HuplabError('bad-date', `${what} "${text}" is not a date`, {
      hint: 'use YYYY-MM-DD (midnight UTC), e.g. 2026-12-04, or a date-time such as 2026-12-04T12:00:00Z',
    });
  }
  return d!;
}

/** `d` plus `months` calendar months in UTC; a day past the month's end becomes its last day. */
export function addMonths(d: Date, months: number): Date {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + months;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(y, m, Math.min(d.getUTCDate(), last), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()),
  );
}

/** Quarters since year 0: 2026 Q1 is 2026 * 4. */
function quarterOf(year: number, month: number): number {
  return year * 4 + Math.floor((month - 1) / 3);
}

function quarterName(q: number): string {
  return `${Math.floor(q / 4)} Q${(q % 4) + 1}`;
}

// ---------------------------------------------------------------------------------------------
// Lines

/** An ESR line's name parsed: year and month of its first release; undefined for anything else. */
export function parseEsrLine(line: string): { year: number; month: number } | undefined {
  const m = /^(\d{4})\.(\d{1,2})$/.exec(line);
  if (!m) return undefined;
  const month = Number(m[2]);
  if (!ESR_LINE_MONTHS.includes(month) || m[2]!.startsWith('0')) return undefined;
  return { year: Number(m[1]), month };
}

export function isEsrLine(line: string): boolean {
  return parseEsrLine(line) !== undefined;
}

function majorMinor(version: string): string {
  return version.split(/[-+]/)[0]!.split('.').slice(0, 2).join('.');
}

/** The releases of a line, oldest publication first (then by version). */
function releasesOfLine(facts: readonly ReleaseFacts[], line: string): ReleaseFacts[] {
  return facts
    .filter((r) => r.line === line)
    .sort((a, b) => Date.parse(a.date) - Date.parse(b.date) || sortVersions(a.version, b.version));
}

/** An ESR line's first release: the one its phases and end of life count from. */
function lineFirst(facts: readonly ReleaseFacts[], line: string): ReleaseFacts | undefined {
  return releasesOfLine(facts, line)[0];
}

/** The dates of an ESR line: its start, phase changes and end of life. */
export function esrLineDates(
  facts: readonly ReleaseFacts[],
  line: string,
): { start: Date; current: Date; sunset: Date; endOfLife: Date } | undefined {
  const first = lineFirst(facts, line);
  if (!first || !isEsrLine(line)) return undefined;
  const start = new Date(first.date);
  return {
    start,
    current: addMonths(start, ESR_PHASE_MONTHS),
    sunset: addMonths(start, 2 * ESR_PHASE_MONTHS),
    endOfLife: addMonths(start, ESR_SUPPORT_MONTHS),
  };
}

/** An ESR line's phase at a date; `unpublished` before its first release. */
export function esrPhase(facts: readonly ReleaseFacts[], line: string, at: Date): EsrPhase | 'unpublished' {
  const dates = esrLineDates(facts, line);
  if (!dates || at < dates.start) return 'unpublished';
  if (at < dates.current) return 'next-esr';
  if (at < dates.sunset) return 'current-esr';
  if (at < dates.endOfLife) return 'sunset-esr';
  return 'eol';
}

/**
 * What the recipes say against the policy, across files (the schema checks each file's shape):
 * an ESR line is named year.month of its first release, takes only patch releases of that
 * release's major.minor, and gets none after its end of life.
 */
export function checkLines(facts: readonly ReleaseFacts[]): LineProblem[] {
  const problems: LineProblem[] = [];
  for (const r of facts) {
    if (r.line !== ROLLING && !isEsrLine(r.line)) {
      problems.push({
        version: r.version,
        field: 'line',
        message: `"${r.line}" is neither "${ROLLING}" nor an ESR line (year.month of a quarter's first month: ${ESR_LINE_MONTHS.map((m) => `2026.${m}`).join(', ')})`,
      });
    }
  }
  const esrLines = [...new Set(facts.map((r) => r.line))].filter(isEsrLine).sort();
  for (const line of esrLines) {
    const { year, month } = parseEsrLine(line)!;
    const releases = releasesOfLine(facts, line);
    const first = releases[0]!;
    const monthStart = new Date(Date.UTC(year, month - 1, 1));
    const monthEnd = new Date(Date.UTC(year, month, 1));
    for (const r of releases) {
      if (new Date(r.date) < monthStart) {
        problems.push({
          version: r.version,
          field: 'date',
          message: `${day(new Date(r.date))} is before ESR line ${line} begins (${day(monthStart)})`,
        });
      }
    }
    const start = new Date(first.date);
    if (start >= monthEnd) {
      problems.push({
        version: first.version,
        field: 'line',
        message: `ESR line ${line} is named for the month of its first release, but its first release ${first.version} is dated ${day(start)}`,
      });
    }
    const eol = addMonths(start, ESR_SUPPORT_MONTHS);
    for (const r of releases.slice(1)) {
      if (majorMinor(r.version) !== majorMinor(first.version)) {
        problems.push({
          version: r.version,
          field: 'line',
          message: `${line} is the ESR line of ${majorMinor(first.version)}.x (from ${first.version}); ${r.version} is not a patch release of it, and an ESR line takes no new features`,
        });
      }
      if (new Date(r.date) >= eol) {
        problems.push({
          version: r.version,
          field: 'date',
          message: `${day(new Date(r.date))} is on or after ESR line ${line}'s end of life (${day(eol)}, ${ESR_SUPPORT_MONTHS} months after ${first.version} on ${day(start)})`,
        });
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Releases at a date

function forDevice(facts: readonly ReleaseFacts[], deviceType: string): ReleaseFacts[] {
  return facts.filter((r) => r.deviceTypes.includes(deviceType));
}

/** The device type's rolling releases newer than `version` published by `at`, oldest publication first. */
function newerRolling(facts: readonly ReleaseFacts[], deviceType: string, version: string, at: Date): ReleaseFacts[] {
  return forDevice(facts, deviceType)
    .filter((r) => r.line === ROLLING && compareVersions(r.version, version) > 0 && new Date(r.date) <= at)
    .sort((a, b) => Date.parse(a.date) - Date.parse(b.date) || sortVersions(a.version, b.version));
}

/** One release's status at `at` for a device type; undefined if the release is not among `facts`. */
export function releaseStatus(
  facts: readonly ReleaseFacts[],
  version: string,
  deviceType: string,
  at: Date,
): ReleaseStatus | undefined {
  const r = facts.find((f) => f.version === version);
  if (!r) return undefined;
  const published = day(new Date(r.date));
  if (new Date(r.date) > at) return { version, line: r.line, published, phase: 'unpublished', maintained: false };
  if (r.line === ROLLING) {
    const by = newerRolling(facts, deviceType, version, at)[0];
    if (!by) return { version, line: r.line, published, phase: 'latest', maintained: true };
    const ends = Math.max(Date.parse(by.date), Date.parse(r.date));
    return {
      version,
      line: r.line,
      published,
      phase: 'superseded',
      maintained: false,
      endOfLife: day(new Date(ends)),
      supersededBy: by.version,
    };
  }
  const dates = esrLineDates(facts, r.line);
  if (!dates) {
    throw new HuplabError(
      'release-invalid',
      `release ${version}: line "${r.line}" is neither "${ROLLING}" nor an ESR line`,
      {
        hint: 'load the recipes with loadReleases, which checks their lines',
      },
    );
  }
  const phase = esrPhase(facts, r.line, at);
  return {
    version,
    line: r.line,
    published,
    phase,
    maintained: phase !== 'eol' && phase !== 'unpublished',
    endOfLife: day(dates.endOfLife),
    lineStart: day(dates.start),
  };
}

/** The quarter a release counts from for the jump rule: its ESR line's, or its publication's. */
function releaseQuarter(r: ReleaseFacts): number {
  const esr = parseEsrLine(r.line);
  if (esr) return quarterOf(esr.year, esr.month);
  const d = new Date(r.date);
  return quarterOf(d.getUTCFullYear(), d.getUTCMonth() + 1);
}

function describeLine(r: ReleaseFacts): string {
  return r.line === ROLLING ? 'rolling' : `ESR ${r.line}`;
}

/**
 * The jump rule alone: how many quarters separate the current release from the target, and
 * whether a standard update is guaranteed for it, with the one-line reason.
 */
export function jumpOf(
  facts: readonly ReleaseFacts[],
  current: string,
  target: string,
): { quarters: number | undefined; guaranteed: boolean; reason: string } {
  const from = facts.find((r) => r.version === current);
  const to = facts.find((r) => r.version === target);
  if (!to) return { quarters: undefined, guaranteed: false, reason: `${target} is not a known release` };
  if (!from) {
    return {
      quarters: undefined,
      guaranteed: false,
      reason: `${current} is not a known release, so the jump to ${target} was never qualified`,
    };
  }
  const qFrom = releaseQuarter(from);
  const qTo = releaseQuarter(to);
  const quarters = qTo - qFrom;
  const span = `from ${current} (${describeLine(from)}, ${quarterName(qFrom)}) to ${target} (${describeLine(to)}, ${quarterName(qTo)})`;
  if (quarters <= MAX_JUMP_QUARTERS) {
    return {
      quarters,
      guaranteed: true,
      reason: `the jump ${span} is ${Math.max(quarters, 0)} quarter(s), within the ${MAX_JUMP_QUARTERS} a standard update is qualified for`,
    };
  }
  return {
    quarters,
    guaranteed: false,
    reason: `the jump ${span} is ${quarters} quarters; a standard update is qualified for at most ${MAX_JUMP_QUARTERS} (two ESR lines)`,
  };
}

/**
 * The one question the API, `huplab hup --plan` and the qualification matrix ask: may a device of
 * `deviceType` running `current` be updated to `target` at `at`? The first rule that applies, in
 * the order of PolicyRule, with a one-line reason naming the rule and the dates. Version order is
 * not judged here (chooseUpdateMethod's `allowDowngrade` is).
 */
export function checkTarget(
  facts: readonly ReleaseFacts[],
  q: { deviceType: string; current: string; target: string; at: Date },
): TargetVerdict {
  const { deviceType, current, target, at } = q;
  const verdict = (rule: PolicyRule, allowed: boolean, guaranteed: boolean, why: string): TargetVerdict => ({
    target,
    rule,
    allowed,
    guaranteed,
    reason: `${rule}: ${why}`,
  });
  const r = facts.find((f) => f.version === target);
  if (!r) {
    const known = facts.map((f) => f.version).sort(sortVersions);
    return verdict(
      'unknown-release',
      false,
      false,
      `${target} is not a known release (known: ${known.join(', ') || 'none'})`,
    );
  }
  if (!r.deviceTypes.includes(deviceType)) {
    return verdict(
      'not-for-device',
      false,
      false,
      `${target} is not released for ${deviceType} (its device types: ${r.deviceTypes.join(', ')})`,
    );
  }
  const s = releaseStatus(facts, target, deviceType, at)!;
  if (s.phase === 'unpublished') {
    return verdict('not-published', false, false, `${target} is published on ${s.published}, after ${day(at)}`);
  }
  if (s.phase === 'eol') {
    return verdict(
      'end-of-life',
      false,
      false,
      `${target} is on ESR line ${s.line}, at end of life since ${s.endOfLife} (${ESR_SUPPORT_MONTHS} months after the line's first release on ${s.lineStart}); on ${day(at)}`,
    );
  }
  if (s.phase === 'superseded') {
    return verdict(
      'not-maintained',
      false,
      false,
      s.endOfLife === s.published
        ? `${target} is a rolling release published on ${s.published}, when the newer ${s.supersededBy} was out already, so never maintained (only the latest rolling release of ${deviceType} is); on ${day(at)}`
        : `${target} is a rolling release, not maintained since ${s.endOfLife}, when ${s.supersededBy} was published (only the latest rolling release of ${deviceType} is maintained); on ${day(at)}`,
    );
  }
  const jump = jumpOf(facts, current, target);
  if (!jump.guaranteed) return verdict('not-guaranteed', true, false, jump.reason);
  const what =
    s.phase === 'latest'
      ? `${target} is the latest rolling release of ${deviceType} on ${day(at)}`
      : `${target} is on ESR line ${s.line}, ${s.phase} on ${day(at)}, end of life ${s.endOfLife}`;
  return verdict('supported', true, true, `${what}; ${jump.reason}`);
}

/** A device type's releases published by `at`, oldest version first, each with its status. */
export function publishedReleases(facts: readonly ReleaseFacts[], deviceType: string, at: Date): ReleaseStatus[] {
  return forDevice(facts, deviceType)
    .filter((r) => new Date(r.date) <= at)
    .map((r) => r.version)
    .sort(sortVersions)
    .map((v) => releaseStatus(facts, v, deviceType, at)!);
}

/**
 * The targets a device of `deviceType` running `current` may be updated to at `at`: the published
 * releases newer than it that the policy allows (guaranteed or not), oldest first.
 */
export function allowedTargets(
  facts: readonly ReleaseFacts[],
  deviceType: string,
  current: string,
  at: Date,
): TargetVerdict[] {
  return publishedReleases(facts, deviceType, at)
    .filter((s) => compareVersions(s.version, current) > 0)
    .map((s) => checkTarget(facts, { deviceType, current, target: s.version, at }))
    .filter((v) => v.allowed);
}

/**
 * The upgrade paths a release must be qualified on for a device type (the qualification matrix):
 * every release of that device type published by `at`, older than `target`, from which the jump
 * to it is guaranteed, oldest first. Devices on an unmaintained release may still take the update,
 * so those count too.
 */
export function qualificationSources(
  facts: readonly ReleaseFacts[],
  deviceType: string,
  target: string,
  at: Date,
): string[] {
  return publishedReleases(facts, deviceType, at)
    .map((s) => s.version)
    .filter((v) => compareVersions(v, target) < 0 && jumpOf(facts, v, target).guaranteed);
}

/** Every device type the releases name, sorted. */
export function deviceTypesOf(facts: readonly ReleaseFacts[]): string[] {
  return [...new Set(facts.flatMap((r) => r.deviceTypes))].sort();
}

/** One release of a device type in the policy's report: its status and where it may go. */
export interface ReleaseReportEntry extends ReleaseStatus {
  /** The allowed targets (newer, published, maintained), each guaranteed or not, with its reason. */
  targets: { version: string; guaranteed: boolean; reason: string }[];
}

/** The policy at a date for some device types: what `huplab releases` prints and an API can serve. */
export interface PolicyReport {
  at: string;
  rules: { esrSupportMonths: number; esrPhaseMonths: number; maxJumpQuarters: number };
  deviceTypes: { deviceType: string; releases: ReleaseReportEntry[] }[];
}

export function policyReport(facts: readonly ReleaseFacts[], deviceTypes: readonly string[], at: Date): PolicyReport {
  return {
    at: at.toISOString(),
    rules: {
      esrSupportMonths: ESR_SUPPORT_MONTHS,
      esrPhaseMonths: ESR_PHASE_MONTHS,
      maxJumpQuarters: MAX_JUMP_QUARTERS,
    },
    deviceTypes: deviceTypes.map((deviceType) => ({
      deviceType,
      releases: publishedReleases(facts, deviceType, at).map((s) => ({
        ...s,
        targets: allowedTargets(facts, deviceType, s.version, at).map((v) => ({
          version: v.target,
          guaranteed: v.guaranteed,
          reason: v.reason,
        })),
      })),
    })),
  };
}
