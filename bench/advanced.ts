import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advancedSuiteFor, suiteReleasesFor } from '../harness/update/suite-releases.ts';
import { openLab } from '../harness/lab.ts';
import { listProfiles } from '../lib/profile.ts';
import { seconds, table } from './stats.ts';
import { runAdvancedHup } from '../harness/jobs/advanced.ts';
import { runHup } from '../harness/jobs/hup.ts';

/**
 * Per advanced pair (a profile an advanced path leads away from), in one run, one after the
 * other: the advanced update (trigger to the new OS answering) and the standard update on the
 * same source profile (trigger to committed), with the bytes each downloaded. The ratios are
 * taken within the run (these machines are noisy). BENCH_PROFILES=a,b limits the source profiles.
 */
export async function benchAdvanced(): Promise<string> {
  const wanted = process.env.BENCH_PROFILES?.split(',').filter(Boolean);
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-advanced-')));
  const rows: string[][] = [];
  try {
    for (const name of await listProfiles()) {
      const pair = advancedSuiteFor(name);
      if (!pair || (wanted && !wanted.includes(name))) continue;
      const { base, next } = suiteReleasesFor(name);
      const s = await runHup({ lab, device: name, from: base, to: next, name: `std-${name}` });
      await s.backend.services.stop();
      await s.device.powerCut();
      s.device.close();
      const a = await runAdvancedHup({
        lab,
        device: name,
        toDevice: pair.target,
        from: pair.from,
        to: pair.to,
        name: `adv-${name}`,
      });
      await a.backend.services.stop();
      await a.device.powerCut();
      a.device.close();
      if (!a.verdict.ok)
        throw new Error(
          `the advanced update ${name} -> ${pair.target} failed: ${a.verdict.checks
            .filter((c) => !c.ok)
            .map((c) => c.what)
            .join(', ')}`,
        );
      const std = {
        t: s.outcome.seconds.toCommit * 1000,
        bytes: s.outcome.download?.bytes ?? 0,
        kind: s.outcome.download?.kind ?? '-',
      };
      const adv = { t: a.outcome.seconds.toBoot * 1000, bytes: a.outcome.download?.bytes ?? 0 };
      const stage2 = a.outcome.steps
        .filter((x) => x.step.startsWith('takeover:'))
        .map((x) => `${x.step.slice(9)} ${Number.isNaN(x.seconds) ? '-' : x.seconds} s`)
        .join(', ');
      rows.push([
        `${name} ${pair.from} -> ${pair.target} ${pair.to}`,
        seconds(adv.t),
        `${adv.bytes} bytes`,
        `${base} -> ${next}: ${seconds(std.t)}`,
        `${std.kind}, ${std.bytes} bytes`,
        (adv.t / std.t).toFixed(2),
        (adv.bytes / Math.max(1, std.bytes)).toFixed(0),
        stage2,
      ]);
    }
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
  return [
    '## Advanced update per pair, next to the standard update on the same profile (TCG, one run)',
    table([
      [
        'advanced pair',
        'advanced: trigger to new OS up',
        'downloaded',
        'standard on the source profile',
        'downloaded',
        'time x standard',
        'bytes x standard',
        'takeover stage 2',
      ],
      ...rows,
    ]),
  ].join('\n');
}
