import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planMatrix, writeMatrixReport } from '../harness/cli/qualify-command.ts';
import { matrixJunit, matrixTable, matrixVerdict, type PairResult } from '../harness/report/matrix.ts';
import type { Summary, TestRecord } from '../harness/report/model.ts';
import { isHuplabError } from '../lib/errors.ts';
import { type MatrixPair, qualificationMatrix } from '../lib/qualification-matrix.ts';
import type { ReleaseFacts } from '../lib/release-policy.ts';

// The qualification matrix (issue 18, part 5): which "from" versions a release is qualified
// from, derived from the support policy at a date, each with its reasons; the table of pairs x
// outcome and the JUnit of a matrix run (one <testsuite> per pair), from fake pair results.

const fact = (version: string, date: string, line: string, deviceTypes = ['pc']): ReleaseFacts => ({
  version,
  date: `${date}T00:00:00Z`,
  line,
  deviceTypes,
});
// The shape of the shipped recipes, frozen here so that a new recipe changes nothing.
const FACTS: ReleaseFacts[] = [
  fact('2.11.0', '2026-03-02', 'rolling'),
  fact('2.88.0', '2026-01-12', '2026.1'),
  fact('2.88.1', '2026-03-16', '2026.1'),
  fact('2.93.0', '2026-04-13', '2026.4'),
  fact('2.93.1', '2026-06-22', '2026.4'),
  fact('2.97.0', '2026-07-13', '2026.7'),
  fact('2.97.1', '2026-09-28', '2026.7'),
  fact('2.100.0', '2026-10-12', '2026.10'),
  fact('2.100.1', '2026-11-23', '2026.10'),
  fact('2.101.0', '2026-09-14', 'rolling'),
  fact('2.102.0', '2026-10-26', 'rolling'),
  fact('2.102.1', '2026-11-09', 'rolling'),
  fact('2.103.0', '2026-11-30', 'rolling'),
  fact('2.104.0', '2027-01-18', 'rolling', ['other']),
];
const at = (d: string) => new Date(`${d}T00:00:00Z`);
const kinds = (pairs: MatrixPair[]) => Object.fromEntries(pairs.map((p) => [p.from, p.reasons.map((r) => r.kind)]));

