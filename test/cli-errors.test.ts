import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { powercutFailure } from '../harness/cli/powercut-command.ts';
import { qualifyFailure } from '../harness/cli/qualify-command.ts';
import { resultDocument, verdictFailure } from '../harness/cli/output.ts';

// The error contract of the CLI: one `huplab: error: <what> (<how to fix>)` line and exit 1,
// exactly one JSON document with ok: false under --json (parser errors too), and every option
// checked before the lab folder, its key or an image is created.
const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
const root = mkdtempSync(join(tmpdir(), 'huplab-cli-errors-'));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  errLines: string[];
  home: string;
  cache: string;
}

let runs = 0;
/** Runs the CLI with a lab folder that does not exist yet and an empty image cache. */
function huplab(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const dir = join(root, String(runs++));
  const home = join(dir, 'lab');
  const cache = join(dir, 'cache');
  mkdirSync(cache, { recursive: true });
  return new Promise((resolve) => {
    const p = spawn(bin, args, {
      env: { ...process.env, HUPLAB_HOME: home, HUPLAB_CACHE: cache, HUPLAB_QUIET: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) =>
      resolve({
        status,
        stdout,
        stderr,
        errLines: stderr.split('\n').filter((l) => l.startsWith('huplab: error:')),
        home,
        cache,
      }),
    );
  });
}

interface Case {
  args: string[];
  says: RegExp;
  env?: Record<string, string>;
  /** Also run it with --json and check the one JSON document. */
  json?: boolean;
}

/** Refused in one line, exit 1, and nothing was created or built; a few processes at a time. */
async function refused(t: Test, cases: Case[]) {
  const check = async (c: Case) => {
    const what = c.args.join(' ');
    const r = await huplab(c.args, c.env);
    t.equal(r.status, 1, `${what}: exit 1`);
    t.equal(r.errLines.length, 1, `${what}: one error line (${r.stderr.trim()})`);
    t.match(r.errLines[0] ?? '', c.says, what);
    t.match(r.errLines[0] ?? '', /\(.+\)$/, `${what}: says how to fix it`);
    t.notOk(existsSync(r.home), `${what}: no lab folder created`);
    t.same(readdirSync(r.cache), [], `${what}: no image build started`);
    if (!c.json) return;
    const j = await huplab([...c.args, '--json'], c.env);
    t.equal(j.status, 1);
    const doc = JSON.parse(j.stdout) as { ok: boolean; error: { code: string; message: string } };
    t.equal(doc.ok, false, `${what} --json: ok false`);
    t.match(doc.error.message, c.says);
  };
  const queue = [...cases];
  await Promise.all(
    [1, 2, 3].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await check(c);
    }),
  );
}

t.test('ok is false in the JSON document of a result whose exit status is not 0', async (t) => {
  const failed = verdictFailure({
    ok: false,
    checks: [
      { ok: true, what: 'commit' },
      { ok: false, what: 'rootB' },
    ],
  });
  t.ok(failed);
  const doc = resultDocument({ method: 'standard', verdict: { ok: false } }, failed);
  t.equal(doc.ok, false);
  t.match(doc.error, { code: 'verdict-failed', message: /failed rootB/ });
  t.equal(resultDocument({ verdict: { ok: true } }, verdictFailure({ ok: true, checks: [] })).ok, true);
  t.equal(resultDocument({ failures: 2 }, powercutFailure({ failures: 2 })).ok, false);
  t.equal(resultDocument({ failures: 0 }, powercutFailure({ failures: 0 })).ok, true);
  const totals = { tests: 3, passed: 2, failed: 1, flaky: 0, infrastructure: 0, skipped: 0, attempts: 4 };
  t.equal(resultDocument({}, qualifyFailure('product', { totals })).ok, false);
  t.equal(resultDocument({}, qualifyFailure('infrastructure', { totals })).ok, false);
  t.equal(resultDocument({}, qualifyFailure('passed', { totals })).ok, true);
});

