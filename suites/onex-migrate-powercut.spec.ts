/**
 * Power cuts during the 1.x -> 2.x migration (harness/power/onex-migrate-cuts.ts): one fresh 1.x
 * device per stage, the power cut as the migration starts the stage's step, the device powered on
 * with no help, and what booted judged against what must hold there. Before the layout changes
 * the 1.x OS boots with /data intact; between the first table and the restore of /data the
 * field's design cannot hold /data (the cut is shown: 1.x boots, its /data replaced); from the
 * restore on /data is back; from the boot switch's start 2.x boots.
 */
import { MIGRATION_STORAGE_MIB } from '../harness/jobs/onex-migrate.ts';
import { describeOnexCuts, runOnexCutCampaign } from '../harness/power/onex-migrate-cuts.ts';
import { suiteReleasesFor } from '../harness/update/suite-releases.ts';
import { planUpdate } from '../harness/update/plan.ts';
import { expect, test } from './fixtures.ts';

const FROM = '1.26.1';

test.describe('resinOS 1.x -> 2.x migration: power cuts', { tag: '@emulated' }, () => {
  test('a cut at each stage leaves what the stage says', async ({ lab, deviceProfile }, testInfo) => {
    test.setTimeout(60 * 60_000);
    const to = suiteReleasesFor(deviceProfile.replace(/-1x$/, '')).base;
    const plan = await planUpdate({ device: deviceProfile, from: FROM, to });
    const results = await runOnexCutCampaign({
      lab,
      device: deviceProfile,
      target: plan.target.name,
      from: FROM,
      to,
      storageMiB: MIGRATION_STORAGE_MIB,
    });
    const report = describeOnexCuts(results).join('\n');
    await testInfo.attach('powercuts.txt', { body: report, contentType: 'text/plain' });
    expect(results.map((r) => r.point.name)).toEqual([
      'stop-services',
      'backup',
      'fetch',
      'restore-data',
      'boot-files',
      'bootloader-switch',
      'reboot',
    ]);
    expect(
      results.filter((r) => !r.ok).map((r) => r.point.name),
      report,
    ).toEqual([]);
  });
});
