import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootloaderBooting, escapeRegExp, osReadyVersion, STATE_FILES, statePath } from '../lib/contract/index.ts';
import { ConsoleTimeline, type TimelineEntry } from '../harness/console/timeline.ts';
import { openLab } from '../harness/lab.ts';
import { table } from './stats.ts';
import { LAB_ROLLBACK_TIMINGS } from '../harness/update/follow.ts';
import { runHup } from '../harness/jobs/hup.ts';

/** rollback-health's decision time: the first check after the delay, the last one (attempts - 1) intervals later. */
export function healthWindowSec(t: { initialDelaySec: number; intervalSec: number; attempts: number }): number {
  return t.initialDelaySec + (t.attempts - 1) * t.intervalSec;
}
const FIELD = { initialDelaySec: 60, intervalSec: 60, attempts: 15 };

/**
 * Time from a failed new OS to the old one running again, per rollback kind, from the console
 * timeline of one update each:
 * - rollback-health: from the new OS ready to the old OS ready again (the health window, the
 *   restore of the old boot files, a reboot);
 * - rollback-altboot: from the bootloader's first try of the new root to the old OS ready again
 *   (the failed boot, GRUB's count to 2, the old OS, rollback-altboot's restore and reboot).
 * Next to them, the same with the field's default health timings (computed: the measured time
 * less the lab's window plus the field's).
 */
export async function benchRollback(from = '2.101.0', to = '2.102.0'): Promise<string> {
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-rollback-')));
  const rows: string[][] = [
    ['rollback', 'from', 'to the old OS ready again', 'health timings', 'with the field defaults'],
  ];
  try {
    for (const [fault, kind] of [
      ['health-fail', 'health'],
      ['unbootable-root', 'altboot'],
    ] as const) {
      const r = await runHup({ lab, device: 'generic-amd64', from, to, name: `bench-${kind}`, fault });
      await r.backend.services.stop();
      await r.device.powerCut();
      r.device.close();
      if (!r.verdict.ok)
        throw new Error(
          `${fault}: the rollback did not happen as expected: ${r.verdict.checks
            .filter((c) => !c.ok)
            .map((c) => c.what)
            .join('; ')}`,
        );
      const tl = r.outcome.timeline;
      const start =
        kind === 'health'
          ? ConsoleTimeline.find(tl, new RegExp(escapeRegExp(osReadyVersion(to))))
          : ConsoleTimeline.find(tl, new RegExp(escapeRegExp(bootloaderBooting('resin-rootB'))));
      const back = lastMatch(tl, new RegExp(escapeRegExp(osReadyVersion(from))));
      if (!start || !back) throw new Error(`${fault}: the console timeline lacks its markers`);
      const took = back.at - start.at;
      const labWindow = healthWindowSec(LAB_ROLLBACK_TIMINGS);
      const field = healthWindowSec(FIELD);
      rows.push(
        kind === 'health'
          ? [
              'rollback-health',
              'new OS ready',
              `${took.toFixed(1)} s`,
              `lab: ${LAB_ROLLBACK_TIMINGS.initialDelaySec} s + ${LAB_ROLLBACK_TIMINGS.attempts - 1} x ${LAB_ROLLBACK_TIMINGS.intervalSec} s = ${labWindow} s`,
              `${((took - labWindow + field) / 60).toFixed(1)} min (window ${field / 60} min; field scripts: 16 min)`,
            ]
          : [
              'rollback-altboot',
              'first boot of the new root',
              `${took.toFixed(1)} s`,
              'not involved',
              `${took.toFixed(1)} s (no timer)`,
            ],
      );
    }
    return [
      '## Rollback times, generic-amd64 (TCG, one run each)',
      table(rows),
      `rollback-health time is dominated by its window; the lab shortens it through ${statePath(STATE_FILES.healthTimings)}.`,
    ].join('\n');
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
}

function lastMatch(entries: TimelineEntry[], re: RegExp): TimelineEntry | undefined {
  return [...entries].reverse().find((e) => re.test(e.line));
}