t.test('parser errors use the same line and JSON document', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /unknown option '--bogus' \(see `huplab --help`\)$/],
    [['images', 'build', '--device'], /argument missing \(see `huplab images build --help`\)$/],
    [['nosuch'], /unknown command 'nosuch'/],
    [['images', 'list', 'extra'], /too many arguments.*\(see `huplab images list --help`\)$/],
    [['images', 'build', '--release', '2.101.0'], /required option '--device <profile>' not specified/],
  ];
  await refused(
    t,
    cases.map(([args, says], i) => ({ args, says, json: i === 0 || i === 2 })),
  );
  const help = await huplab(['hup', '--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /Usage: huplab hup/);
  const version = await huplab(['--version']);
  t.equal(version.status, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+/);
});

t.test('missing configured folders name their variable', async (t) => {
  await refused(t, [
    {
      args: ['images', 'list'],
      says: /HUPLAB_RELEASES=\/nonexistent-releases: no such folder/,
      env: { HUPLAB_RELEASES: '/nonexistent-releases' },
      json: true,
    },
    {
      args: ['images', 'list'],
      says: /HUPLAB_DEVICES=\/nonexistent-devices: no such folder/,
      env: { HUPLAB_DEVICES: '/nonexistent-devices' },
    },
  ]);
});

// About fifty CLI processes, each loading the TypeScript sources: 2 to 4 minutes on a busy host
// (fresh-clone CI with guests beside it went past 5).
t.setTimeout(600_000);

t.test('device start: options checked before the lab exists', async (t) => {
  const start = ['device', 'start', '--device', 'generic-amd64'];
  const disk = join(root, 'kept.img');
  writeFileSync(disk, 'x');
  await refused(t, [
    {
      args: [...start, '--release', '2.101.0', '--timeout', 'abc'],
      says: /--timeout must be a number of seconds/,
      json: true,
    },
    { args: [...start, '--release', '2.101.0', '--name', ''], says: /"" is not a usable device name/ },
    { args: [...start, '--release', '2.101.0', '--ssh-port', 'x'], says: /--ssh-port x is not a usable port/ },
    { args: [...start, '--release', '../../etc/passwd'], says: /is not a release version/ },
    { args: [...start, '--release', '2.101.0', '--root-b', 'nope'], says: /unknown release "nope"/ },
    { args: start, says: /no release given/ },
    { args: [...start, '--disk', join(root, 'no.img')], says: /no such file/ },
    { args: [...start, '--disk', disk, '--release', '2.101.0'], says: /--disk and --release both given/ },
  ]);
});

t.test('device start --disk with the device own disk is refused and touches nothing', async (t) => {
  const home = join(root, 'own-lab');
  const dir = join(home, 'devices', 'a1');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'disk.img'), 'disk');
  writeFileSync(join(dir, 'known_hosts'), 'hosts');
  const r = await huplab(
    ['device', 'start', '--device', 'generic-amd64', '--name', 'a1', '--disk', join(dir, 'disk.img')],
    { HUPLAB_HOME: home },
  );
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /is the disk of device "a1" itself \(/);
  t.ok(existsSync(join(dir, 'known_hosts')), 'known_hosts kept');
  t.same(readdirSync(dir).sort(), ['disk.img', 'known_hosts']);
});

