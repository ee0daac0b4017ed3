import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRun, planQualify, playwrightCommand, utcStamp } from '../harness/cli/qualify-command.ts';
import type { Summary } from '../harness/report/model.ts';
import { EXIT_STATUS, runVerdict } from '../harness/report/run-verdict.ts';
import { SUMMARY_SCHEMA } from '../harness/report/summary-json.ts';
import { compileSchema, describeSchemaError } from '../lib/json-schema.ts';
import { isHuplabError } from '../lib/errors.ts';
import { repoRoot } from '../lib/paths.ts';

// `huplab qualify` as a user runs it: every mistake is one line on stderr and status 1, before
// anything is built or booted.
const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
// Each case starts the CLI as a process (seconds each on a loaded 2-core host, with the other
// CLI test files running beside this one): the default 120 s per file is too tight for that.
t.setTimeout(300_000);
const lab = mkdtempSync(join(tmpdir(), 'huplab-cli-qualify-'));
function huplab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(bin, ['qualify', ...args], {
    env: { ...process.env, HUPLAB_HOME: lab, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, errLines };
}
function oneError(t: Test, args: string[], re: RegExp, env: Record<string, string> = {}) {
  const r = huplab(args, env);
  t.equal(r.status, 1, args.join(' '));
  t.equal(r.errLines.length, 1, 'one line');
  t.match(r.errLines[0], re);
  t.equal(r.stdout, '', 'nothing else');
}

t.test('unknown device names the known ones', async (t) => {
  oneError(
    t,
    ['--device', 'nope', '--release', '2.102.0'],
    /^huplab: error: unknown device "nope"; known: generic-amd64/,
  );
});

t.test('unknown release names the known ones', async (t) => {
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '9.9.9'],
    /^huplab: error: unknown release "9\.9\.9" \(known releases: 1\.24\.0, [^)]*2\.11\.0, [^)]*2\.101\.0, 2\.102\.0/,
  );
});

t.test('bad --from', async (t) => {
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--from', '1.0.0'],
    /unknown release "1\.0\.0" \(known releases: 1\.24\.0, [^)]*2\.11\.0, [^)]*2\.101\.0/,
  );
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--from', '2.102.1'],
    /--from 2\.102\.1 is not older than --release 2\.102\.0 \(releases to update from: 2\.11\.0, [^)]*2\.101\.0\)/,
  );
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--from', '2.102.0'],
    /--from 2\.102\.0 is not older than/,
  );
});

t.test('no release to update from', async (t) => {
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.101.0'],
    /no release older than 2\.101\.0 has a recipe for generic-amd64 \(generic-amd64, layout balena-ab-v1\) to update from \(ESR and legacy ones are taken only with --from: 2\.11\.0, 2\.88\.0, [^)]*2\.100\.1\) \(releases of this line: 2\.11\.0, [^)]*2\.101\.0, 2\.102\.0, 2\.102\.1, 2\.103\.0; pass --from/,
  );
  // A recipe that does not list the device type does not count as a base.
  const releases = mkdtempSync(join(tmpdir(), 'huplab-releases-'));
  for (const f of readdirSync(join(repoRoot, 'images', 'releases'))) {
    const r = JSON.parse(readFileSync(join(repoRoot, 'images', 'releases', f), 'utf8'));
    if (r.version === '2.101.0') r.deviceTypes = ['raspberrypi3'];
    writeFileSync(join(releases, f), JSON.stringify(r));
  }
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--from', '2.101.0'],
    /--from 2\.101\.0 has no recipe for generic-amd64 \(generic-amd64, layout balena-ab-v1\) \(releases to update from: 2\.11\.0, [^)]*2\.100\.1\)/,
    { HUPLAB_RELEASES: releases },
  );
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.101.0'],
    /release 2\.101\.0 has no build for generic-amd64 \(its device types: raspberrypi3\)/,
    { HUPLAB_RELEASES: releases },
  );
});

t.test('bad counts', async (t) => {
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--workers', '0'],
    /--workers must be a whole number >= 1, not "0"/,
  );
  oneError(
    t,
    ['--device', 'generic-amd64', '--release', '2.102.0', '--retries', 'two'],
    /--retries must be a whole number >= 0, not "two"/,
  );
});

t.test('errors as JSON for scripts', async (t) => {
  const r = huplab(['--device', 'nope', '--release', '2.102.0', '--json']);
  t.equal(r.status, 1);
  t.match(JSON.parse(r.stdout), { ok: false, error: { code: 'unknown-device' } });
});

t.test('the plan: defaults', async (t) => {
  const now = new Date('2026-11-23T10:15:00.123Z');
  const p = await planQualify({ device: 'generic-amd64', release: '2.102.0' }, now);
  t.same(p, {
    device: 'generic-amd64',
    release: '2.102.0',
    from: '2.101.0',
    retries: 1,
    out: join(repoRoot, 'reports', 'qualify-generic-amd64-2.102.0-20261123T101500Z'),
  });
  t.equal(
    (await planQualify({ device: 'generic-amd64', release: '2.102.1' }, now)).from,
    '2.102.0',
    'the newest older release',
  );
  t.equal(utcStamp(now), '20261123T101500Z');
  const q = await planQualify({
    device: 'generic-amd64',
    release: '2.102.1',
    from: '2.101.0',
    workers: '2',
    retries: '0',
    out: 'x/y',
    grep: 'rollback',
  });
  t.match(q, { from: '2.101.0', workers: 2, retries: 0, grep: 'rollback' });
  t.equal(q.out, join(process.cwd(), 'x/y'), 'relative to where the command runs');
});