t.test('the matrix on 2026-12-04: previous rolling, each maintained ESR line, the oldest guaranteed', async (t) => {
  const m = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.103.0', at: at('2026-12-04') });
  t.equal(m.at, '2026-12-04');
  t.same(kinds(m.pairs), {
    '2.93.0': ['oldest-guaranteed'],
    '2.93.1': ['esr-latest'],
    '2.97.1': ['esr-latest'],
    '2.100.1': ['esr-latest'],
    '2.102.1': ['previous-rolling'],
  });
  t.ok(
    m.pairs.every((p) => p.to === '2.103.0' && p.guaranteed),
    'every pair goes to the release, within the jump rule',
  );
  const reason = (from: string) => m.pairs.find((p) => p.from === from)!.reasons[0]!.reason;
  t.match(reason('2.102.1'), /the rolling release before 2\.103\.0 \(published 2026-11-09\)/);
  t.match(reason('2.93.1'), /latest patch of ESR line 2026\.4 \(sunset-esr on 2026-12-04, end of life 2027-01-13\)/);
  t.match(reason('2.100.1'), /ESR line 2026\.10 \(next-esr on 2026-12-04/);
  t.match(reason('2.93.0'), /oldest release the jump to 2\.103\.0 is guaranteed from \(2 quarter\(s\), at most 2\)/);
  t.notOk(
    m.pairs.some((p) => p.from.startsWith('2.88.')),
    'the end-of-life ESR line 2026.1 is not in it, nor beyond the jump',
  );
});

t.test('the matrix moves with the date', async (t) => {
  // Before 2.100.1 and 2.102.x: the ESR line's first release is its latest patch.
  const oct = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.102.0', at: at('2026-10-26') });
  t.same(Object.keys(kinds(oct.pairs)), ['2.93.0', '2.93.1', '2.97.1', '2.100.0', '2.101.0']);
  t.same(kinds(oct.pairs)['2.101.0'], ['previous-rolling']);
  // The day ESR line 2026.4 reaches its end of life, its latest patch leaves the matrix; its first
  // release stays, as the oldest release the jump is guaranteed from.
  const before = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.103.0', at: at('2027-01-12') });
  const after = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.103.0', at: at('2027-01-13') });
  t.ok(before.pairs.some((p) => p.from === '2.93.1'));
  t.notOk(
    after.pairs.some((p) => p.from === '2.93.1'),
    'sunset-esr then eol: out',
  );
  t.same(kinds(after.pairs)['2.93.0'], ['oldest-guaranteed']);
  // A release not published yet on the day is no "from".
  const early = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.103.0', at: at('2026-11-01') });
  t.same(kinds(early.pairs)['2.102.0'], ['previous-rolling'], '2.102.1 (2026-11-09) was not out yet');
  t.notOk(early.pairs.some((p) => p.from === '2.100.1'));
});

t.test('a version there for several reasons is one pair with all of them; candidates limit the froms', async (t) => {
  const m = qualificationMatrix(FACTS, { deviceType: 'pc', release: '2.101.0', at: at('2026-09-14') });
  t.same(kinds(m.pairs)['2.11.0'], ['previous-rolling', 'oldest-guaranteed']);
  t.equal(m.pairs.filter((p) => p.from === '2.11.0').length, 1);
  t.same(kinds(m.pairs)['2.88.1'], ['esr-latest'], 'ESR 2026.1 is sunset-esr on 2026-09-14, so it counts');
  // Without 2.11.0 as a candidate (a legacy release, another layout): the next ones take its reasons.
  const line = FACTS.map((f) => f.version).filter((v) => v !== '2.11.0');
  const c = qualificationMatrix(FACTS, {
    deviceType: 'pc',
    release: '2.101.0',
    at: at('2026-09-14'),
    candidates: line,
  });
  t.same(kinds(c.pairs), {
    '2.88.0': ['oldest-guaranteed'],
    '2.88.1': ['esr-latest'],
    '2.93.1': ['esr-latest'],
    '2.97.0': ['esr-latest'],
  });
  t.same(
    qualificationMatrix(FACTS, { deviceType: 'other', release: '2.104.0', at: at('2027-02-01') }).pairs,
    [],
    'a device type with nothing older: no pair',
  );
});

// ---------------------------------------------------------------------------------------------
// The report of a matrix run, from fake pair results

const test = (title: string, outcome: TestRecord['outcome'], message?: string): TestRecord => ({
  id: title,
  titlePath: ['generic-amd64', 'suites/hup.spec.ts', 'hup', title],
  title,
  project: 'generic-amd64',
  file: 'suites/hup.spec.ts',
  line: 1,
  fault: null,
  expectedStatus: 'passed',
  outcome,
  attempts: [
    {
      retry: 0,
      status: outcome === 'passed' ? 'passed' : outcome === 'skipped' ? 'skipped' : 'failed',
      classification: outcome === 'flaky' ? 'product' : outcome === 'skipped' ? 'skipped' : (outcome as 'passed'),
      startTime: '2026-12-04T10:00:00Z',
      durationMs: 1500,
      workerIndex: 0,
      errors: message ? [{ message, location: null }] : [],
      attachments: [],
      updates: [],
    },
  ],
});
const summary = (tests: TestRecord[]): Summary => ({
  schemaVersion: 1,
  device: 'generic-amd64',
  projects: ['generic-amd64'],
  release: '2.103.0',
  from: null,
  startTime: '2026-12-04T10:00:00Z',
  endTime: '2026-12-04T10:10:00Z',
  wallSeconds: 600,
  workers: 1,
  shard: null,
  status: 'passed',
  totals: {
    tests: tests.length,
    passed: tests.filter((x) => x.outcome === 'passed').length,
    failed: tests.filter((x) => x.outcome === 'product').length,
    infrastructure: tests.filter((x) => x.outcome === 'infrastructure').length,
    flaky: tests.filter((x) => x.outcome === 'flaky').length,
    skipped: tests.filter((x) => x.outcome === 'skipped').length,
    attempts: tests.length,
  },
  errors: [],
  tests,
});
const pair = (from: string, kind: 'previous-rolling' | 'esr-latest'): MatrixPair => ({
  from,
  to: '2.103.0',
  guaranteed: true,
  reasons: [{ kind, reason: `${kind} of ${from}` }],
});
const RESULTS: PairResult[] = [
  {
    pair: pair('2.100.1', 'esr-latest'),
    folder: 'from-2.100.1',
    verdict: 'product',
    summary: summary([test('updates', 'passed'), test('rolls back', 'product', 'expected <root B> & saw "A"\nstack')]),
  },
  {
    pair: pair('2.102.1', 'previous-rolling'),
    folder: 'from-2.102.1',
    verdict: 'passed',
    summary: summary([test('updates', 'passed'), test('rolls back', 'skipped')]),
  },
  {
    pair: pair('2.97.1', 'esr-latest'),
    folder: 'from-2.97.1',
    verdict: 'infrastructure',
    error: 'grub-mkimage failed',
  },
];

t.test('the table of pairs x outcome', async (t) => {
  const lines = matrixTable('generic-amd64', '2.103.0', RESULTS);
  t.match(lines[0], /^qualify generic-amd64 2\.103\.0, matrix of 3 pair\(s\): FAILED$/);
  t.match(lines[1], /from\s+to\s+tests\s+passed\s+flaky\s+failed\s+infra\s+skipped\s+outcome\s+why in the matrix/);
  t.match(lines[2], /^ {2}2\.100\.1\s+2\.103\.0\s+2\s+1\s+0\s+1\s+0\s+0\s+FAILED\s+esr-latest$/);
  t.match(lines[3], /^ {2}2\.102\.1\s+2\.103\.0\s+2\s+1\s+0\s+0\s+0\s+1\s+passed\s+previous-rolling$/);
  t.match(lines[4], /^ {2}2\.97\.1\s+2\.103\.0\s+-\s+-.*not qualified \(infrastructure\): grub-mkimage failed/);
  t.equal(lines.length, 5);
  t.equal(matrixVerdict(RESULTS), 'product');
  t.equal(matrixVerdict(RESULTS.slice(1)), 'infrastructure');
  t.equal(matrixVerdict(RESULTS.slice(1, 2)), 'passed');
});

t.test('JUnit: one <testsuite> per pair, named for its upgrade path, with its cases and counts', async (t) => {
  const xml = matrixJunit('generic-amd64', '2.103.0', RESULTS);
  t.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="qualify generic-amd64 2\.103\.0 matrix"/);
  const suites = [
    ...xml.matchAll(/<testsuite name="([^"]+)" tests="(\d+)" failures="(\d+)" errors="(\d+)" skipped="(\d+)"/g),
  ];
  t.same(
    suites.map((m) => m.slice(1)),
    [
      ['generic-amd64 2.100.1 -&gt; 2.103.0', '2', '1', '0', '0'],
      ['generic-amd64 2.102.1 -&gt; 2.103.0', '2', '0', '0', '1'],
      ['generic-amd64 2.97.1 -&gt; 2.103.0', '1', '0', '1', '0'],
    ],
  );
  t.equal((xml.match(/<\/testsuite>/g) ?? []).length, 3);
  t.match(xml, /<testsuites [^>]*tests="5" failures="1" errors="1" skipped="1"/);
  t.match(
    xml,
    /<testcase name="hup › rolls back" classname="suites\/hup\.spec\.ts" time="1\.500">\n {6}<failure type="product" message="expected &lt;root B&gt; &amp; saw &quot;A&quot;">/,
  );
  t.match(xml, /<error type="infrastructure" message="grub-mkimage failed"\/>/, 'a pair that did not run is an error');
  t.match(xml, /<property name="reason\.esr-latest" value="esr-latest of 2\.100\.1"\/>/);
  t.match(xml, /<property name="report" value="from-2\.100\.1\/report\.html"\/>/);
  t.equal((xml.match(/<testsuite /g) ?? []).length, (xml.match(/<\/testsuite>/g) ?? []).length, 'well nested');
});

