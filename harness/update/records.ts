/**
 * The demo application's records before and after an update: were any lost, is the sequence
 * continuous, and how long was the application down (the largest gap between two records).
 */
export interface RecordsAnalysis {
  before: number;
  after: number;
  /** Every record present before the update is still there, unchanged. */
  intact: boolean;
  /** Sequence numbers with no holes and no repeats. */
  continuous: boolean;
  /** Largest gap between consecutive records, in seconds (application downtime). */
  maxGapSeconds: number;
  versions: string[];
}

export function parseRecords(text: string): Array<{ seq: number; ms: number; boot: string; version: string }> {
  return text
    .split('\n')
    .filter((l) => /^\d+ \d+ \S+ \S+$/.test(l))
    .map((l) => {
      const [seq, ms, boot, version] = l.split(' ');
      return { seq: Number(seq), ms: Number(ms), boot: boot!, version: version! };
    });
}

export function analyseRecords(beforeText: string, afterText: string): RecordsAnalysis {
  const before = parseRecords(beforeText);
  const after = parseRecords(afterText);
  const intact = before.every((r, i) => after[i] && after[i]!.seq === r.seq && after[i]!.ms === r.ms);
  const continuous = after.every((r, i) => i === 0 || r.seq === after[i - 1]!.seq + 1);
  let maxGap = 0;
  for (let i = 1; i < after.length; i++) maxGap = Math.max(maxGap, (after[i]!.ms - after[i - 1]!.ms) / 1000);
  return {
    before: before.length,
    after: after.length,
    intact,
    continuous,
    maxGapSeconds: maxGap,
    versions: [...new Set(after.map((r) => r.version))],
  };
}
