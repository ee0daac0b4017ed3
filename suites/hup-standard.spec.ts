import { listDevices } from '../harness/device/emulated.ts';
import { HUP_STEPS, parseSupervisorUpdated } from '../lib/contract/index.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { PATCH_RELEASE, expectCommitted, useLabBackend } from './hup-helpers.ts';

// Standard HUP on generic-amd64: where the new OS comes from (delta, primary, fallback).
test.describe('hup-standard', () => {
  const h = useLabBackend();

  // One device, two updates: the second, from resin-rootB, must go back to resin-rootA (the
  // other half of the A/B scheme), and it costs one update instead of a flash, a boot and two.
  test('with a delta: root switched, version changed, /data intact, breadcrumbs cleared, progress at the API; then A -> B -> A: a second update goes back to the first partition', async ({
    flash,
    lab,
  }) => {
    test.setTimeout(25 * 60_000); // two updates on a Raspberry Pi under TCG (hil:profiles)
    const d = await h.device(flash);
    const o = await h.update(d, NEXT_RELEASE);
    expectCommitted(o);
    expect(o.download?.kind).toBe('delta');
    // The updater reads format 2 (binary patches, unchanged files unlisted) and says so: the
    // service hands it that one, a few KB where format 1 of the same pair is about 10 KB.
    expect(o.download!.bytes).toBeLessThan(5_000);
    expect(o.steps.map((s) => s.step)).toEqual([...HUP_STEPS]);
    const written = o.steps.find((s) => s.step === 'write-root')?.detail ?? '';
    expect(written, 'the root was written from the format-2 delta').toMatch(/^delta applied \(format 2\)/);
    // The supervisor that runs is the one the updater installed (the state partition's choice).
    expect(o.after.supervisorVersion).not.toBe(o.before.supervisorVersion);
    expect(o.after.supervisorChoice).toBe(o.after.supervisorVersion);
    expect(o.progress.map((p) => `${p.percent} ${p.message}`)).toEqual(
      expect.arrayContaining(['25 Preparing OS update', '50 Running OS update', '100 Update successful, rebooting']),
    );
    const log = o.logs.find((l) => /upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/.test(l));
    expect(log, 'the updater log is in /mnt/data/balenahup').toBeTruthy();
    // Records continue across the reboot; the only gap is the reboot itself.
    expect(o.records.versions).toEqual([BASE_RELEASE, NEXT_RELEASE]);
    expect(o.after.root).toBe('resin-rootB');
    // The supervisor agent beats to the run's backend too: its record says what the device runs now.
    const api = h.backend().services;
    await expect
      .poll(
        async () => {
          const r = await fetch(`${api.urls.api}/v1/devices`, { headers: api.operatorHeaders() });
          const { devices } = (await r.json()) as {
            devices: Array<{ uuid: string; osVersion?: string; online: boolean }>;
          };
          const mine = devices.find((x) => x.uuid === d.record.uuid);
          return mine && `${mine.osVersion} ${mine.online ? 'online' : 'offline'}`;
        },
        { timeout: 60_000 },
      )
      .toBe(`${NEXT_RELEASE} online`);
    if (d.device.kind === 'qemu') {
      // `huplab device list` says what the device runs now, not what it was flashed with.
      const listed = (await listDevices(lab)).find((x) => x.name === d.device.name);
      expect(listed).toMatchObject({ running: true, release: NEXT_RELEASE, flashed: BASE_RELEASE });
    }

    const second = await h.update(d, PATCH_RELEASE, 'logs2');
    expectCommitted(second);
    expect(second.before.root).toBe('resin-rootB');
    expect(second.after.root).toBe('resin-rootA');
    expect(second.after.version).toBe(PATCH_RELEASE);
    // The skip branch: the patch release ships the supervisor the first update installed, so the
    // step installs nothing and that supervisor still runs, the state partition's choice unchanged
    // (expectCommitted judges it against the release record; here it is spelled out).
    expect(second.targetSupervisor).toBe(o.after.supervisorVersion);
    const step = second.steps.find((s) => s.step === 'supervisor-update');
    expect(step, 'a supervisor-update step').toBeDefined();
    expect(parseSupervisorUpdated(step!.detail), step!.detail).toBeUndefined();
    expect(second.after).toMatchObject({
      supervisorVersion: o.after.supervisorVersion,
      supervisorChoice: o.after.supervisorChoice,
      supervisorRunning: true,
    });
  });
  // Without a delta, with the primary registry down or corrupt: the faults suite (harness/faults).
});
