import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suiteReleasesFor } from '../harness/update/suite-releases.ts';
import { openLab } from '../harness/lab.ts';
import { listProfiles, loadProfile } from '../lib/profile.ts';
import { LAYOUT_1X } from '../lib/partition/resin-1x.ts';
import { seconds, table } from './stats.ts';
import { runHup } from '../harness/jobs/hup.ts';
import { startDevice } from '../harness/device/start.ts';

/**
 * Per emulated profile, in one run and one after the other: boot-to-SSH of a fresh device and a
 * full standard HUP (trigger to committed) between the first two releases of its OS line. Each
 * figure is also given as a ratio to generic-amd64's, measured in the same run, because these
 * machines are noisy and only the side-by-side ratio carries over between runs.
 * BENCH_PROFILES=a,b limits the profiles (generic-amd64 is always measured, as the reference).
 */
export async function benchProfiles(): Promise<string> {
  const wanted = process.env.BENCH_PROFILES?.split(',').filter(Boolean);
  const names = [];
  for (const n of await listProfiles()) {
    const p = await loadProfile(n);
    // The 1.x line has no standard HUP between its releases: its own paths are measured apart.
    if (p.qemu && p.layout !== LAYOUT_1X) names.push(n);
  }
  const chosen = ['generic-amd64', ...names.filter((n) => n !== 'generic-amd64' && (!wanted || wanted.includes(n)))];
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-profiles-')));
  const rows: Array<{
    name: string;
    from: string;
    to: string;
    boot: number;
    hup: number;
    update: number;
    bytes: number;
    kind: string;
  }> = [];
  try {
    for (const name of chosen) {
      const { base, next } = suiteReleasesFor(name);
      const s = await startDevice({ lab, device: name, release: base, name: `boot-${name}` });
      const boot = s.timings.sshReady ?? NaN;
      await s.device.powerCut();
      s.device.close();
      const r = await runHup({ lab, device: name, from: base, to: next, name: `hup-${name}` });
      const o = r.outcome;
      await r.backend.services.stop();
      await r.device.powerCut();
      r.device.close();
      rows.push({
        name,
        from: base,
        to: next,
        boot,
        hup: o.seconds.toCommit * 1000,
        update: o.seconds.update * 1000,
        bytes: o.download?.bytes ?? 0,
        kind: o.download?.kind ?? '-',
      });
    }
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
  const ref = rows[0]!;
  return [
    `## Boot-to-SSH and standard HUP per profile (TCG, one run, profiles one after the other)`,
    table([
      [
        'profile',
        'releases',
        'boot to SSH',
        'x generic-amd64',
        'HUP trigger to committed',
        'x generic-amd64',
        'updater (to reboot)',
        'download',
      ],
      ...rows.map((r) => [
        r.name,
        `${r.from} -> ${r.to}`,
        seconds(r.boot),
        (r.boot / ref.boot).toFixed(2),
        seconds(r.hup),
        (r.hup / ref.hup).toFixed(2),
        seconds(r.update),
        `${r.kind}, ${r.bytes} bytes`,
      ]),
    ]),
  ].join('\n');
}
