import { findFault } from '../harness/faults/index.ts';
import { expectRollback } from '../harness/hup/verdict.ts';
import { NEXT_RELEASE, expect, test } from './fixtures.ts';
import { useLabBackend } from './hup-helpers.ts';

// Rollbacks on generic-amd64: a new OS that fails its health check, and one that cannot boot.
test.describe('rollback', () => {
  const h = useLabBackend();

  for (const [fault, kind] of [['health-fail', 'health'], ['unbootable-root', 'altboot']] as const) {
    test(`${fault}: rollback-${kind} brings the old OS back`, async ({ flash }, testInfo) => {
      const d = await h.device(flash);
      const o = await h.update(d, NEXT_RELEASE, 'logs', findFault(fault).device);
      for (const l of o.logs) await testInfo.attach(l.split('/').at(-1)!, { path: l, contentType: 'text/plain' });
      const v = expectRollback(o, kind);
      expect(v.checks.filter((c) => !c.ok)).toEqual([]);
      const console = d.device.console.text(0);
      if (kind === 'altboot') {
        // GRUB's counting did it: the new root was tried, failed, and the old one came back.
        expect(console).toMatch(/no \/sbin\/init on resin-rootB/);
        expect(console).toMatch(/bootcount=2\n\[huplab\] bootloader: booting resin-rootA/);
      } else {
        expect(o.logs.some((l) => l.includes('rollback-health'))).toBe(true);
      }
      // The API hears of the rollback (altboot reports once the old OS has its network back).
      await expect.poll(async () => {
        const r = await fetch(`${h.lab().backend.urls.api}/v1/devices/${d.record.uuid}`);
        return ((await r.json()) as { history?: Array<{ message: string }> }).history?.map((p) => p.message) ?? [];
      }, { timeout: 60_000 }).toContainEqual(expect.stringMatching(/^OS update failed: rolled back/));
    });
  }
});
