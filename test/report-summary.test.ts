import { defaultSuiteReleases } from '../harness/update/suite-releases.ts';
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import HuplabReporter from '../harness/report/reporter.ts';
import type { TestRecord } from '../harness/report/model.ts';
import { SUMMARY_SCHEMA } from '../harness/report/summary-json.ts';
import { compileSchema, describeSchemaError } from '../lib/json-schema.ts';
import { fakeRun, thrown } from './helpers/report-fakes.ts';
import { HuplabError } from '../lib/errors.ts';
import { TESTS, runReporter, serial } from './helpers/report-run.ts';

const { dir, summary } = runReporter(TESTS, {
  runErrors: [
    thrown(new HuplabError('backend-start-failed', 'cannot start the update backend', { infrastructure: true })),
  ],
});
const byTitle = (title: string): TestRecord => summary.tests.find((x) => x.title === title)!;

t.test('summary.json matches its schema', async (t) => {
  const validate = compileSchema(SUMMARY_SCHEMA);
  t.ok(validate(summary), describeSchemaError(validate.errors));
  const broken = structuredClone(summary) as unknown as {
    tests: Array<{ attempts: Array<{ classification: string }> }>;
  };
  broken.tests[0]!.attempts[0]!.classification = 'maybe';
  t.notOk(validate(broken), 'the schema is strict about classifications');
});

t.test('run facts', async (t) => {
  t.match(summary, {
    schemaVersion: 1,
    device: 'generic-amd64',
    projects: ['generic-amd64'],
    release: '2.102.0',
    from: '2.101.0',
    workers: 2,
    shard: null,
    status: 'failed',
  });
  t.equal(summary.startTime, '2026-11-23T10:00:00.000Z');
  t.equal(summary.endTime, '2026-11-23T10:05:00.000Z');
  t.equal(summary.wallSeconds, 300);
});

t.test('totals: product failures, infrastructure, flaky and skipped apart', async (t) => {
  t.same(summary.totals, { tests: 7, passed: 2, failed: 2, infrastructure: 1, flaky: 1, skipped: 1, attempts: 11 });
});

t.test('every attempt is recorded and classified', async (t) => {
  const classes = (title: string) => byTitle(title).attempts.map((a) => [a.retry, a.status, a.classification]);
  t.same(classes('boots to os ready'), [[0, 'passed', 'passed']]);
  t.same(classes('data-full is refused'), [
    [0, 'failed', 'product'],
    [1, 'failed', 'product'],
  ]);
  t.same(
    classes('qemu never starts'),
    [
      [0, 'failed', 'infrastructure'],
      [1, 'failed', 'infrastructure'],
    ],
    'the first error decides',
  );
  t.same(classes('passes on retry'), [
    [0, 'timedOut', 'product'],
    [1, 'passed', 'passed'],
  ]);
  t.same(classes('not on this board'), [[0, 'skipped', 'skipped']]);
  t.same(classes('product first, lab second'), [
    [0, 'failed', 'product'],
    [1, 'failed', 'infrastructure'],
  ]);
  t.same(
    summary.tests.map((x) => [x.title, x.outcome]),
    [
      ['boots to os ready', 'passed'],
      ['data-full is refused', 'product'],
      ['qemu never starts', 'infrastructure'],
      ['passes on retry', 'flaky'],
      ['delta update commits', 'passed'],
      ['not on this board', 'skipped'],
      ['product first, lab second', 'product'],
    ],
    'a lab failure on the retry does not hide a product failure',
  );
});

t.test('errors: messages without ANSI, with their location', async (t) => {
  const e = byTitle('data-full is refused').attempts[0]!.errors[0]!;
  t.match(e.message, /^Error: expect\(received\)\.toEqual\(expected\)\n/);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for escape characters
  t.notMatch(e.message, /\x1b/);
  t.equal(e.location, 'suites/x.spec.ts:10:5');
  t.match(
    byTitle('qemu never starts').attempts[0]!.errors[0]!.message,
    /^HuplabError: infrastructure: QEMU failed to start/,
  );
  t.same(summary.errors, [
    {
      message: 'HuplabError: infrastructure: cannot start the update backend',
      location: 'suites/x.spec.ts:10:5',
      classification: 'infrastructure',
    },
  ]);
});

