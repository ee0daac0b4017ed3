import { runCampaign } from '../harness/power/campaign.ts';
import { compareVerdicts } from '../harness/power/compare.ts';
import { campaignHtml, campaignText } from '../harness/report/powercut.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { useLabBackend } from './hup-helpers.ts';
import { rollbackCutPoints, type CampaignKind } from '../harness/power/cut-points.ts';
import { HUP_STEPS } from '../lib/contract/index.ts';

/**
 * Power cuts during the update and during its rollbacks, each on a fresh device whose disk loses
 * its unflushed writes. `npm test` cuts at one point (the env switch; the rollback path's cuts,
 * 4.7 min each, do not fit CI's 25-minute budget: the atomic-write unit tests cover the defect
 * they found); `huplab qualify` (HUPLAB_POWERCUT=steps) at every updater
 * step, across the reboot and the commit, and at every part of both rollback paths. The full
 * campaigns, with points inside long steps and seeded random ones, are `huplab powercut`
 * (`--campaign update|rollback`).
 */
const STEPS = process.env.HUPLAB_POWERCUT === 'steps';
const UPDATE_POINTS = STEPS
  ? [...HUP_STEPS, 'shutdown', 'new-bootloader', 'new-os-ready', 'health-check', 'commit', 'committed']
  : ['bootloader-switch'];
const ROLLBACK_POINTS = STEPS
  ? [
      'rh-waiting',
      'rh-boot-files',
      'rh-switch',
      'rh-rolled-back',
      'bc-first-boot',
      'bc-give-up',
      'altboot',
      'altboot-switch',
    ]
  : [];
const SCENARIO = new Map(rollbackCutPoints({}).map((p) => [p.name, p.scenario]));

const POINTS: Array<{ kind: CampaignKind; point: string; title: string }> = [
  ...UPDATE_POINTS.map((point) => ({
    kind: 'update' as const,
    point,
    title: `power cut at ${point}: an OS boots, env consistent, /data intact, the update completes`,
  })),
  ...ROLLBACK_POINTS.map((point) => ({
    kind: 'rollback' as const,
    point,
    title: `power cut at ${point} on the ${SCENARIO.get(point)} rollback path: the old OS boots, its rollback recorded, env consistent, /data intact, the update then completes`,
  })),
];

test.describe('powercut', { tag: '@emulated' }, () => {
  test.describe.configure({ mode: 'parallel' });
  const h = useLabBackend();
  for (const { kind, point, title } of POINTS) {
    test(title, async ({ lab, deviceProfile }, testInfo) => {
      test.setTimeout(14 * 60_000);
      const r = await runCampaign({
        lab,
        device: deviceProfile,
        from: BASE_RELEASE,
        to: NEXT_RELEASE,
        kind,
        only: [point],
        reference: false,
        backend: h.backend(),
        outDir: testInfo.outputPath('powercut'),
      });
      for (const p of r.points)
        await testInfo.attach(`${p.point}-serial.log`, { path: p.serialLog, contentType: 'text/plain' });
      await testInfo.attach('powercut.html', { body: campaignHtml(r), contentType: 'text/html' });
      expect(r.points.length).toBe(1);
      expect(
        r.points.flatMap((p) => p.problems),
        campaignText(r).join('\n'),
      ).toEqual([]);
      expect(r.points[0]!.booted).not.toBe('none');
      if (kind === 'rollback') expect(r.points[0]!.rollback).not.toBe('none');
    });
  }

  test(
    'from a saved device, two at once: the same verdicts as flashed, cold-booted devices, each copy its own device at the API',
    { tag: '@qualify' },
    async ({ lab, deviceProfile }, testInfo) => {
      test.setTimeout(40 * 60_000);
      const common = {
        lab,
        device: deviceProfile,
        from: BASE_RELEASE,
        to: NEXT_RELEASE,
        kind: 'update' as const,
        only: ['write-root', 'bootloader-switch'],
        reference: false,
        backend: h.backend(),
      };
      const cold = await runCampaign({ ...common, outDir: testInfo.outputPath('cold') });
      const saved = await runCampaign({
        ...common,
        fromSaved: true,
        workers: 2,
        outDir: testInfo.outputPath('saved'),
      });
      await testInfo.attach('saved.html', { body: campaignHtml(saved), contentType: 'text/html' });
      expect(saved.fromSaved).toBe(true);
      const verdicts = compareVerdicts(cold, saved);
      expect(verdicts.map((v) => v.point).sort()).toEqual(['bootloader-switch', 'write-root']);
      expect(
        verdicts.filter((v) => !v.same),
        JSON.stringify(verdicts),
      ).toEqual([]);
      expect(
        saved.points.flatMap((p) => p.problems),
        campaignText(saved).join('\n'),
      ).toEqual([]);
      // Each restored copy reported its update under a uuid of its own, never the saved device's.
      const uuids = saved.points.map((p) => p.uuid);
      expect(new Set(uuids).size).toBe(2);
      for (const uuid of uuids) {
        const history = h.backend().services.api.device(uuid);
        expect(history?.history.length ?? 0, `progress reported by ${uuid}`).toBeGreaterThan(0);
      }
    },
  );
});
