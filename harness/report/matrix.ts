/**
 * The report of a qualification matrix (`huplab qualify --matrix`): one run of the suites per
 * pair, each in a folder of its own (its report.html, summary.json and junit.xml), and over them
 * a table of pairs x outcome (matrix.json, and the lines printed) and one JUnit file with one
 * <testsuite> per pair, so that CI shows each upgrade path as a suite.
 */
import type { MatrixPair } from '../../lib/qualification-matrix.ts';
import type { Summary, TestRecord } from './model.ts';
import type { RunVerdict } from './run-verdict.ts';

/** One pair's run: its summary, or why it did not run (an image build failed). */
export interface PairResult {
  pair: MatrixPair;
  /** The pair's report folder, relative to the matrix's. */
  folder: string;
  verdict: RunVerdict;
  summary?: Summary;
  /** Why the suites did not run for this pair, in one line. */
  error?: string;
}

/** The folder of a pair's reports inside the matrix's: `from-<from>`. */
export function pairFolder(pair: Pick<MatrixPair, 'from'>): string {
  return `from-${pair.from}`;
}

/** The matrix's verdict: a product failure in any pair, else infrastructure in any, else passed. */
export function matrixVerdict(results: readonly PairResult[]): RunVerdict {
  if (results.some((r) => r.verdict === 'product')) return 'product';
  if (results.some((r) => r.verdict === 'infrastructure')) return 'infrastructure';
  return 'passed';
}

const OUTCOME: Record<RunVerdict, string> = {
  passed: 'passed',
  product: 'FAILED',
  infrastructure: 'not qualified (infrastructure)',
};

/** The table of pairs x outcome, for people. */
export function matrixTable(device: string, release: string, results: readonly PairResult[]): string[] {
  const head = ['from', 'to', 'tests', 'passed', 'flaky', 'failed', 'infra', 'skipped', 'outcome', 'why in the matrix'];
  const rows = results.map((r) => {
    const t = r.summary?.totals;
    const n = (v: number | undefined) => (t ? String(v) : '-');
    const outcome =
      r.summary && r.summary.totals.tests === 0
        ? 'FAILED (no test ran)'
        : `${OUTCOME[r.verdict]}${r.error ? `: ${r.error}` : ''}`;
    return [
      r.pair.from,
      r.pair.to,
      n(t?.tests),
      n(t?.passed),
      n(t?.flaky),
      n(t?.failed),
      n(t?.infrastructure),
      n(t?.skipped),
      outcome,
      r.pair.reasons.map((x) => x.kind).join(', '),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()}`;
  return [
    `qualify ${device} ${release}, matrix of ${results.length} pair(s): ${OUTCOME[matrixVerdict(results)]}`,
    line(head),
    ...rows.map(line),
  ];
}

/** What matrix.json holds: the table as data, each pair with its folder and totals. */
export function matrixDocument(
  device: string,
  release: string,
  at: string,
  results: readonly PairResult[],
): Record<string, unknown> {
  return {
    device,
    release,
    at,
    verdict: matrixVerdict(results),
    pairs: results.map((r) => ({
      from: r.pair.from,
      to: r.pair.to,
      guaranteed: r.pair.guaranteed,
      reasons: r.pair.reasons,
      folder: r.folder,
      verdict: r.verdict,
      ...(r.summary ? { totals: r.summary.totals, wallSeconds: r.summary.wallSeconds } : {}),
      ...(r.error ? { error: r.error } : {}),
    })),
  };
}

function xml(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // Characters XML 1.0 cannot carry (console output has them): dropped.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

function testcase(test: TestRecord): { xml: string; failure: boolean; error: boolean; skipped: boolean } {
  const seconds = test.attempts.reduce((s, a) => s + a.durationMs, 0) / 1000;
  const name = test.titlePath.slice(2).join(' › ') || test.title;
  const open = `    <testcase name="${xml(name)}" classname="${xml(test.file)}" time="${seconds.toFixed(3)}"`;
  const message = test.attempts.flatMap((a) => a.errors.map((e) => e.message)).at(-1) ?? '';
  const first = message.split('\n')[0] ?? '';
  if (test.outcome === 'product')
    return {
      xml: `${open}>\n      <failure type="product" message="${xml(first)}">${xml(message)}</failure>\n    </testcase>`,
      failure: true,
      error: false,
      skipped: false,
    };
  if (test.outcome === 'infrastructure')
    return {
      xml: `${open}>\n      <error type="infrastructure" message="${xml(first)}">${xml(message)}</error>\n    </testcase>`,
      failure: false,
      error: true,
      skipped: false,
    };
  if (test.outcome === 'skipped')
    return { xml: `${open}>\n      <skipped/>\n    </testcase>`, failure: false, error: false, skipped: true };
  const flaky =
    test.outcome === 'flaky'
      ? `\n      <system-out>flaky: passed after ${test.attempts.length - 1} retr${test.attempts.length > 2 ? 'ies' : 'y'}</system-out>\n    </testcase>`
      : '';
  return { xml: flaky ? `${open}>${flaky}` : `${open}/>`, failure: false, error: false, skipped: false };
}

/** JUnit XML of the matrix: one <testsuite> per pair, named for its upgrade path. */
export function matrixJunit(device: string, release: string, results: readonly PairResult[]): string {
  const suites: string[] = [];
  const total = { tests: 0, failures: 0, errors: 0, skipped: 0, time: 0 };
  for (const r of results) {
    const name = `${device} ${r.pair.from} -> ${r.pair.to}`;
    const cases = (r.summary?.tests ?? []).map(testcase);
    const runErrors = [
      ...(r.error ? [r.error] : []),
      ...(r.summary?.errors ?? []).map((e) => `[${e.classification}] ${e.message.split('\n')[0]}`),
    ];
    // An error outside the tests (or a pair that did not run) is a test case of its own, so the
    // suite does not look green in CI.
    const extra = runErrors.map(
      (e) =>
        `    <testcase name="${xml(`the run from ${r.pair.from}`)}" classname="qualify">\n      <error type="${r.verdict}" message="${xml(e)}"/>\n    </testcase>`,
    );
    const counts = {
      tests: cases.length + extra.length,
      failures: cases.filter((c) => c.failure).length,
      errors: cases.filter((c) => c.error).length + extra.length,
      skipped: cases.filter((c) => c.skipped).length,
      time: r.summary?.wallSeconds ?? 0,
    };
    for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += counts[k];
    const properties = [
      ['from', r.pair.from],
      ['to', r.pair.to],
      ['guaranteed', String(r.pair.guaranteed)],
      ['verdict', r.verdict],
      ['report', `${r.folder}/report.html`],
      ...r.pair.reasons.map((x) => [`reason.${x.kind}`, x.reason]),
    ];
    suites.push(
      [
        `  <testsuite name="${xml(name)}" tests="${counts.tests}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${counts.time.toFixed(3)}"${r.summary ? ` timestamp="${xml(r.summary.startTime)}"` : ''}>`,
        '    <properties>',
        ...properties.map(([k, v]) => `      <property name="${xml(k!)}" value="${xml(v!)}"/>`),
        '    </properties>',
        ...cases.map((c) => c.xml),
        ...extra,
        '  </testsuite>',
      ].join('\n'),
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(`qualify ${device} ${release} matrix`)}" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" skipped="${total.skipped}" time="${total.time.toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
