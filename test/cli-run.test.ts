import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// What every command gets from harness/cli/run.ts, on a pretend device (the real ones are in
// suites/interruptions.spec.ts): nothing it started outlives an error or a signal.
const fixture = join(import.meta.dirname, 'helpers', 'run-fixture.ts');
const tsx = ['--import', 'tsx', fixture];

function logFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'huplab-run-')), 'released.log');
}
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);

t.test('an error releases the device, then the backend, and says so in one line', async (t) => {
  const log = logFile();
  const r = spawnSync(process.execPath, [...tsx, 'fail', log], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.same(lines(log), ['device a1 powered off', 'backend stopped']);
  t.match(r.stderr, /^huplab: error: a1 did not boot \(look at its console\)$/m);
  t.match(r.stderr, /^huplab: after the error: device a1 powered off \(it was up\); backend stopped$/m);
});

t.test('--keep leaves the device running after an error and says so', async (t) => {
  const log = logFile();
  const r = spawnSync(process.execPath, [...tsx, 'fail', log, '--keep'], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.same(lines(log), ['backend stopped']);
  t.match(r.stderr, /after the error: backend stopped; device a1 kept running \(--keep\)/);
});

t.test('a finished command keeps its devices and closes its servers', async (t) => {
  const log = logFile();
  const r = spawnSync(process.execPath, [...tsx, 'ok', log], { encoding: 'utf8' });
  t.equal(r.status, 0);
  t.same(lines(log), ['backend stopped']);
});

for (const [signal, status] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(`${signal}: released, one JSON document with ok false, exit ${status}`, async (t) => {
    const log = logFile();
    const child = spawn(process.execPath, [...tsx, 'wait', log, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    while (!lines(log).includes('waiting')) await new Promise((r) => setTimeout(r, 50));
    child.kill(signal);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    t.equal(code, status);
    t.same(lines(log), ['waiting', 'device a1 powered off', 'backend stopped']);
    const doc = JSON.parse(stdout);
    t.equal(doc.ok, false);
    t.equal(doc.error.code, 'interrupted');
    t.match(
      doc.error.message,
      new RegExp(`^interrupted by ${signal}: device a1 powered off \\(it was up\\); backend stopped \\(`),
    );
    t.match(stderr, new RegExp(`^huplab: error: interrupted by ${signal}: `, 'm'));
  });
}

t.test('a second SIGINT forces at once', async (t) => {
  const log = logFile();
  const child = spawn(process.execPath, [...tsx, 'wait', log], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  while (!lines(log).includes('waiting')) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  // The second one while the orderly release is still powering the device off.
  while (!stderr.includes('Ctrl-C again to force')) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  t.equal(code, 130);
  t.ok(lines(log).includes('device a1 forced'), 'the device was forced');
  t.notOk(lines(log).includes('device a1 powered off'), 'without waiting for the orderly power-off');
  t.match(stderr, /SIGINT again: forced/);
});