t.test('the matrix report files', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'huplab-matrix-'));
  const mplan = {
    matrix: { deviceType: 'generic-amd64', release: '2.103.0', at: '2026-12-04', pairs: RESULTS.map((r) => r.pair) },
    out,
    plans: RESULTS.map((r) => ({
      device: 'generic-amd64',
      release: '2.103.0',
      from: r.pair.from,
      retries: 1,
      out: join(out, r.folder),
    })),
  };
  const table = await writeMatrixReport(mplan, RESULTS);
  t.equal(readFileSync(join(out, 'matrix.txt'), 'utf8'), `${table.join('\n')}\n`);
  const doc = JSON.parse(readFileSync(join(out, 'matrix.json'), 'utf8'));
  t.match(doc, {
    device: 'generic-amd64',
    release: '2.103.0',
    at: '2026-12-04',
    verdict: 'product',
    pairs: [
      { from: '2.100.1', folder: 'from-2.100.1', verdict: 'product', totals: { tests: 2, failed: 1 } },
      { from: '2.102.1', verdict: 'passed' },
      { from: '2.97.1', verdict: 'infrastructure', error: 'grub-mkimage failed' },
    ],
  });
  t.equal((readFileSync(join(out, 'junit.xml'), 'utf8').match(/<testsuite /g) ?? []).length, 3);
});

