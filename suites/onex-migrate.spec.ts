/**
 * The resinOS 1.x -> 2.x migration on a real guest (updater/onex/migrate-main.ts): a fresh 1.x
 * device migrated to the board's 2.x line and judged (2.x from resin-rootB on the 2.x layout,
 * /data byte for byte, the WiFi settings as keyfiles, the application back, the field's stages at
 * the API), then a standard 2.x update on top; and its faults: /data over the limit (refused, the
 * disk untouched partition by partition), a device on the spare root (moved back, then
 * migrated), WiFi settings in config.json besides WiFi Connect's (both migrated).
 * Runs on the 1.x profiles only (their Playwright projects run suites/onex-*.spec.ts).
 */
import { runOnexMigration, type OnexMigrationRun } from '../harness/jobs/onex-migrate.ts';
import { ONEX_FAULTS, OVER_LIMIT } from '../harness/faults/onex-migrate.ts';
import { describeMigration } from '../harness/update/onex-migrate-verdict.ts';
import { describeOutcome } from '../harness/update/verdict.ts';
import { suiteReleasesFor } from '../harness/update/suite-releases.ts';
import { planUpdate } from '../harness/update/plan.ts';
import { parseDataOverLimit } from '../lib/contract/onex.ts';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import { expect, test } from './fixtures.ts';

/** The 1.x release migrated from: the one with WiFi Connect settings in its application's data. */
const FROM = '1.26.1';

/** The board's 2.x profile and its releases: the migration's target and the standard update after it. */
async function targets(profile: string): Promise<{ target: string; to: string; next: string }> {
  const probe = suiteReleasesFor(profile.replace(/-1x$/, ''));
  const plan = await planUpdate({ device: profile, from: FROM, to: probe.base });
  return { target: plan.target.name, to: probe.base, next: probe.next };
}

/**
 * The disk as the device reads it, partition by partition: the MBR, the extended partition's EBR
 * and every partition of the 1.x layout, each an md5 of the bytes read (the running root and
 * /data too: a refusal must not have stopped, removed or written anything).
 */
async function diskParts(device: DeviceDriver): Promise<Record<string, string>> {
  const ssh = await device.ssh();
  const out = await ssh.execOk(
    [
      'root=$(findfs LABEL=resin-root)',
      'disk=/dev/$(basename $(readlink -f /sys/class/block/$(basename $root)/..))',
      'part() { ls $disk*$1 | grep -v "$disk$" | head -1; }',
      'sync',
      'echo "table $(dd if=$disk bs=512 count=1 2>/dev/null | md5sum | cut -d" " -f1)"',
      'echo "ebr $(dd if=$(part 4) bs=512 count=1 2>/dev/null | md5sum | cut -d" " -f1)"',
      'for n in 1 3 5; do echo "p$n $(md5sum < $(part $n) | cut -d" " -f1)"; done',
      // The mounted root and data change under a running OS (logs, the application's records):
      // their files are compared instead.
      'echo "data $(cd /mnt/data && find resin-data docker -type f | sort | xargs md5sum | md5sum | cut -d" " -f1)"',
      'echo "app $(service status demo-app >/dev/null 2>&1 && echo running || echo stopped)"',
    ].join('; '),
    { timeoutMs: 180_000 },
  );
  const parts = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]),
  );
  expect(Object.keys(parts)).toEqual(['table', 'ebr', 'p1', 'p3', 'p5', 'data', 'app']);
  for (const k of ['table', 'ebr', 'p1', 'p3', 'p5', 'data']) {
    expect(parts[k], k).toMatch(/^[0-9a-f]{32}$/);
    expect(parts[k], k).not.toBe('d41d8cd98f00b204e9800998ecf8427e');
  }
  return parts;
}

function report(run: OnexMigrationRun): string {
  return [
    ...describeMigration(run.outcome, run.verdict),
    ...(run.next ? describeOutcome(run.next.outcome, run.next.verdict) : []),
  ].join('\n');
}

async function stop(run: OnexMigrationRun): Promise<void> {
  await run.backend.services.stop();
  await run.device.force('off').catch(() => {});
  await run.device.close();
}

