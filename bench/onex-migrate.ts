import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLab } from '../harness/lab.ts';
import { runOnexMigration } from '../harness/jobs/onex-migrate.ts';
import { runOnexChecks } from '../harness/update/onex-checks.ts';
import { parseFetchDownload } from '../lib/contract/download-detail.ts';
import { parseDataOverLimit } from '../lib/contract/onex.ts';
import { DATA_BACKUP_LIMIT_BYTES } from '../lib/partition/resin-1x.ts';
import { seconds, table } from './stats.ts';

/** Incompressible bytes written to measure gzip's overhead on them (the worst case for the limit). */
const PROBE_BYTES = 20_000_000;

/**
 * The 1.x -> 2.x migration on generic-amd64-1x against a standard 2.x update on the same board,
 * in one run (the migration, then the standard update on top of it): time and bytes downloaded.
 * And the largest /data the migration takes: the data check's compressed size measured on
 * incompressible data (the worst case), the largest size derived from the limit, then the check
 * run at that size (it must pass) and 1 % over it (it must refuse).
 */
export async function benchOnexMigrate(from = '1.26.1', to = '2.101.0', next = '2.102.0'): Promise<string> {
  const lab = openLab(mkdtempSync(join(tmpdir(), 'huplab-bench-onex-')));
  const limit: Array<[string, string]> = [];
  try {
    const r = await runOnexMigration({
      lab,
      device: 'generic-amd64-1x',
      target: 'generic-amd64',
      from,
      to,
      next,
      name: 'bench-onex',
      // Measured on the 1.x device before it is migrated; the blob is removed again.
      async beforeMigration(device) {
        const ssh = await device.ssh();
        const blob = '/mnt/data/resin-data/1001/bench.bin';
        const write = (bytes: number) =>
          ssh.execOk(`head -c ${bytes} /dev/urandom > ${blob} && sync`, { timeoutMs: 600_000 });
        const measure = async () => {
          const c = await runOnexChecks(device, { method: '1.x-to-2.x' });
          const bytes = c.refused
            ? parseDataOverLimit(c.refused.message)?.bytes
            : Number(/^(\d+) of/.exec(c.passed[0]?.detail ?? '')?.[1]);
          return { code: c.code, bytes: bytes ?? Number.NaN, refused: c.refused?.code };
        };
        await write(PROBE_BYTES);
        const probe = await measure();
        // The rest of /data (a few hundred bytes compressed) is left in the margin.
        const ratio = probe.bytes / PROBE_BYTES;
        const largest = Math.floor((DATA_BACKUP_LIMIT_BYTES - 4096) / ratio);
        await write(largest);
        const at = await measure();
        await write(Math.floor(largest * 1.01));
        const over = await measure();
        await ssh.execOk(`rm -f ${blob} && sync`);
        limit.push(
          ['gzip of incompressible data (measured on 20 MB)', `${(ratio * 100).toFixed(3)} % of its size`],
          ['largest incompressible /data that passes (derived)', `${(largest / 1e6).toFixed(1)} MB`],
          [
            'the check at that size',
            `${at.code === 0 ? 'passes' : 'REFUSES'}: ${at.bytes} of ${DATA_BACKUP_LIMIT_BYTES} bytes compressed`,
          ],
          [
            'the check 1 % over it',
            `${over.refused ?? (over.code === 0 ? 'PASSES' : 'failed')}: ${over.bytes || '-'} bytes`,
          ],
        );
      },
    });
    const m = r.outcome;
    const migBytes = parseFetchDownload(m.runs.at(-1)!.output)?.bytes;
    const n = r.next?.outcome;
    await r.backend.services.stop();
    await r.device.powerCut();
    r.device.close();
    return [
      `## 1.x -> 2.x migration against a standard 2.x update, generic-amd64 (TCG, one run)`,
      table([
        ['what', `migration ${from} -> ${to}`, `standard ${to} -> ${next} (same board, after it)`],
        [
          'verdict',
          m.runs.at(-1)!.exitCode === 0 && r.verdict.ok ? 'passed' : 'FAILED',
          r.next?.verdict.ok ? 'passed' : 'FAILED',
        ],
        [
          'updater (start to reboot)',
          seconds(m.seconds.migration * 1000),
          seconds(n ? n.seconds.update * 1000 : undefined),
        ],
        [
          'start to the new OS settled',
          seconds(m.seconds.toFirstBoot * 1000),
          seconds(n ? n.seconds.toCommit * 1000 : undefined),
        ],
        [
          'downloaded',
          `full, ${migBytes ?? '-'} bytes`,
          `${n?.download?.kind ?? '-'}, ${n?.download?.bytes ?? '-'} bytes`,
        ],
      ]),
      `migration steps: ${m.runs
        .at(-1)!
        .steps.filter((s) => s.phase === 'done')
        .map((s) => `${s.step} ${(s.seconds ?? 0).toFixed(1)} s`)
        .join(', ')}`,
      '',
      `## The largest /data the migration takes (limit ${DATA_BACKUP_LIMIT_BYTES} bytes compressed)`,
      table([['what', 'value'], ...limit]),
    ].join('\n');
  } finally {
    rmSync(lab.dir, { recursive: true, force: true });
  }
}
