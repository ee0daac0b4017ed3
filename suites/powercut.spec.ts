import { runCampaign } from '../harness/power/campaign.ts';
import { campaignHtml, campaignText } from '../harness/power/report.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { useLabBackend } from './hup-helpers.ts';
import { HUP_STEPS } from '../harness/power/cut-points.ts';

/**
 * Power cuts during the update, each on a fresh device whose disk loses its unflushed writes.
 * `npm test` cuts at a couple of points (the env switch, the commit); `huplab qualify` (HUPLAB_POWERCUT=steps) at every updater step and across the reboot
 * and the commit. The full campaign, with points inside long steps and seeded random ones, is
 * `huplab powercut`.
 */
const HANDFUL = ['bootloader-switch', 'commit'];
const STEPS = [...HUP_STEPS, 'shutdown', 'new-bootloader', 'new-os-ready', 'health-check', 'commit', 'committed'];
const POINTS = process.env.HUPLAB_POWERCUT === 'steps' ? STEPS : HANDFUL;

test.describe('powercut', () => {
  test.describe.configure({ mode: 'parallel' });
  const h = useLabBackend();
  for (const point of POINTS) {
    test(`power cut at ${point}: an OS boots, env consistent, /data intact, the update completes`, async ({ lab, deviceProfile }, testInfo) => {
      test.setTimeout(12 * 60_000);
      const r = await runCampaign({
        lab, device: deviceProfile, from: BASE_RELEASE, to: NEXT_RELEASE, only: [point], reference: false, backend: h.lab(), outDir: testInfo.outputPath('powercut'),
      });
      for (const p of r.points) await testInfo.attach(`${p.point}-serial.log`, { path: p.serialLog, contentType: 'text/plain' });
      await testInfo.attach('powercut.html', { body: campaignHtml(r), contentType: 'text/html' });
      expect(r.points.length).toBe(1);
      expect(r.points.flatMap((p) => p.problems), campaignText(r).join('\n')).toEqual([]);
      expect(r.points[0]!.booted).not.toBe('none');
    });
  }
});