t.test('the Playwright command', async (t) => {
  const c = playwrightCommand({
    device: 'generic-amd64',
    release: '2.102.0',
    from: '2.101.0',
    retries: 1,
    workers: 2,
    out: '/r/q',
    grep: 'boot',
  });
  t.equal(c.file, join(repoRoot, 'node_modules', '.bin', 'playwright'));
  t.same(c.args, ['test', '--project', 'generic-amd64', '--grep', 'boot']);
  t.same(c.env, {
    HUPLAB_BASE_RELEASE: '2.101.0',
    HUPLAB_NEXT_RELEASE: '2.102.0',
    HUPLAB_RETRIES: '1',
    HUPLAB_WORKERS: '2',
    HUPLAB_DEVICE: 'generic-amd64',
    HUPLAB_POWERCUT: 'steps',
    HUPLAB_REPORT_DIR: '/r/q',
    HUPLAB_PLAYWRIGHT_HTML: '0',
  });
});

t.test('--variant: checked in the plan, passed to the suites as HUPLAB_VARIANT', async (t) => {
  const p = await planQualify({ device: 'generic-amd64', release: '2.102.0', variant: 'production' });
  t.equal(p.variant, 'production');
  t.equal(playwrightCommand(p).env.HUPLAB_VARIANT, 'production');
  const err = await planQualify({ device: 'generic-amd64', release: '2.102.0', variant: 'prod' }).catch((e) => e);
  t.ok(isHuplabError(err, 'variant-invalid'));
  t.notOk(
    'HUPLAB_VARIANT' in playwrightCommand(await planQualify({ device: 'generic-amd64', release: '2.102.0' })).env,
  );
});

const totals = (o: Partial<Summary['totals']>): Summary['totals'] => ({
  tests: 3,
  passed: 3,
  failed: 0,
  infrastructure: 0,
  flaky: 0,
  skipped: 0,
  attempts: 3,
  ...o,
});

t.test('exit status: 0 passed (flaky included), 1 product, 2 infrastructure only', async (t) => {
  t.equal(runVerdict({ totals: totals({}), errors: [] }), 'passed');
  t.equal(runVerdict({ totals: totals({ passed: 2, flaky: 1 }), errors: [] }), 'passed');
  t.equal(runVerdict({ totals: totals({ passed: 1, failed: 1, infrastructure: 1 }), errors: [] }), 'product');
  t.equal(runVerdict({ totals: totals({ passed: 2, infrastructure: 1 }), errors: [] }), 'infrastructure');
  t.equal(
    runVerdict({
      totals: totals({}),
      errors: [{ message: 'worker teardown', location: null, classification: 'infrastructure' }],
    }),
    'infrastructure',
  );
  t.equal(
    runVerdict({ totals: totals({}), errors: [{ message: 'x', location: null, classification: 'product' }] }),
    'product',
  );
  t.same(EXIT_STATUS, { passed: 0, product: 1, infrastructure: 2 });
});

t.test('the printed summary names flaky and failed tests', async (t) => {
  const test = (title: string, outcome: Summary['tests'][number]['outcome']) =>
    ({ titlePath: ['generic-amd64', 'x.spec.ts', title], outcome }) as Summary['tests'][number];
  const s = {
    totals: totals({ passed: 1, flaky: 1, infrastructure: 1 }),
    errors: [],
    wallSeconds: 120,
    workers: 2,
    tests: [test('a', 'passed'), test('b', 'flaky'), test('c', 'infrastructure')],
  } as unknown as Summary;
  const lines = describeRun({ device: 'generic-amd64', from: '2.101.0', release: '2.102.0' }, s, 'infrastructure');
  t.match(lines[0], /^qualify generic-amd64 2\.101\.0 -> 2\.102\.0: NOT QUALIFIED: infrastructure errors only/);
  t.match(
    lines[1],
    /3: 1 passed, 1 flaky, 0 product failures, 1 infrastructure, 0 skipped \(3 attempts, 2\.0 min, 2 workers\)/,
  );
  t.same(lines.slice(2), [
    '  flaky (passed after a retry):',
    '    - x.spec.ts › b',
    '  infrastructure:',
    '    - x.spec.ts › c',
  ]);
});

// The whole chain (CLI -> Playwright -> playwright.config.ts -> huplab reporter -> summary) on a
// pattern that selects no test, so nothing boots.
t.test('a run that selects no test still writes its reports', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'huplab-qualify-out-'));
  const r = huplab([
    '--device',
    'generic-amd64',
    '--release',
    '2.102.0',
    '--grep',
    'no-test-is-called-this',
    '--no-build',
    '--out',
    out,
    '--json',
  ]);
  t.equal(r.status, 1, 'no test ran: not a pass');
  const doc = JSON.parse(r.stdout);
  t.match(doc, {
    ok: false, // the exit status is not 0
    error: { code: 'no-test-ran' },
    verdict: 'product',
    exitStatus: 1,
    files: { html: join(out, 'report.html'), summary: join(out, 'summary.json'), junit: join(out, 'junit.xml') },
  });
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  t.same(doc.summary, summary, 'stdout carries summary.json');
  const validate = compileSchema(SUMMARY_SCHEMA);
  t.ok(validate(summary), describeSchemaError(validate.errors));
  t.match(summary, {
    device: 'generic-amd64',
    release: '2.102.0',
    from: '2.101.0',
    totals: { tests: 0 },
    errors: [{ message: /No tests found/ }],
  });
  t.match(readFileSync(join(out, 'report.html'), 'utf8'), /No tests found/);
  t.match(readFileSync(join(out, 'junit.xml'), 'utf8'), /<testsuites/);
});