t.test('hup and powercut: options checked before anything is built or started', async (t) => {
  const hup = ['hup', '--device', 'generic-amd64', '--from', '2.101.0', '--to', '2.102.0'];
  const pc = ['powercut', '--device', 'generic-amd64', '--from', '2.101.0', '--to', '2.102.0'];
  const onexToTwo = ['powercut', '--device', 'generic-amd64-1x', '--from', '1.26.1', '--to', '2.101.0'];
  await refused(t, [
    { args: [...hup, '--fault', 'nosuch'], says: /unknown fault "nosuch"/, json: true },
    { args: [...hup, '--name', '../evil'], says: /not a usable device name/ },
    {
      args: ['hup', '--device', 'generic-amd64', '--from', '2.102.0', '--to', '2.101.0'],
      says: /downgrades are refused.*newer than 2\.102\.0/,
    },
    { args: [...pc, '--points', '-3'], says: /--points must be a whole number/ },
    { args: [...pc, '--seed', 'abc'], says: /--seed must be a whole number/ },
    { args: [...pc, '--workers', '0'], says: /--workers must be a whole number >= 1, not "0"/ },
    { args: [...pc, '--only', 'write-root*,teatime'], says: /unknown cut point\(s\): teatime/ },
    { args: [...hup, '--registry', 'ftp://r.example'], says: /--registry ftp:\/\/r\.example: not http\(s\)/ },
    { args: [...hup, '--registry-creds', 'a:b'], says: /--registry-creds needs --registry/ },
    { args: [...pc, '--registry', 'http://127.0.0.1:5000/v2/x'], says: /a registry is named by its origin only/ },
    { args: [...hup, '--listen', '0.0.0.0'], says: /--listen goes with --board/ },
    { args: [...pc, '--to', '7.7.7'], says: /unknown release "7\.7\.7"/ },
    { args: [...pc, '--campaign', 'teatime'], says: /--campaign must be update, rollback or migration, not "teatime"/ },
    {
      args: [...pc, '--campaign', 'migration'],
      says: /--campaign migration cuts the 1\.x -> 2\.x migration; .* takes the standard path/,
    },
    // A 1.x device to 2.x: the migration's stages, one fresh device each (refused before any build).
    {
      args: [...onexToTwo, '--workers', '2', '--from-saved'],
      says: /one fresh device per stage: --workers, --from-saved cannot apply/,
      json: true,
    },
    {
      args: [...onexToTwo, '--only', 'backup,teatime'],
      says: /unknown cut point\(s\): teatime \(known: stop-services, backup/,
    },
    { args: ['demo', '--from', 'x.y'], says: /unknown release "x\.y"/ },
  ]);
});

t.test('hup on the 1.x line: the policy, the faults of each path, --then', async (t) => {
  const onex = ['hup', '--device', 'generic-amd64-1x', '--from', '1.26.1', '--to', '1.30.1'];
  await refused(t, [
    // Every 1.x release is an unmaintained rolling release: refused unless asked for.
    { args: onex, says: /1\.30\.1 is a rolling release, not maintained since/, json: true },
    {
      args: [...onex, '--allow-unsupported', '--fault', 'network-drop'],
      says: /--fault network-drop is a fault of the standard path; 1\.26\.1 -> 1\.30\.1 takes the 1\.x path \(drop it \(1\.x faults: root-modified\)\)/,
    },
    {
      args: [
        ...['hup', '--device', 'generic-amd64', '--from', '2.101.0', '--to', '2.102.0'],
        ...['--allow-unsupported', '--fault', 'root-modified'],
      ],
      says: /--fault root-modified is a fault of the 1\.x -> 1\.x update; 2\.101\.0 -> 2\.102\.0 takes the standard path/,
    },
    {
      // Refused before anything is built: the migration would run a device for real.
      args: [
        ...['hup', '--device', 'raspberrypi3-1x', '--from', '1.26.1', '--to', '2.102.1'],
        ...['--allow-unsupported', '--fault', 'root-modified'],
      ],
      says: /--fault root-modified is not a fault of the 1\.x -> 2\.x migration, and this update takes the 1\.x-to-2\.x path/,
    },
    {
      args: [...onex, '--allow-unsupported', '--then', '2.102.0'],
      says: /--then follows a 1\.x -> 2\.x migration only/,
    },
  ]);
});

t.test('the other commands', async (t) => {
  await refused(t, [
    {
      args: ['images', 'build', '--device', 'generic-amd64', '--release', '2.101.0', '--root-b', ''],
      says: /"" is not a release version/,
      json: true,
    },
    { args: ['device', 'stop', '--name', 'ghost'], says: /no device named "ghost"/ },
    { args: ['device', 'ssh', '--name', '../x', 'true'], says: /not a usable device name/ },
    { args: ['qualify', '--device', 'generic-amd64', '--release', '2.102.0', '--grep', ''], says: /--grep is empty/ },
    { args: ['serve', '--stop', '--status'], says: /--stop and --status cannot be given together/, json: true },
    { args: ['serve', '--stop', '--timeout', '0'], says: /--timeout must be a number of seconds > 0/ },
    { args: ['serve', '--stop'], says: /no lab server runs for .*\(start one with `huplab serve`\)/, json: true },
  ]);
});
