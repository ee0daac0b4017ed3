import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { table } from './stats.ts';

interface Run {
  workers: number;
  wallSeconds: number;
  tests: number;
  passed: number;
  exitCode: number;
}

/**
 * Wall time of `huplab qualify` on generic-amd64 with 1 and with 2 devices in parallel, run one
 * after the other in the same benchmark (the machine's noise hits both alike). By default the
 * lock and rollback families (HUPLAB_BENCH_GREP; empty for every suite), which are long enough
 * for the scaling to show and short enough to run twice.
 */
export async function benchQualify(release = '2.102.0', workerCounts = [1, 2]): Promise<string> {
  const grep = process.env.HUPLAB_BENCH_GREP ?? 'locks|rollback';
  const runs: Run[] = [];
  for (const workers of workerCounts) {
    const out = mkdtempSync(join(tmpdir(), `huplab-bench-qualify-${workers}-`));
    const started = Date.now();
    const r = await execa(
      'tsx',
      [
        'harness/cli/main.ts',
        'qualify',
        '--device',
        'generic-amd64',
        '--release',
        release,
        '--workers',
        String(workers),
        '--retries',
        '0',
        '--out',
        out,
        ...(grep ? ['--grep', grep] : []),
        ...(runs.length ? ['--no-build'] : []),
      ],
      { reject: false, stdio: ['ignore', 'ignore', 'inherit'], preferLocal: true },
    );
    const wallSeconds = (Date.now() - started) / 1000;
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      totals: { tests: number; passed: number };
    };
    runs.push({ workers, wallSeconds, tests: s.totals.tests, passed: s.totals.passed, exitCode: r.exitCode ?? -1 });
    rmSync(out, { recursive: true, force: true });
  }
  const one = runs[0]!;
  return [
    `## huplab qualify wall time, generic-amd64 ${release}${grep ? ` (tests matching /${grep}/)` : ' (every suite)'}, 2 cores, TCG`,
    table([
      ['workers (devices in parallel)', 'tests', 'passed', 'wall time', 'speed-up vs 1 worker'],
      ...runs.map((r) => [
        String(r.workers),
        String(r.tests),
        String(r.passed),
        `${(r.wallSeconds / 60).toFixed(1)} min`,
        (one.wallSeconds / r.wallSeconds).toFixed(2),
      ]),
    ]),
  ].join('\n');
}