// ---------------------------------------------------------------------------------------------
// The plan from the shipped recipes and the options

t.test('planMatrix: the shipped recipes on 2026-12-04, one report folder per pair', async (t) => {
  const now = new Date('2026-12-04T09:00:00Z');
  const m = await planMatrix({ device: 'generic-amd64', release: '2.103.0', matrix: true, out: '/r/q' }, now);
  t.same(
    m.plans.map((p) => [p.from, p.release, p.out]),
    [
      ['2.93.0', '2.103.0', '/r/q/from-2.93.0'],
      ['2.93.1', '2.103.0', '/r/q/from-2.93.1'],
      ['2.97.1', '2.103.0', '/r/q/from-2.97.1'],
      ['2.100.1', '2.103.0', '/r/q/from-2.100.1'],
      ['2.102.1', '2.103.0', '/r/q/from-2.102.1'],
    ],
  );
  t.equal(m.matrix.at, '2026-12-04', 'today by default');
  const two = await planMatrix(
    { device: 'generic-amd64', release: '2.102.0', matrix: true, at: '2026-11-01', onlyFrom: '2.101.0,2.100.0' },
    now,
  );
  t.same(
    two.plans.map((p) => p.from),
    ['2.100.0', '2.101.0'],
    '--only-from keeps those pairs, in the matrix order',
  );
  t.match(two.out, /reports\/qualify-generic-amd64-2\.102\.0-matrix-20261204T090000Z$/);
  const refused = async (o: Record<string, string | boolean>, re: RegExp) => {
    const err = await planMatrix({ device: 'generic-amd64', release: '2.102.0', matrix: true, ...o }, now).catch(
      (e: unknown) => e,
    );
    t.ok(isHuplabError(err), `refused: ${JSON.stringify(o)}`);
    t.match((err as Error).message, re);
  };
  await refused({ from: '2.101.0' }, /--from names one pair; --matrix derives them/);
  await refused({ onlyFrom: '2.102.1' }, /--only-from 2\.102\.1: not in the matrix of 2\.102\.0 on generic-amd64/);
  await refused({ at: 'soon' }, /--at "soon" is not a date/);
  await refused({ at: '2026-01-01' }, /names no release to qualify 2\.102\.0 from on generic-amd64 on 2026-01-01/);
});

t.test('huplab qualify --matrix --plan as a user runs it: the matrix, nothing built or run', async (t) => {
  const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
  const lab = mkdtempSync(join(tmpdir(), 'huplab-matrix-cli-'));
  const args = ['qualify', '--device', 'generic-amd64', '--release', '2.103.0', '--matrix', '--at', '2026-12-04'];
  const env = { ...process.env, HUPLAB_HOME: join(lab, 'lab'), HUPLAB_CACHE: join(lab, 'cache') };
  const r = spawnSync(bin, [...args, '--plan', '--out', join(lab, 'q')], { encoding: 'utf8', env, timeout: 120_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(
    r.stdout,
    /^qualification matrix of 2\.103\.0 on generic-amd64 \(generic-amd64\), support policy on 2026-12-04: 5 pair\(s\)\n/,
  );
  t.match(r.stdout, /\n {2}2\.102\.1 -> 2\.103\.0\n {4}previous-rolling: the rolling release before 2\.103\.0/);
  t.match(r.stdout, /\n {2}2\.93\.0 -> 2\.103\.0\n {4}oldest-guaranteed: /);
  const j = spawnSync(bin, [...args, '--plan', '--json', '--only-from', '2.100.1,2.102.1'], {
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  t.equal(j.status, 0);
  const doc = JSON.parse(j.stdout);
  t.match(doc, {
    ok: true,
    matrix: { release: '2.103.0', at: '2026-12-04' },
    pairs: [
      { from: '2.100.1', to: '2.103.0', folder: 'from-2.100.1' },
      { from: '2.102.1', to: '2.103.0', folder: 'from-2.102.1' },
    ],
  });
  t.same(
    doc.matrix.pairs[0].reasons.map((x: { kind: string }) => x.kind),
    ['esr-latest'],
  );
  const noMatrix = spawnSync(
    bin,
    ['qualify', '--device', 'generic-amd64', '--release', '2.103.0', '--at', '2026-12-04'],
    {
      encoding: 'utf8',
      env,
      timeout: 120_000,
    },
  );
  t.equal(noMatrix.status, 1);
  t.match(noMatrix.stderr, /^huplab: error: --at goes with --matrix \(add --matrix/);
});