t.test('test identity: title path, file, fault', async (t) => {
  const x = byTitle('delta update commits');
  t.same(x.titlePath, ['generic-amd64', 'hup-standard.spec.ts', 'hup-standard', 'delta update commits']);
  t.equal(x.file, 'suites/hup-standard.spec.ts');
  t.equal(x.project, 'generic-amd64');
  t.equal(x.fault, 'registry-down', 'from hup-outcome.json');
  t.equal(byTitle('data-full is refused').fault, 'data-full', 'from the annotation');
  t.equal(byTitle('boots to os ready').fault, null);
});

t.test('attachments: paths for all, bodies written into the report folder', async (t) => {
  const a = byTitle('delta update commits').attempts[0]!;
  t.same(
    a.attachments.map((x) => x.name),
    ['t1234-0-serial.log', 'upgrade-2.x.sh.20261123_100000.log', 'hup-outcome.json', 'hup-outcome.json'],
  );
  t.equal(a.attachments[0]!.path, serial, 'a path outside the report stays absolute');
  const bodies = a.attachments.slice(2).map((x) => x.path!);
  t.match(
    bodies,
    [/^attachments\/id\d+\/attempt-0\/hup-outcome\.json$/, /^attachments\/id\d+\/attempt-0\/hup-outcome-2\.json$/],
    'relative, names made unique',
  );
  for (const p of bodies) t.ok(existsSync(join(dir, p)), p);
  t.same(JSON.parse(readFileSync(join(dir, bodies[1]!), 'utf8')).fault, 'registry-down');
  const retry = byTitle('data-full is refused').attempts[1]!.attachments[0]!;
  t.match(retry.path, /attempt-1\/hup-outcome\.json$/, 'each attempt keeps its own');
});

t.test('updates: the verdict of each hup-outcome.json', async (t) => {
  t.same(
    byTitle('delta update commits').attempts[0]!.updates.map((u) => [u.fault, u.from, u.to, u.ok]),
    [
      [null, '2.101.0', '2.102.0', true],
      ['registry-down', '2.101.0', '2.102.0', true],
    ],
  );
  t.same(byTitle('data-full is refused').attempts[0]!.updates[0]!.failedChecks, ['device rebooted into the new OS']);
});

t.test('an unreadable hup-outcome.json is reported, not fatal', async (t) => {
  const { summary } = runReporter([
    {
      title: 'odd',
      attempts: [
        {
          status: 'passed',
          attachments: [
            { name: 'hup-outcome.json', contentType: 'application/json', body: Buffer.from('{"outcome": {}}') },
          ],
        },
      ],
    },
  ]);
  t.match(summary.tests[0]!.attempts[0]!.updates[0], { ok: null, problem: /verdict/ });
});

t.test("an interrupted run and interrupted attempts are the lab's", async (t) => {
  const run = fakeRun('generic-amd64', [{ title: 'cut short', attempts: [{ status: 'interrupted' }] }]);
  const out = mkdtempSync(join(tmpdir(), 'huplab-report-'));
  const reporter = new HuplabReporter({ outputDir: out, announce: false });
  reporter.onBegin(run.config, run.root);
  reporter.onEnd({ ...run.result, status: 'interrupted' });
  const s = reporter.summary!;
  t.equal(s.tests[0]!.attempts[0]!.classification, 'infrastructure');
  t.equal(s.tests[0]!.outcome, 'skipped', 'Playwright does not count an interrupted attempt');
  t.same(
    s.errors.map((e) => e.classification),
    ['infrastructure'],
  );
  t.equal(s.release, defaultSuiteReleases().next, "release from the environment, else the suites' default");
});

t.test('a report that cannot be written does not throw into Playwright', async (t) => {
  const run = fakeRun('generic-amd64', [{ title: 'x', attempts: [{ status: 'passed' }] }]);
  const reporter = new HuplabReporter({ outputDir: '/dev/null/not-a-folder', announce: false });
  reporter.onBegin(run.config, run.root);
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    t.doesNotThrow(() => reporter.onEnd(run.result));
  } finally {
    process.stderr.write = write;
  }
  t.match(written.join(''), /^huplab report: could not be written to \/dev\/null\/not-a-folder: /);
});
