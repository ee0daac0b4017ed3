import type { CampaignResult, CutOutcome } from './campaign.ts';

/**
 * A point's verdict, as two runs of the same seeded point must agree on it: whether it passed or
 * could not be run, which OS came back, the rollback recorded, the retry, env and /data.
 * Times and lost block counts are measurements, not verdicts: they differ from run to run.
 */
export function verdictOf(o: CutOutcome): string {
  if (o.notRun) return 'not run';
  return [
    o.ok ? 'ok' : 'FAILED',
    `booted ${o.booted}`,
    `rollback ${o.rollback}`,
    `retry ${o.retry}`,
    o.envConsistent ? 'env consistent' : 'env INCONSISTENT',
    o.dataIntact ? 'data intact' : 'data LOST',
  ].join(', ');
}

export interface VerdictComparison {
  point: string;
  a: string;
  b: string;
  same: boolean;
}

/** Point by point, the verdicts of two runs of the same points (matched by name). */
export function compareVerdicts(a: CampaignResult, b: CampaignResult): VerdictComparison[] {
  const names = [...new Set([...a.points, ...b.points].map((p) => p.point))];
  return names.map((point) => {
    const pa = a.points.find((p) => p.point === point);
    const pb = b.points.find((p) => p.point === point);
    const va = pa ? verdictOf(pa) : 'missing';
    const vb = pb ? verdictOf(pb) : 'missing';
    return { point, a: va, b: vb, same: va === vb };
  });
}
