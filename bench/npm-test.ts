import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { cacheDir, repoRoot } from '../lib/paths.ts';
import { seconds, table } from './stats.ts';

/**
 * The commit before the performance work (saved power-cut devices, workers, delta format 2) and
 * the resinOS 1.x line entered the tree: the "before" of "`npm test` time not worse than before".
 */
const BEFORE = '1354bf8';

interface TestRun {
  rev: string;
  commit: string;
  ms: number;
  exitCode: number;
  tapAssertions?: number;
  hilPassed?: number;
  hilFailed?: number;
  log: string;
}

/** The last match of `re` in `text`, as a number. */
function lastNumber(text: string, re: RegExp): number | undefined {
  const all = [...text.matchAll(re)];
  const m = all.at(-1);
  return m ? Number(m[1]) : undefined;
}

/**
 * `npm test` of one commit as CI runs it: a fresh clone with its npm packages installed and an
 * empty build cache (only the downloaded Debian and npm packages copied in from this machine's
 * cache, so the network's speed is not in the figure), timed from start to exit.
 */
async function timeNpmTest(rev: string, work: string, logDir: string): Promise<TestRun> {
  const dir = join(work, rev);
  await execa('git', ['clone', '--quiet', repoRoot, dir]);
  await execa('git', ['-C', dir, 'checkout', '--quiet', rev]);
  const commit = (await execa('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'])).stdout;
  const cache = join(work, `${rev}-cache`);
  mkdirSync(cache, { recursive: true });
  for (const d of ['debs', 'npm'])
    if (existsSync(join(cacheDir(), d))) cpSync(join(cacheDir(), d), join(cache, d), { recursive: true });
  const env = { HUPLAB_CACHE: cache, HUPLAB_HOME: join(work, `${rev}-home`) };
  // Set-up outside the timing: `npm ci` is the same for both and its speed is the registry's.
  await execa('sh', ['scripts/bootstrap.sh'], { cwd: dir, env });
  const log = join(logDir, `${commit}.log`);
  process.stderr.write(`[bench npm-test] ${new Date().toISOString()} npm test of ${rev} (${commit}) started\n`);
  const started = Date.now();
  const r = await execa('npm', ['test'], { cwd: dir, env, reject: false, all: true, stdin: 'ignore' });
  const ms = Date.now() - started;
  const text = r.all ?? '';
  writeFileSync(log, text);
  process.stderr.write(`[bench npm-test] ${commit}: exit ${r.exitCode} in ${seconds(ms)}\n`);
  const tapAssertions = lastNumber(text, /# \{ total: (\d+)/g);
  const hilPassed = lastNumber(text, /^\s+(\d+) passed/gm);
  const hilFailed = lastNumber(text, /^\s+(\d+) failed/gm);
  rmSync(dir, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  rmSync(env.HUPLAB_HOME, { recursive: true, force: true });
  return {
    rev,
    commit,
    ms,
    exitCode: r.exitCode ?? 1,
    ...(tapAssertions !== undefined ? { tapAssertions } : {}),
    ...(hilPassed !== undefined ? { hilPassed } : {}),
    ...(hilFailed !== undefined ? { hilFailed } : {}),
    log,
  };
}

/**
 * `npm test` before and now, one after the other in one run: HUPLAB_BENCH_BASE (default the
 * commit before the performance work) and HEAD, each from a fresh clone with an empty build cache.
 * About 40-60 minutes on 2 cores; run it on an otherwise idle machine. Logs:
 * reports/bench-npm-test-<date>/<commit>.log.
 */
export async function benchNpmTest(): Promise<string> {
  const base = process.env.HUPLAB_BENCH_BASE ?? BEFORE;
  const logDir = join(repoRoot, 'reports', `bench-npm-test-${new Date().toISOString().slice(0, 10)}`);
  mkdirSync(logDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'huplab-bench-npm-test-'));
  try {
    const before = await timeNpmTest(base, work, logDir);
    const now = await timeNpmTest('HEAD', work, logDir);
    const row = (r: TestRun, label: string) => [
      `${label} (${r.commit})`,
      seconds(r.ms),
      (r.ms / before.ms).toFixed(2),
      String(r.exitCode),
      String(r.tapAssertions ?? '-'),
      `${r.hilPassed ?? '-'} passed, ${r.hilFailed ?? 0} failed`,
    ];
    const failed = [before, now].filter((r) => r.exitCode !== 0);
    return [
      '## `npm test` wall time, before and now (fresh clone, empty build cache, one run each)',
      table([
        ['commit', 'wall time', 'vs before', 'exit', 'tap assertions', 'HIL tests'],
        row(before, 'before'),
        row(now, 'now'),
      ]),
      failed.length
        ? `NOT A FIGURE: ${failed.map((r) => r.commit).join(' and ')} failed; see ${failed.map((r) => r.log).join(', ')}`
        : `now / before: ${(now.ms / before.ms).toFixed(2)}; logs in ${logDir}`,
    ].join('\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
