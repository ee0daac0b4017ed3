import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCampaign, type CampaignResult } from '../harness/power/campaign.ts';
import { compareVerdicts } from '../harness/power/compare.ts';
import { campaignHtml } from '../harness/report/powercut.ts';
import { logPoint, prepareCampaignBench } from './powercut-setup.ts';
import { table } from './stats.ts';

/**
 * The same seeded power-cut points run both ways in one run: one point after the other, each on a
 * flashed and cold-booted device (today's default), then from a saved device over
 * HUPLAB_BENCH_WORKERS devices at once (default 2), the points placed by the first way's
 * reference runs. Prints the time of the points both ways and their ratio, per campaign and for
 * both together, and every point's verdict both ways (they must be identical).
 * HUPLAB_BENCH_POINTS (default 2) seeded random points in the update campaign; HUPLAB_BENCH_ONLY
 * limits the points (names or prefixes with '*', comma-separated); HUPLAB_BENCH_CAMPAIGNS
 * (default "update,rollback"); HUPLAB_BENCH_REFERENCE=0 skips the reference runs (a quick check
 * with the points at console markers only). Reports: reports/bench-powercut-saved-<date>/.
 */
export async function benchPowercutSaved(from = '2.101.0', to = '2.102.0'): Promise<string> {
  const workers = Number(process.env.HUPLAB_BENCH_WORKERS ?? 2);
  const reference = process.env.HUPLAB_BENCH_REFERENCE !== '0';
  const kinds = (process.env.HUPLAB_BENCH_CAMPAIGNS ?? 'update,rollback')
    .split(',')
    .map((s) => s.trim())
    .filter((k): k is 'update' | 'rollback' => k === 'update' || k === 'rollback');
  const { random, only, outDir, lab } = await prepareCampaignBench('bench-powercut-saved', from, to);
  const pairs: Array<{ cold: CampaignResult; saved: CampaignResult }> = [];
  for (const kind of kinds) {
    const common = {
      lab,
      device: 'generic-amd64',
      from,
      to,
      kind,
      random,
      seed: 1,
      reference,
      ...(only ? { only } : {}),
    };
    const cold = await runCampaign({
      ...common,
      outDir: join(outDir, kind, 'cold'),
      onPoint: logPoint(`${kind} cold`),
    });
    const saved = await runCampaign({
      ...common,
      timelines: cold.timelines,
      fromSaved: true,
      workers,
      outDir: join(outDir, kind, 'saved'),
      onPoint: logPoint(`${kind} saved`),
    });
    for (const r of [cold, saved])
      writeFileSync(
        join(r === cold ? join(outDir, kind, 'cold') : join(outDir, kind, 'saved'), 'powercut.html'),
        campaignHtml(r),
      );
    pairs.push({ cold, saved });
  }
  const sum = (f: (p: { cold: CampaignResult; saved: CampaignResult }) => number) =>
    pairs.reduce((a, p) => a + f(p), 0);
  const row = (what: string, n: number, c: number, s: number, same: number) => [
    what,
    String(n),
    `${(c / 60).toFixed(1)} min (${(c / Math.max(1, n)).toFixed(0)} s/point)`,
    `${(s / 60).toFixed(1)} min (${(s / Math.max(1, n)).toFixed(0)} s/point)`,
    s > 0 ? `${(c / s).toFixed(2)}x` : '-',
    `${same}/${n}`,
  ];
  const comparisons = pairs.map((p) => compareVerdicts(p.cold, p.saved));
  return [
    `## Power-cut points both ways, generic-amd64 ${from} -> ${to} (TCG, 2 cores): cold, one at a time vs from a saved device, ${workers} at once`,
    table([
      ['campaign', 'points', 'cold, one at a time', `saved, ${workers} workers`, 'speed-up', 'identical verdicts'],
      ...pairs.map((p, i) =>
        row(
          p.cold.kind,
          p.cold.points.length,
          p.cold.pointsSeconds,
          p.saved.pointsSeconds,
          comparisons[i]!.filter((c) => c.same).length,
        ),
      ),
      row(
        'both',
        sum((p) => p.cold.points.length),
        sum((p) => p.cold.pointsSeconds),
        sum((p) => p.saved.pointsSeconds),
        comparisons.flat().filter((c) => c.same).length,
      ),
    ]),
    '(times: from the first point to the last, the saved way including its boot and save; the reference runs, shared, not counted)',
    ...pairs.map((p, i) =>
      [
        `### ${p.cold.kind} campaign: verdicts both ways`,
        table([
          ['cut point', 'cold', 'saved', 'same'],
          ...comparisons[i]!.map((c) => [c.point, c.a, c.b, c.same ? 'yes' : 'DIFFERENT']),
        ]),
      ].join('\n'),
    ),
    `Reports: ${outDir}/<campaign>/{cold,saved}/powercut.{json,html}`,
  ].join('\n\n');
}
