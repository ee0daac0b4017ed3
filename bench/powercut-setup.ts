import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { openLab, type Lab } from '../harness/lab.ts';
import type { CampaignResult } from '../harness/power/campaign.ts';
import { buildImage } from '../images/builder/index.ts';

/** What the power-cut benchmarks share: the points asked for by the environment, and the setup. */
export interface CampaignBench {
  /** HUPLAB_BENCH_POINTS seeded random points added to the update campaign (default 2). */
  random: number;
  /** HUPLAB_BENCH_ONLY: some points only (names or prefixes with '*', comma-separated). */
  only?: string[];
  outDir: string;
  lab: Lab;
}

/** Reads the environment, builds both releases and opens the lab; reports go to reports/<name>-<date>/. */
export async function prepareCampaignBench(name: string, from: string, to: string): Promise<CampaignBench> {
  const random = Number(process.env.HUPLAB_BENCH_POINTS ?? 2);
  if (!Number.isInteger(random) || random < 0)
    throw new Error(`HUPLAB_BENCH_POINTS must be a whole number, not ${process.env.HUPLAB_BENCH_POINTS}`);
  const only = process.env.HUPLAB_BENCH_ONLY?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const outDir = resolve('reports', `${name}-${new Date().toISOString().slice(0, 10)}`);
  mkdirSync(outDir, { recursive: true });
  for (const release of [from, to]) await buildImage({ device: 'generic-amd64', release });
  return { random, ...(only?.length ? { only } : {}), outDir, lab: openLab() };
}

/** One line on stderr per point, as it ends. */
export function logPoint(label: string) {
  return (p: CampaignResult['points'][number], i: number, n: number): void => {
    process.stderr.write(`[${label} ${i + 1}/${n}] ${p.point}: ${p.ok ? 'ok' : `FAILED ${p.problems.join('; ')}`}\n`);
  };
}
