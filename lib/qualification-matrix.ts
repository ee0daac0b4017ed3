/**
 * The qualification matrix of a release (issue 18, part 5): the "from" versions a release must be
 * qualified from on a device type, derived from the support policy (release-policy.ts) at a date,
 * each with the reasons it is there:
 *
 * - `previous-rolling`: the newest rolling release older than the release, published by the date
 *   (the release devices on the rolling line update from);
 * - `esr-latest`: the latest patch, published by the date and older than the release, of every
 *   ESR line the device type has that is maintained at the date (next-, current- or sunset-esr);
 * - `oldest-guaranteed`: the oldest release from which the jump to the release is still
 *   guaranteed (within MAX_JUMP_QUARTERS), published by the date.
 *
 * A version there for several reasons is one pair with all of them. Pure: the caller gives the
 * facts, the date, and which versions may be a "from" at all (`candidates`: e.g. the releases of
 * the device profile's own OS line, legacy ones left out); the policy itself is judged on all the
 * facts, so leaving a release out of the candidates never changes a phase or a jump.
 */
import {
  day,
  jumpOf,
  MAX_JUMP_QUARTERS,
  publishedReleases,
  qualificationSources,
  type ReleaseFacts,
  ROLLING,
} from './release-policy.ts';
import { compareVersions, sortVersions } from './versions.ts';

export type MatrixReasonKind = 'previous-rolling' | 'esr-latest' | 'oldest-guaranteed';

export interface MatrixReason {
  kind: MatrixReasonKind;
  /** One line: why this "from" is in the matrix, with the dates. */
  reason: string;
}

/** One upgrade path to qualify: from -> to, and why. */
export interface MatrixPair {
  from: string;
  to: string;
  /** The jump from -> to is within what a standard update is qualified for. */
  guaranteed: boolean;
  reasons: MatrixReason[];
}

export interface QualificationMatrix {
  deviceType: string;
  release: string;
  /** The day the policy was judged on, YYYY-MM-DD. */
  at: string;
  /** Oldest "from" first. */
  pairs: MatrixPair[];
}

export function qualificationMatrix(
  facts: readonly ReleaseFacts[],
  q: { deviceType: string; release: string; at: Date; candidates?: readonly string[] },
): QualificationMatrix {
  const { deviceType, release, at } = q;
  const allowed = q.candidates ? new Set(q.candidates) : undefined;
  const published = publishedReleases(facts, deviceType, at).filter(
    (s) => compareVersions(s.version, release) < 0 && (!allowed || allowed.has(s.version)),
  );
  const found = new Map<string, MatrixReason[]>();
  const add = (version: string, kind: MatrixReasonKind, reason: string) =>
    found.set(version, [...(found.get(version) ?? []), { kind, reason }]);

  const previous = published.filter((s) => s.line === ROLLING).at(-1);
  if (previous)
    add(
      previous.version,
      'previous-rolling',
      `the rolling release before ${release} (published ${previous.published}): devices on the rolling line update from it`,
    );

  const lines = [...new Set(published.filter((s) => s.line !== ROLLING && s.maintained).map((s) => s.line))];
  for (const line of lines.sort()) {
    const latest = published.filter((s) => s.line === line).at(-1)!;
    add(
      latest.version,
      'esr-latest',
      `the latest patch of ESR line ${line} (${latest.phase} on ${day(at)}, end of life ${latest.endOfLife}): devices on a maintained ESR line update from it`,
    );
  }

  const oldest = qualificationSources(facts, deviceType, release, at).find((v) => !allowed || allowed.has(v));
  if (oldest) {
    const jump = jumpOf(facts, oldest, release);
    add(
      oldest,
      'oldest-guaranteed',
      `the oldest release the jump to ${release} is guaranteed from (${jump.quarters} quarter(s), at most ${MAX_JUMP_QUARTERS})`,
    );
  }

  const pairs = [...found.keys()].sort(sortVersions).map((from) => ({
    from,
    to: release,
    guaranteed: jumpOf(facts, from, release).guaranteed,
    reasons: found.get(from)!,
  }));
  return { deviceType, release, at: day(at), pairs };
}

/** The matrix for people: one line per pair with its reasons. */
export function matrixLines(m: QualificationMatrix, device = m.deviceType): string[] {
  const lines = [
    `qualification matrix of ${m.release} on ${device} (${m.deviceType}), support policy on ${m.at}: ${m.pairs.length} pair(s)`,
  ];
  for (const p of m.pairs) {
    lines.push(`  ${p.from} -> ${p.to}${p.guaranteed ? '' : ' (jump not guaranteed)'}`);
    for (const r of p.reasons) lines.push(`    ${r.kind}: ${r.reason}`);
  }
  return lines;
}
