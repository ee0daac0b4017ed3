import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { expectCommitted, useLabBackend } from './hup-helpers.ts';

// Standard HUP on generic-amd64: where the new OS comes from (delta, primary, fallback).
test.describe('hup-standard', () => {
  const h = useLabBackend();

  test('with a delta: root switched, version changed, /data intact, breadcrumbs cleared, progress at the API', async ({ flash }) => {
    const d = await h.device(flash);
    const o = await h.update(d, NEXT_RELEASE);
    expectCommitted(o);
    expect(o.download?.kind).toBe('delta');
    expect(o.download!.bytes).toBeLessThan(300_000);
    expect(o.steps.map((s) => s.step)).toEqual(['checks', 'stop-supervisor', 'fetch', 'write-root', 'boot-files', 'breadcrumbs', 'supervisor-update', 'bootloader-switch', 'reboot']);
    expect(o.after.supervisorVersion).not.toBe(o.before.supervisorVersion);
    expect(o.progress.map((p) => `${p.percent} ${p.message}`)).toEqual(expect.arrayContaining(['25 Preparing OS update', '50 Running OS update', '100 Update successful, rebooting']));
    const log = o.logs.find((l) => /upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/.test(l));
    expect(log, 'the updater log is in /mnt/data/balenahup').toBeTruthy();
    // Records continue across the reboot; the only gap is the reboot itself.
    expect(o.records.versions).toEqual([BASE_RELEASE, NEXT_RELEASE]);
  });
  // Without a delta, with the primary registry down or corrupt: the faults suite (harness/faults).
});
