import { findFault } from '../harness/faults/index.ts';
import { expectRefused } from '../harness/hup/verdict.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { expectCommitted, useLabBackend } from './hup-helpers.ts';

// Updates the coherence checks must refuse, each leaving the device untouched and its
// application running.
test.describe('faults', () => {
  const h = useLabBackend();

  for (const [name, from, to] of [['same-version', BASE_RELEASE, BASE_RELEASE], ['downgrade', NEXT_RELEASE, BASE_RELEASE], ['wrong-device-type', BASE_RELEASE, NEXT_RELEASE]] as const) {
    test(`${name}: refused with a clear message, device untouched`, async ({ flash }) => {
      const fault = findFault(name);
      const d = await flash({ release: from, config: h.lab().deviceConfig });
      const o = await h.update(d, to, 'logs', fault.device);
      const v = expectRefused(o, fault.reason!);
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      expect((await (await d.device.ssh()).execOk('service status demo-app')).trim()).toBe('running');
    });
  }

  test('data-full: refused before anything is touched; once space is freed the update succeeds', async ({ flash }) => {
    const fault = findFault('data-full');
    const d = await h.device(flash);
    const o = await h.update(d, NEXT_RELEASE, 'logs', fault.device);
    const v = expectRefused(o, fault.reason!);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(o.updaterOutput).toMatch(/OS update failed: .*\/mnt\/data has/);
    const ssh = await d.device.ssh();
    await ssh.execOk('rm -f /mnt/data/huplab-filler && sync');
    const again = await h.update(d, NEXT_RELEASE, 'logs2');
    expectCommitted(again);
  });
});
