import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCampaign, type CampaignResult } from '../harness/power/campaign.ts';
import { campaignHtml } from '../harness/report/powercut.ts';
import { logPoint, prepareCampaignBench } from './powercut-setup.ts';
import { table } from './stats.ts';

/**
 * Both power-cut campaigns, side by side in one run (each on its own lab backend and one device at
 * a time, so the two share the machine alike): cut points tried and survived per campaign, the
 * wall time per point, and that time as a ratio of the campaign's own uncut reference run.
 * HUPLAB_BENCH_POINTS seeded random points are added to the update campaign (default 2);
 * HUPLAB_BENCH_ONLY limits both to some points (names or prefixes with '*', comma-separated).
 * Reports (JSON, HTML) go to reports/bench-powercut-<date>/.
 */
export async function benchPowercut(from = '2.101.0', to = '2.102.0'): Promise<string> {
  const { random, only, outDir, lab } = await prepareCampaignBench('bench-powercut', from, to);
  const results = await Promise.all(
    (['update', 'rollback'] as const).map((kind) =>
      runCampaign({
        lab,
        device: 'generic-amd64',
        from,
        to,
        kind,
        random,
        seed: 1,
        outDir: join(outDir, kind),
        ...(only ? { only } : {}),
        onPoint: logPoint(kind),
      }),
    ),
  );
  for (const r of results) writeFileSync(join(outDir, r.kind, 'powercut.html'), campaignHtml(r));
  return [
    `## Power-cut campaigns, generic-amd64 ${from} -> ${to} (TCG, 2 cores, both campaigns side by side)`,
    table([
      [
        'campaign',
        'cut points tried',
        'survived',
        'failures',
        'wall time',
        'per point',
        'uncut reference run',
        'per point / reference',
      ],
      ...results.map(summaryRow),
    ]),
    ...results.map((r) => [`### ${r.kind} campaign: every point`, pointTable(r)].join('\n')),
    `Reports: ${outDir}/{update,rollback}/powercut.{json,html}`,
  ].join('\n\n');
}

function summaryRow(r: CampaignResult): string[] {
  const perPoint = r.wallSeconds / Math.max(1, r.points.length);
  const ref = r.references.reduce((a, x) => a + x.seconds, 0) / Math.max(1, r.references.length);
  return [
    r.kind,
    String(r.points.length),
    String(r.points.length - r.failures),
    String(r.failures),
    `${(r.wallSeconds / 60).toFixed(1)} min`,
    `${perPoint.toFixed(0)} s`,
    r.references.map((x) => `${x.scenario} ${x.seconds.toFixed(0)} s`).join(', '),
    ref > 0 ? `${(perPoint / ref).toFixed(2)}x` : '-',
  ];
}

function pointTable(r: CampaignResult): string {
  return table([
    ['cut point', 'cut at', 'lost blocks', 'OS booted', 'recovered in', 'env', '/data', 'rollback', 'retry', 'result'],
    ...r.points.map((o) =>
      o.notRun
        ? [
            o.point,
            '-',
            '-',
            'not run',
            '-',
            'not checked',
            'not checked',
            '-',
            '-',
            `NOT RUN: ${o.problems.join('; ')}`,
          ]
        : [
            o.point,
            Number.isFinite(o.cutAtSeconds) ? `${o.cutAtSeconds.toFixed(1)} s` : '-',
            String(o.lostBlocks),
            o.booted === 'none' ? 'NONE' : `${o.booted} ${o.version}`,
            Number.isFinite(o.recoverSeconds) ? `${o.recoverSeconds.toFixed(1)} s` : '-',
            o.envConsistent ? 'consistent' : 'INCONSISTENT',
            o.dataIntact ? 'intact' : 'LOST',
            o.rollback,
            o.retry,
            o.ok ? 'ok' : `FAILED: ${o.problems.join('; ')}`,
          ],
    ),
  ]);
}
