import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The CLI as a user runs it: every mistake is one line on stderr and a non-zero status.
const bin = join(import.meta.dirname, '..', 'bin', 'huplab');
// Each case starts the CLI as a process (seconds each on a loaded 2-core host, with the other
// CLI test files running beside this one): the default 120 s per file is too tight for that.
t.setTimeout(300_000);
const lab = mkdtempSync(join(tmpdir(), 'huplab-cli-'));
function huplab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(bin, args, {
    env: { ...process.env, HUPLAB_HOME: lab, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('huplab: error:'));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, errLines };
}

t.test('unknown device', async (t) => {
  const r = huplab(['images', 'build', '--device', 'nope', '--release', '2.101.0']);
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /unknown device "nope".*generic-amd64/);
});

t.test('unknown release, as JSON for scripts', async (t) => {
  const r = huplab(['images', 'build', '--device', 'generic-amd64', '--release', '0.0.1', '--json']);
  t.equal(r.status, 1);
  const doc = JSON.parse(r.stdout);
  t.equal(doc.ok, false);
  t.equal(doc.error.code, 'unknown-release');
  t.match(doc.error.message, /known releases: [0-9., ]*2\.101\.0, 2\.102\.0/);
});

t.test('malformed profile names the file and the field', async (t) => {
  const devices = mkdtempSync(join(tmpdir(), 'huplab-devices-'));
  const good = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'devices', 'generic-amd64.json'), 'utf8'));
  good.qemu.memoryMiB = 'lots';
  writeFileSync(join(devices, 'generic-amd64.json'), JSON.stringify(good));
  const r = huplab(['images', 'build', '--device', 'generic-amd64', '--release', '2.101.0'], {
    HUPLAB_DEVICES: devices,
  });
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /generic-amd64\.json.*\/qemu\/memoryMiB/);
});

t.test('a port in use for SSH is refused before anything boots', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const r = huplab([
    'device',
    'start',
    '--device',
    'generic-amd64',
    '--release',
    '2.101.0',
    '--name',
    'busyport',
    '--ssh-port',
    String(port),
    '--detach',
  ]);
  server.close();
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], new RegExp(`port ${port}.*in use`));
  const list = huplab(['device', 'list', '--json']);
  t.same(
    JSON.parse(list.stdout).devices.filter((d: { running: boolean }) => d.running),
    [],
    'nothing left running',
  );
});

t.test('QEMU missing', async (t) => {
  // A PATH with every program of this machine but QEMU: the error must say what to install.
  const bins = mkdtempSync(join(tmpdir(), 'huplab-path-'));
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      if (n.startsWith('qemu-system-') || existsSync(join(bins, n))) continue;
      try {
        symlinkSync(join(dir, n), join(bins, n));
      } catch {
        /* raced or unreadable */
      }
    }
  }
  const r = huplab(
    ['device', 'start', '--device', 'generic-amd64', '--release', '2.101.0', '--name', 'noqemu', '--detach'],
    { PATH: bins },
  );
  t.equal(r.status, 1);
  t.equal(r.errLines.length, 1);
  t.match(r.errLines[0], /qemu-system-x86_64/);
  t.match(r.errLines[0], /apt-get install qemu-system-x86/);
});

t.test('commands on a device that does not exist', async (t) => {
  const r = huplab(['device', 'ssh', '--name', 'ghost', '--', 'true']);
  t.equal(r.status, 1);
  t.match(r.errLines[0], /no device named "ghost".*huplab device list/);
});

t.test('device list makes nothing: a lab that does not exist has no devices and stays unmade', async (t) => {
  const none = join(mkdtempSync(join(tmpdir(), 'huplab-nolab-')), 'lab');
  const r = huplab(['device', 'list', '--json'], { HUPLAB_HOME: none });
  t.equal(r.status, 0, r.stderr);
  t.same(JSON.parse(r.stdout).devices, []);
  t.equal(JSON.parse(r.stdout).lab, none);
  t.notOk(existsSync(none), 'no lab folder, key or token was made');
});
