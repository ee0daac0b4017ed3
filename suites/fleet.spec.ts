import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../lib/paths.ts';
import { SUPERVISOR_RUN_STATE } from '../lib/contract/supervisor.ts';
import { attachDevice } from '../harness/device/emulated.ts';
import type { Lab } from '../harness/lab.ts';
import { expect, BASE_RELEASE, NEXT_RELEASE, PATCH_RELEASE, test } from './fixtures.ts';

/**
 * The lab as a fleet (issue 17): `huplab serve` runs, devices started with `huplab device start`
 * register with it, and targets set with `huplab fleet` are carried out by the supervisor agent
 * on each device. Everything goes through the commands a release engineer types; the device is
 * asked over SSH only for what the API cannot prove (boot id, the application's records).
 */
const bin = join(repoRoot, 'bin', 'huplab');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function huplab(lab: Lab, args: string[], timeoutMs = 15 * 60_000): Promise<Ran> {
  return execa(bin, args, {
    env: { HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' },
    reject: false,
    timeout: timeoutMs,
  }).then((r) => ({ code: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) }));
}

async function json<T>(lab: Lab, args: string[], timeoutMs?: number): Promise<T & { ok: boolean }> {
  const r = await huplab(lab, [...args, '--json'], timeoutMs);
  try {
    return JSON.parse(r.stdout) as T & { ok: boolean };
  } catch {
    throw new Error(`huplab ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
}

/** `huplab serve` in the background, until stopped; resolves once its record says where it listens. */
async function serve(lab: Lab): Promise<ChildProcess> {
  const p = spawn(bin, ['serve'], { env: { ...process.env, HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' }, stdio: 'pipe' });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 600; i++) {
    const s = await json<{ running: boolean; server?: unknown }>(lab, ['serve', '--status']);
    if (s.running && s.server) return p;
    if (p.exitCode !== null) throw new Error(`huplab serve exited ${p.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`huplab serve did not come up: ${err}`);
}

interface FleetRow {
  name: string;
  uuid: string;
  arch: string;
  osVersion?: string;
  supervisorVersion?: string;
  online: boolean;
  status?: string;
  progress?: { percent: number; message: string };
  targetProgress: string;
}

async function fleet(lab: Lab): Promise<Map<string, FleetRow>> {
  const r = await json<{ devices: FleetRow[] }>(lab, ['fleet', 'list']);
  return new Map(r.devices.map((d) => [d.name, d]));
}

async function start(lab: Lab, name: string, release: string, device = 'generic-amd64'): Promise<void> {
  const r = await huplab(lab, ['device', 'start', '--device', device, '--release', release, '--name', name, '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout).server, 'registered with the lab server').toMatch(/^http:\/\/127\.0\.0\.1:/);
}

async function onDevice(lab: Lab, name: string, command: string): Promise<string> {
  const d = attachDevice(lab, name);
  try {
    return await (await d.ssh()).execOk(command);
  } finally {
    d.close();
  }
}

/** The demo application's records (seq, unix ms, boot id) since `fromMs`. */
async function appRecords(lab: Lab, name: string): Promise<Array<{ seq: number; ms: number; boot: string }>> {
  const text = await onDevice(lab, name, 'cat /mnt/data/demo-app/records.log');
  return text
    .split('\n')
    .filter((l) => /^\d+ \d+ \S+ \S+$/.test(l))
    .map((l) => {
      const [seq, ms, boot] = l.split(' ');
      return { seq: Number(seq), ms: Number(ms), boot: boot! };
    });
}

test.describe('fleet', { tag: ['@emulated', '@fleet'] }, () => {
  test.describe.configure({ mode: 'serial' });
  let server: ChildProcess | undefined;

  test.afterAll(async ({ lab }) => {
    for (const n of ['f1', 'f2', 'old', 'arm']) await huplab(lab, ['device', 'stop', '--force', '--name', n], 60_000);
    if (server && server.exitCode === null) await huplab(lab, ['serve', '--stop']);
  });

  test('a supervisor upgrade without a reboot; downgrade, major and bad digest refused or kept', async ({ lab }) => {
    test.setTimeout(20 * 60_000);
    server = await serve(lab);
    await Promise.all([start(lab, 'f1', BASE_RELEASE), start(lab, 'f2', BASE_RELEASE)]);
    const before = (await fleet(lab)).get('f1')!;
    expect(before.online).toBe(true);
    const bootId = await onDevice(lab, 'f1', 'cat /proc/sys/kernel/random/boot_id');
    const t0 = Date.now();

    const set = await json<{ results: Array<{ name: string; ok: boolean }> }>(lab, [
      'fleet',
      'supervisor',
      '--version',
      '16.9.0',
      'f1',
    ]);
    expect(set.results).toEqual([expect.objectContaining({ name: 'f1', ok: true })]);
    const waited = await json<{ devices: Array<{ name: string; outcome: string }> }>(lab, [
      'fleet',
      'wait',
      'f1',
      '--timeout',
      '600',
    ]);
    expect(waited.devices).toEqual([expect.objectContaining({ name: 'f1', outcome: 'reached' })]);
    const tookMs = Date.now() - t0;

    expect((await fleet(lab)).get('f1')!.supervisorVersion).toBe('16.9.0');
    expect(await onDevice(lab, 'f1', 'cat /proc/sys/kernel/random/boot_id'), 'no reboot').toBe(bootId);
    const running = JSON.parse(await onDevice(lab, 'f1', `cat ${SUPERVISOR_RUN_STATE}`)) as { version: string };
    expect(running.version, 'the new supervisor runs').toBe('16.9.0');
    // The application kept running: one boot, no record missing, no gap of more than a few seconds.
    const records = (await appRecords(lab, 'f1')).filter((r) => r.ms >= t0 - 5_000);
    expect(new Set(records.map((r) => r.boot)).size).toBe(1);
    for (let i = 1; i < records.length; i++) {
      expect(records[i]!.seq).toBe(records[i - 1]!.seq + 1);
      expect(records[i]!.ms - records[i - 1]!.ms).toBeLessThan(5_000);
    }
    expect(records.at(-1)!.ms - records[0]!.ms).toBeGreaterThan(tookMs - 10_000);

    const down = await huplab(lab, ['fleet', 'supervisor', '--version', '16.8.0', 'f1']);
    expect(down.code).toBe(1);
    expect(down.stdout + down.stderr).toMatch(/f1.*no-downgrade/);
    const major = await huplab(lab, ['fleet', 'supervisor', '--version', '17.0.0', 'f1']);
    expect(major.code).toBe(1);
    expect(major.stdout + major.stderr).toMatch(/f1.*major-needs-confirmation/);

    // A corrupt image: every blob of the supervisor's repository flipped in both registries.
    const status = await json<{ server: { urls: { api: string } } }>(lab, ['serve', '--status']);
    for (const group of ['primary', 'fallback'])
      expect(
        (
          await fetch(`${status.server.urls.api}/v1/lab/faults`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${lab.operatorToken}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ group, kind: 'corrupt', offset: 100, path: 'supervisor-amd64/blobs/' }),
          })
        ).status,
      ).toBeLessThan(300);
    const bad = await huplab(lab, ['fleet', 'supervisor', '--version', '17.0.0', '--confirm-major', 'f1']);
    expect(bad.code, bad.stderr).toBe(0);
    const failed = await json<{ devices: Array<{ name: string; outcome: string }> }>(lab, [
      'fleet',
      'wait',
      'f1',
      '--timeout',
      '300',
    ]);
    expect(failed.devices).toEqual([expect.objectContaining({ name: 'f1', outcome: 'failed' })]);
    expect(JSON.parse(await onDevice(lab, 'f1', `cat ${SUPERVISOR_RUN_STATE}`)).version, 'the old one runs').toBe(
      '16.9.0',
    );
    for (const group of ['primary', 'fallback'])
      await fetch(`${status.server.urls.api}/v1/lab/faults/${group}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${lab.operatorToken}` },
      });
  });

  test('offline: a supervisor target waits for the link; an OS target skips the offline device', async ({ lab }) => {
    test.setTimeout(25 * 60_000);
    expect(server, 'the first test started the server').toBeDefined();
    await huplab(lab, ['device', 'link', '--name', 'f2', 'down']);
    await expect.poll(async () => (await fleet(lab)).get('f2')!.online, { timeout: 90_000 }).toBe(false);
    const sup = await huplab(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'f2']);
    expect(sup.code, sup.stderr).toBe(0);
    const os = await json<{ results: Array<{ name: string; ok: boolean; refusal?: { rule: string } }> }>(lab, [
      'fleet',
      'os',
      '--version',
      NEXT_RELEASE,
      'f1',
      'f2',
    ]);
    expect(os.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'f1', ok: true }),
        expect.objectContaining({ name: 'f2', ok: false, refusal: expect.objectContaining({ rule: 'offline' }) }),
      ]),
    );
    await new Promise((r) => setTimeout(r, 20_000));
    expect((await fleet(lab)).get('f2')!.supervisorVersion, 'nothing happens while offline').not.toBe('16.9.0');
    await huplab(lab, ['device', 'link', '--name', 'f2', 'up']);
    const waited = await json<{ devices: Array<{ name: string; outcome: string }> }>(lab, [
      'fleet',
      'wait',
      'f1',
      'f2',
      '--timeout',
      '1200',
    ]);
    expect(waited.devices).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'f1', outcome: 'reached' }),
        expect.objectContaining({ name: 'f2', outcome: 'reached' }),
      ]),
    );
    const rows = await fleet(lab);
    expect(rows.get('f1')!.osVersion).toBe(NEXT_RELEASE);
    expect(rows.get('f2')!.supervisorVersion).toBe('16.9.0');
    expect(rows.get('f2')!.osVersion, 'the offline device was left alone').toBe(BASE_RELEASE);
  });

  test('a batch OS update of two devices, the server restarted in the middle', async ({ lab }) => {
    test.setTimeout(25 * 60_000);
    const set = await json<{ results: Array<{ name: string; ok: boolean }> }>(lab, [
      'fleet',
      'os',
      '--version',
      PATCH_RELEASE,
      'f1',
      'f2',
    ]);
    expect(set.results.map((r) => r.ok)).toEqual([true, true]);
    const before = await fleet(lab);
    // Restart while the devices update: devices, targets and history must still be there.
    expect((await huplab(lab, ['serve', '--stop'])).code).toBe(0);
    server = await serve(lab);
    const after = await fleet(lab);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [name, row] of before) expect(after.get(name)!.uuid).toBe(row.uuid);
    const waited = await json<{ devices: Array<{ name: string; outcome: string }> }>(lab, [
      'fleet',
      'wait',
      'f1',
      'f2',
      '--timeout',
      '1200',
    ]);
    expect(waited.devices.map((d) => d.outcome)).toEqual(['reached', 'reached']);
    const rows = await fleet(lab);
    for (const n of ['f1', 'f2']) {
      expect(rows.get(n)!.osVersion).toBe(PATCH_RELEASE);
      expect(rows.get(n)!.status).toBe('Idle');
      expect(rows.get(n)!.progress?.percent).toBe(100);
      expect(await onDevice(lab, n, 'ls /mnt/state')).not.toMatch(/breadcrumb/);
    }
    const st = await json<{ server: { urls: { api: string } } }>(lab, ['serve', '--status']);
    const f1 = rows.get('f1')!;
    const hist = (await (
      await fetch(`${st.server.urls.api}/v1/devices/${f1.uuid}`, {
        headers: { Authorization: `Bearer ${lab.operatorToken}` },
      })
    ).json()) as { history: Array<{ percent: number; at: string }> };
    // The history kept across the restart: the supervisor upgrade of the first test is still in it.
    expect(hist.history.length).toBeGreaterThan(5);
    expect(readFileSync(join(lab.dir, 'lab.db')).length).toBeGreaterThan(0);
  });

  test('an OS older than 2.12.0 and a mixed-arch batch are refused', async ({ lab }) => {
    test.setTimeout(25 * 60_000);
    await Promise.all([start(lab, 'old', '2.11.0'), start(lab, 'arm', BASE_RELEASE, 'raspberrypi3-64')]);
    type Results = { results: Array<{ name: string; ok: boolean; refusal?: { rule: string; reason: string } }> };
    const old = await json<Results>(lab, ['fleet', 'supervisor', '--version', '16.9.0', 'old']);
    expect(old.results[0]).toMatchObject({ name: 'old', ok: false, refusal: { rule: 'os-too-old' } });
    expect(old.results[0]!.refusal!.reason).toMatch(/2\.11\.0.*2\.12\.0/);
    const rows = await fleet(lab);
    expect(rows.get('arm')!.arch).toBe('arm64');
    const before = rows.get('f1')!.supervisorVersion;
    const mixed = await json<Results>(lab, [
      'fleet',
      'supervisor',
      '--version',
      '17.0.0',
      '--confirm-major',
      'f1',
      'arm',
    ]);
    expect(mixed.ok).toBe(false);
    for (const r of mixed.results) expect(r).toMatchObject({ ok: false, refusal: { rule: 'mixed-arch' } });
    expect(mixed.results.map((r) => r.refusal!.reason).join('\n')).toMatch(/arm/);
    await new Promise((r) => setTimeout(r, 15_000));
    expect((await fleet(lab)).get('f1')!.supervisorVersion, 'a refused batch changes nothing').toBe(before);
  });
});
