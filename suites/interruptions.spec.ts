/**
 * Nothing left behind: real `huplab` runs interrupted by signals and failed boots, on real VMs.
 * Each test runs the CLI as a user does, in a lab of its own, then looks for any process of that
 * lab (a daemonized QEMU names its device folder on its command line) and for what the lab says
 * about its devices.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPartitions } from '../lib/partition/index.ts';
import { repoRoot } from '../lib/paths.ts';
import { BASE_RELEASE, expect, NEXT_RELEASE, PINNED, test } from './fixtures.ts';

interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once stderr matches. */
  waitFor(re: RegExp, timeoutMs: number): Promise<void>;
  exited: Promise<number | null>;
}

function huplab(lab: string, args: string[]): CliRun {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'harness/cli/main.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, HUPLAB_HOME: lab },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(re, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(err)) {
        if (Date.now() > deadline)
          throw new Error(`huplab ${args[0]}: no ${re} in ${timeoutMs / 1000}s; stderr:\n${err}`);
        if (child.exitCode !== null) throw new Error(`huplab ${args[0]} exited ${child.exitCode} first:\n${err}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

/** Every process whose command line names the lab folder: what a run would have left behind. */
function processesOf(lab: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.includes(lab))) found.push(`${pid} ${argv.join(' ').slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

function listDevices(lab: string): Promise<Array<{ name: string; running: boolean }>> {
  const r = huplab(lab, ['device', 'list', '--json']);
  return r.exited.then(() => JSON.parse(r.stdout()).devices);
}

function freshLab(): string {
  return mkdtempSync(join(tmpdir(), 'huplab-int-'));
}

test.describe('interruptions and failed boots leave nothing behind', { tag: '@emulated' }, () => {
  test('Ctrl-C during `huplab hup`: the VM is powered off, one JSON document says so, the next start works', async () => {
    test.setTimeout(8 * 60_000);
    const lab = freshLab();
    const r = huplab(lab, [
      'hup',
      '--device',
      'generic-amd64',
      '--from',
      BASE_RELEASE,
      '--to',
      NEXT_RELEASE,
      ...PINNED,
      '--name',
      'sig',
      '--json',
    ]);
    await r.waitFor(/✓ boot sig to SSH/, 5 * 60_000);
    await new Promise((res) => setTimeout(res, 6_000)); // into the update (it takes about 40 s)
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(130);
    const doc = JSON.parse(r.stdout());
    expect(doc.ok).toBe(false);
    expect(doc.error.code).toBe('interrupted');
    expect(doc.error.message).toMatch(/^interrupted by SIGINT: device sig powered off \(it was up\); backend stopped/);
    expect(r.stderr()).toMatch(/^huplab: error: interrupted by SIGINT: device sig powered off/m);
    expect(processesOf(lab)).toEqual([]);
    expect(await listDevices(lab)).toEqual([expect.objectContaining({ name: 'sig', running: false })]);

    // The next run of that name is not refused.
    const next = huplab(lab, [
      'device',
      'start',
      '--device',
      'generic-amd64',
      '--release',
      BASE_RELEASE,
      '--name',
      'sig',
      '--json',
    ]);
    expect(await next.exited).toBe(0);
    expect(JSON.parse(next.stdout()).ok).toBe(true);
    expect(await huplab(lab, ['device', 'stop', '--force', '--name', 'sig']).exited).toBe(0);
    expect(processesOf(lab)).toEqual([]);
    rmSync(lab, { recursive: true, force: true });
  });

  test('Ctrl-C during the reference run of `huplab powercut`: no VM is left looping on a vanished disk', async () => {
    test.setTimeout(8 * 60_000);
    const lab = freshLab();
    const r = huplab(lab, [
      'powercut',
      '--device',
      'generic-amd64',
      '--from',
      BASE_RELEASE,
      '--to',
      NEXT_RELEASE,
      '--points',
      '0',
      '--only',
      'commit',
      '--out',
      join(lab, 'report'),
    ]);
    await r.waitFor(/… reference run of the update/, 5 * 60_000);
    // The reference device is on (its record written at power-on) and into its boot.
    const record = join(lab, 'devices', 'ref-update', 'device.json');
    for (const deadline = Date.now() + 60_000; !existsSync(record); ) {
      if (Date.now() > deadline) throw new Error(`no ${record} within 60 s`);
      await new Promise((res) => setTimeout(res, 200));
    }
    await new Promise((res) => setTimeout(res, 10_000));
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(130);
    expect(r.stderr()).toMatch(/^huplab: error: interrupted by SIGINT: device ref-update powered off/m);
    expect(processesOf(lab)).toEqual([]);
    rmSync(lab, { recursive: true, force: true });
  });

  test('SIGTERM during `device start --detach`: the booting VM is powered off, exit 143', async () => {
    const lab = freshLab();
    const r = huplab(lab, [
      'device',
      'start',
      '--device',
      'generic-amd64',
      '--release',
      BASE_RELEASE,
      '--name',
      'term',
      '--detach',
    ]);
    await r.waitFor(/… boot term to SSH/, 4 * 60_000);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(143);
    expect(r.stderr()).toMatch(/^huplab: error: interrupted by SIGTERM: device term powered off \(it was booting/m);
    expect(processesOf(lab)).toEqual([]);
    expect(await listDevices(lab)).toEqual([expect.objectContaining({ name: 'term', running: false })]);
    rmSync(lab, { recursive: true, force: true });
  });

  test('two starts of one name on a disk that never boots: one refused at once, the other powered off after its timeout', async ({
    flash,
  }) => {
    // A disk whose root filesystem is gone: GRUB finds nothing to boot and starts over, forever.
    const { device } = await flash({ release: BASE_RELEASE, noBoot: true });
    const disk = join(device.paths.dir, 'disk.img');
    const rootA = (await readPartitions(disk)).find((p) => p.label === 'resin-rootA' || p.name === 'resin-rootA')!;
    const f = await open(disk, 'r+');
    await f.write(Buffer.alloc(4096), 0, 4096, rootA.startBytes);
    await f.close();

    const lab = freshLab();
    const args = ['device', 'start', '--device', 'generic-amd64', '--disk', disk, '--name', 'twin', '--timeout', '30'];
    const a = huplab(lab, args);
    const b = huplab(lab, args);
    const [ca, cb] = await Promise.all([a.exited, b.exited]);
    expect([ca, cb]).toEqual([1, 1]);
    const errors = [a.stderr(), b.stderr()];
    // Each says what went wrong in one error line; no raw file-system error.
    for (const e of errors) {
      expect(e.split('\n').filter((l) => l.startsWith('huplab: error:'))).toHaveLength(1);
      expect(e).not.toMatch(/ENOENT|EEXIST/);
    }
    const refused = errors.filter((e) => /device "twin" is (being started by another huplab|already running)/.test(e));
    const timedOut = errors.filter((e) => /timed out/.test(e));
    expect(refused).toHaveLength(1);
    expect(timedOut).toHaveLength(1);
    expect(timedOut[0]).toMatch(/^huplab: after the error: device twin powered off \(it was (failed|booting)/m);
    expect(processesOf(lab)).toEqual([]);
    expect(await listDevices(lab)).toEqual([expect.objectContaining({ name: 'twin', running: false })]);
    rmSync(lab, { recursive: true, force: true });
  });
});