test.describe('resinOS 1.x -> 2.x migration', { tag: '@emulated' }, () => {
  test.describe.configure({ timeout: 40 * 60_000 });

  test('migrates: 2.x from resin-rootB, /data byte for byte, WiFi Connect as a keyfile, the application back; then a standard 2.x update', async ({
    lab,
    deviceProfile,
  }, testInfo) => {
    const t = await targets(deviceProfile);
    const run = await runOnexMigration({
      lab,
      device: deviceProfile,
      target: t.target,
      from: FROM,
      to: t.to,
      next: t.next,
      name: 'migrate',
    });
    try {
      await testInfo.attach('migration.txt', { body: report(run), contentType: 'text/plain' });
      await testInfo.attach('migrate-serial.log', { path: run.device.paths.serialLog, contentType: 'text/plain' });
      expect(run.verdict.checks.filter((c) => !c.ok)).toEqual([]);
      expect(run.verdict.ok).toBe(true);
      const after = run.outcome.after!;
      expect(after.rootLabel).toBe('resin-rootB');
      expect(Object.keys(run.outcome.before.data).length).toBeGreaterThan(0);
      expect(after.data).toEqual(run.outcome.before.data);
      expect(after.keyfiles['resin-wifi-connect']).toContain('\nssid=lab-connect\n');
      // The migration removed the application's image; the 2.x supervisor fetched it again.
      expect(run.outcome.firstBootWithoutApp).toBe(true);
      expect(after.appFetched).toBe(true);
      expect(after.appRunning).toBe(true);
      expect(run.outcome.progress.map((p) => p.percent)).toEqual(expect.arrayContaining([5, 25, 50, 60, 75, 100]));
      // The standard 2.x update on top: the 2.x updater and bootloader take the migrated layout.
      expect(run.next, 'the standard update ran').toBeDefined();
      // Every check of the standard path's verdict but where the OS came from: under a loaded host
      // the delta request may time out and the full image is pulled instead, which the standard
      // suites judge, not this one.
      expect(run.next!.verdict.checks.filter((c) => !c.ok && c.what !== 'OS downloaded as delta')).toEqual([]);
      expect(run.next!.outcome.download?.kind).toMatch(/^(delta|full)$/);
      expect(run.next!.outcome.after.version).toBe(t.next);
      expect(run.next!.outcome.after.cmdlineRoot).toBe('resin-rootA');
    } finally {
      await stop(run);
    }
  });

  test('data-over-limit: refused at the data check, the disk untouched partition by partition', async ({
    lab,
    deviceProfile,
  }) => {
    const t = await targets(deviceProfile);
    const fault = ONEX_FAULTS.find((f) => f.name === 'data-over-limit')!;
    let before: Record<string, string> = {};
    const run = await runOnexMigration({
      lab,
      device: deviceProfile,
      target: t.target,
      from: FROM,
      to: t.to,
      name: 'over-limit',
      // The fault's blob first, then the disk's picture: what the refusal must leave as it was.
      fault: {
        ...fault,
        async prepare(device) {
          await fault.prepare!(device);
          before = await diskParts(device);
        },
      },
    });
    try {
      expect(
        run.verdict.checks.filter((c) => !c.ok),
        describeMigration(run.outcome, run.verdict).join('\n'),
      ).toEqual([]);
      const n = parseDataOverLimit(run.outcome.runs[0]!.refused?.message ?? '');
      expect(n?.limit).toBe(OVER_LIMIT.limit);
      expect(n?.bytes).toBeGreaterThan(OVER_LIMIT.bytes);
      expect(before.app).toBe('running');
      expect(await diskParts(run.device)).toEqual(before);
    } finally {
      await stop(run);
    }
  });

  test('on-secondary-root: moved back to resin-root, rebooted, then migrated', async ({ lab, deviceProfile }) => {
    const t = await targets(deviceProfile);
    const run = await runOnexMigration({
      lab,
      device: deviceProfile,
      target: t.target,
      from: FROM,
      to: t.to,
      name: 'secondary',
      fault: 'on-secondary-root',
    });
    try {
      expect(
        run.verdict.checks.filter((c) => !c.ok),
        describeMigration(run.outcome, run.verdict).join('\n'),
      ).toEqual([]);
      expect(run.outcome.before.rootLabel).toBe('resin-updt');
      expect(run.outcome.runs).toHaveLength(2);
      expect(run.outcome.runs[0]!.steps.filter((s) => s.phase === 'done').map((s) => s.step)).toContain('root-check');
      expect(run.outcome.progress.map((p) => p.message)).toEqual(
        expect.arrayContaining(['Switching partitions', 'Rebooting from new partition']),
      );
      expect(run.outcome.after?.rootLabel).toBe('resin-rootB');
    } finally {
      await stop(run);
    }
  });

  test('wifi-config: config.json WiFi and WiFi Connect both migrated to keyfiles', async ({ lab, deviceProfile }) => {
    const t = await targets(deviceProfile);
    const run = await runOnexMigration({
      lab,
      device: deviceProfile,
      target: t.target,
      from: FROM,
      to: t.to,
      name: 'wifi',
      fault: 'wifi-config',
    });
    try {
      expect(
        run.verdict.checks.filter((c) => !c.ok),
        describeMigration(run.outcome, run.verdict).join('\n'),
      ).toEqual([]);
      const k = run.outcome.after!.keyfiles;
      expect(Object.keys(k).sort()).toEqual(['resin-wifi', 'resin-wifi-connect']);
      expect(k['resin-wifi']).toContain('\nssid=lab-home\n');
      expect(k['resin-wifi']).toContain('\npsk=home-pass-1\n');
      expect(k['resin-wifi']).toContain('\nhidden=true\n');
      expect(k['resin-wifi-connect']).toContain('\nssid=lab-connect\n');
      expect(k['resin-wifi-connect']).toContain('\npsk=connect-pass\n');
    } finally {
      await stop(run);
    }
  });
});
