import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `huplab hup` and the support policy, as a user runs it: --plan prints the policy's verdict
// beside the update method; an end-of-life or unmaintained target is refused before anything is
// built or started unless --allow-unsupported; a jump that is not guaranteed runs with a warning.
// The dates are given (--at), so the shipped recipes give the same verdicts on any day.
const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
t.setTimeout(300_000);
const root = mkdtempSync(join(tmpdir(), 'huplab-cli-hup-policy-'));
// Neither folder exists: a run that builds or starts anything creates them.
const lab = join(root, 'lab');
const cache = join(root, 'cache');
function huplab(args: string[]) {
  const started = Date.now();
  const r = spawnSync(bin, ['hup', '--device', 'generic-amd64', ...args], {
    env: { ...process.env, HUPLAB_HOME: lab, HUPLAB_CACHE: cache, HUPLAB_QUIET: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, errLines, ms: Date.now() - started };
}

t.test('--plan: an end-of-life target is refused, with the rule and the dates, in one line', async (t) => {
  const r = huplab(['--from', '2.88.0', '--to', '2.88.1', '--at', '2026-12-04', '--plan']);
  t.equal(r.status, 1, 'a refused plan exits 1');
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0], /^update method: standard \(generic-amd64, 2\.88\.0 -> 2\.88\.1\)/, 'the method first');
  t.match(
    lines[1],
    /^support policy: refused \(on 2026-12-04\): end-of-life: 2\.88\.1 is on ESR line 2026\.1, at end of life since 2026-10-12/,
  );
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /^huplab: error: end-of-life: 2\.88\.1 .* \(pick a maintained target .*--allow-unsupported/);
});

t.test('--plan --allow-unsupported: the same verdict, allowed, exit 0', async (t) => {
  const r = huplab(['--from', '2.88.0', '--to', '2.88.1', '--at', '2026-12-04', '--plan', '--allow-unsupported']);
  t.equal(r.status, 0);
  t.match(r.stdout, /support policy: unsupported, allowed by --allow-unsupported \(on 2026-12-04\): end-of-life: /);
  t.equal(r.errLines.length, 0);
});

t.test('--plan --json: one document, ok false, the policy verdict under plan.policy', async (t) => {
  const r = huplab(['--from', '2.101.0', '--to', '2.102.0', '--at', '2026-12-04', '--plan', '--json']);
  t.equal(r.status, 1);
  const doc = JSON.parse(r.stdout);
  t.equal(doc.ok, false);
  t.equal(doc.error.code, 'target-unsupported');
  t.match(doc.plan, {
    method: 'standard',
    policy: { rule: 'not-maintained', allowed: false, at: '2026-12-04', target: '2.102.0' },
  });
  t.match(doc.plan.policy.reason, /not maintained since 2026-11-09, when 2\.102\.1 was published/);
});

t.test('--plan: the same pair while it was maintained, and a jump that is not guaranteed', async (t) => {
  const then = huplab(['--from', '2.101.0', '--to', '2.102.0', '--at', '2026-11-01', '--plan']);
  t.equal(then.status, 0);
  t.match(
    then.stdout,
    /support policy: supported \(on 2026-11-01\): supported: 2\.102\.0 is the latest rolling release/,
  );
  const far = huplab(['--from', '2.88.1', '--to', '2.103.0', '--at', '2026-12-04', '--plan']);
  t.equal(far.status, 0, 'allowed');
  t.match(
    far.stdout,
    /support policy: allowed, not guaranteed \(on 2026-12-04\): not-guaranteed: the jump from 2\.88\.1/,
  );
});

t.test('a bad --at is one line, before anything else', async (t) => {
  const r = huplab(['--from', '2.101.0', '--to', '2.102.0', '--at', '2026-02-30', '--plan']);
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /--at "2026-02-30" is not a date/);
});

t.test('huplab hup to an end-of-life target is refused before anything is built or started', async (t) => {
  const r = huplab(['--from', '2.88.0', '--to', '2.88.1', '--at', '2026-12-04', '--name', 'eol']);
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(
    r.errLines[0],
    /^huplab: error: generic-amd64 2\.88\.0 -> generic-amd64 2\.88\.1: end-of-life: .*since 2026-10-12.* \(pick a maintained target .*--allow-unsupported/,
  );
  t.notOk(existsSync(lab), 'no lab folder: no device, no backend, no key');
  t.notOk(existsSync(cache), 'no cache: nothing built');
  // No QEMU, no build: the refusal costs the time of starting the CLI (seconds on a loaded host).
  t.ok(r.ms < 30_000, `returned in ${r.ms} ms`);
  const json = huplab(['--from', '2.88.0', '--to', '2.88.1', '--at', '2026-12-04', '--json']);
  t.equal(json.status, 1);
  t.match(JSON.parse(json.stdout), { ok: false, error: { code: 'target-unsupported' } });
});
