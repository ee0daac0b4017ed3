/** The Releases page's timeline as numbers: each line's phases as segments in percent of the span shown. Pure. */
import type { PolicyRelease } from '../wire.ts';
import { phaseLabel } from './format.ts';

export interface Segment {
  phase: string;
  label: string;
  from: string;
  to: string;
  left: number;
  width: number;
}

export interface Timeline {
  from: string;
  to: string;
  /** Today's position, percent. */
  today: number;
  lines: { line: string; segments: Segment[] }[];
}

const DAY = 86_400_000;

function addMonths(d: string, months: number): string {
  const x = new Date(`${d}T00:00:00Z`);
  x.setUTCMonth(x.getUTCMonth() + months);
  return x.toISOString().slice(0, 10);
}

export function timeline(releases: readonly PolicyRelease[], at: string): Timeline {
  const today = at.slice(0, 10);
  const raw: { line: string; parts: { phase: string; label: string; from: string; to: string }[] }[] = [];
  const esr = [...new Set(releases.filter((r) => r.line !== 'rolling').map((r) => r.line))];
  for (const line of esr) {
    const first = releases.find((r) => r.line === line && r.lineStart);
    if (!first?.lineStart || !first.endOfLife) continue;
    const s = first.lineStart;
    const phases: [string, string, string][] = [
      ['next-esr', s, addMonths(s, 3)],
      ['current-esr', addMonths(s, 3), addMonths(s, 6)],
      ['sunset-esr', addMonths(s, 6), first.endOfLife],
    ];
    raw.push({
      line,
      parts: phases.map(([phase, from, to]) => ({
        phase,
        label: phaseLabel(phase as PolicyRelease['phase']),
        from,
        to,
      })),
    });
  }
  const rolling = releases.filter((r) => r.line === 'rolling');
  if (rolling.length)
    raw.push({
      line: 'rolling',
      parts: rolling.map((r) => ({
        phase: r.phase,
        label: `${r.version} ${phaseLabel(r.phase)}`,
        from: r.published,
        to: r.endOfLife ?? today,
      })),
    });
  const dates = raw.flatMap((l) => l.parts.flatMap((p) => [p.from, p.to])).concat(today);
  // YYYY-MM-DD sorts as text.
  const sorted = [...dates].sort();
  const from = sorted[0]!;
  const to = sorted.at(-1)!;
  const span = Math.max(DAY, Date.parse(to) - Date.parse(from));
  const pos = (d: string) => ((Date.parse(d) - Date.parse(from)) / span) * 100;
  return {
    from,
    to,
    today: pos(today),
    lines: raw.map((l) => ({
      line: l.line,
      segments: l.parts.map((p) => ({ ...p, left: pos(p.from), width: Math.max(0.5, pos(p.to) - pos(p.from)) })),
    })),
  };
}
