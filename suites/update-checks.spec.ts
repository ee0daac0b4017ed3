import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import { INACTIVE_ROOT_SH, sh } from '../harness/device/shell.ts';
import { LEGACY_LOGS_SUBDIR } from '../harness/update/collect.ts';
import { expectRefused } from '../harness/update/verdict.ts';
import {
  LEGACY_UPDATE_LOG_DIR,
  UPDATE_FAILED,
  UPDATE_LOG_DIR,
  parseDownloadProgress,
  parseImageMissing,
  parseUpdateFailedReason,
  stepLine,
} from '../lib/contract/index.ts';
import { NEXT_RELEASE, expect, test } from './fixtures.ts';
import { expectCommitted, useLabBackend } from './hup-helpers.ts';

// Standard HUP on generic-amd64, the updater's field fidelity: the checks ask the registries for
// the target image, the download moves the bar, the logs are also where the field looks.

/** What "nothing was touched" is read from: the inactive root's first 8 MiB, the supervisor's process, the download cache. */
async function untouchedFacts(d: DeviceDriver): Promise<{ inactiveRoot: string; supervisor: string; cache: string }> {
  const out = await sh(
    d,
    [
      `${INACTIVE_ROOT_SH}; echo "root $(dd if="$dev" bs=1M count=8 2>/dev/null | sha256sum | cut -c1-64)"`,
      'echo "supervisor $(service status balena-supervisor) $(cat /run/huplab/services/balena-supervisor.pid 2>/dev/null)"',
      `echo "cache $(ls -A ${UPDATE_LOG_DIR}/cache 2>/dev/null | wc -l)"`,
    ].join('; '),
  );
  const field = (name: string) => new RegExp(`^${name} (.*)$`, 'm').exec(out)?.[1]?.trim() ?? '';
  return { inactiveRoot: field('root'), supervisor: field('supervisor'), cache: field('cache') };
}

test.describe('update-checks: a registry without the target image', () => {
  // A backend of its own: its registries lose the image for this test.
  const h = useLabBackend();

  test('refused at the checks, before the supervisor stops or anything is written; the reason names each registry and its answer, in the log and at the API', async ({
    flash,
  }) => {
    const backend = h.backend();
    const d = await h.device(flash);
    const release = backend.services.api.releases(d.record.deviceType).find((r) => r.version === NEXT_RELEASE)!;
    const { repository, manifestDigest } = release.hostapp;
    expect(backend.services.primary.removeManifest(repository, manifestDigest)).toBe(true);
    expect(backend.services.fallback.removeManifest(repository, manifestDigest)).toBe(true);
    const before = await untouchedFacts(d.device);
    expect(before.supervisor).toMatch(/^running \d+$/);

    const o = await h.update(d, NEXT_RELEASE);

    const verdict = expectRefused(o, /has no/);
    expect(
      verdict.checks.filter((c) => !c.ok),
      o.failure,
    ).toEqual([]);
    const missing = parseImageMissing(o.failure ?? '');
    expect(missing.map((m) => m.registry)).toEqual([
      backend.deviceConfig.registryEndpoint,
      backend.deviceConfig.fallbackRegistryEndpoint,
    ]);
    for (const m of missing) {
      expect(m.image).toBe(`${repository}@${manifestDigest}`);
      expect(m.answer).toMatch(/^404 MANIFEST_UNKNOWN/);
    }
    // Nothing after the checks ran: the supervisor never stopped (same process), nothing written.
    expect(o.updaterOutput).not.toContain(stepLine('stop-supervisor', 'start'));
    expect(o.updaterOutput).not.toContain(stepLine('fetch', 'start'));
    const after = await untouchedFacts(d.device);
    expect(after).toEqual(before);
    expect(after.cache).toBe('0');
    // The reason in the log file and at the API (then the field's "OS update failed", last).
    const log = o.logs.find((l) => /upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/.test(l))!;
    expect(readFileSync(log, 'utf8')).toContain(`${UPDATE_FAILED}: ${o.failure}`);
    const reasons = o.progress.map((p) => parseUpdateFailedReason(p.message)).filter(Boolean);
    expect(reasons).toEqual([o.failure]);
    expect(o.progress.at(-1)?.message).toBe(UPDATE_FAILED);
  });
});

test.describe('update-checks: progress and logs', () => {
  const h = useLabBackend();

  test('the full image downloads: the API hears the bar move through the download band, saying how much arrived', async ({
    flash,
  }) => {
    const backend = h.backend();
    backend.services.faults.set('delta', { kind: 'missing-delta' });
    // 6 MiB/s: the 57 MB layer takes about 9 s, long enough for the bar to move several times.
    backend.services.faults.set('primary', { kind: 'slow', bytesPerSecond: 6 * 2 ** 20, path: '/blobs/' });
    const d = await h.device(flash);
    const o = await h.update(d, NEXT_RELEASE);
    expectCommitted(o);
    expect(o.download).toMatchObject({ kind: 'full', source: backend.deviceConfig.registryEndpoint });

    const history = o.progress;
    const fetchAt = history.findIndex((p) => p.percent === 50 && p.message === 'Running OS update');
    const writeAt = history.findIndex((p) => p.percent === 70);
    const downloads = history
      .map((p, i) => ({ ...p, i, said: parseDownloadProgress(p.message) }))
      .filter((p) => p.said !== undefined);
    const seen = history.map((p) => `${p.percent} ${p.message}`).join(' | ');
    expect(downloads.length, seen).toBeGreaterThanOrEqual(3);
    expect(new Set(downloads.map((p) => p.percent)).size, seen).toBeGreaterThanOrEqual(3);
    // All of them within the fetch step: after its milestone, before the next one, in its band.
    expect(fetchAt).toBeGreaterThanOrEqual(0);
    expect(downloads.every((p) => p.i > fetchAt && p.i < writeAt && p.percent >= 50 && p.percent < 70)).toBe(true);
    const percents = downloads.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    // Each says how much of the whole image; the last one all of it.
    const totalMb = Number((o.download!.bytes / 1e6).toFixed(1));
    expect(downloads.every((p) => p.said!.kind === 'full' && p.said!.totalMb === totalMb)).toBe(true);
    expect(downloads.at(-1)!.said!.mb).toBe(totalMb);
    const mbs = downloads.map((p) => p.said!.mb);
    expect(mbs).toEqual([...mbs].sort((a, b) => a - b));
    // Throttled: consecutive reports are 2 s or 5 points apart (the last, at the end, may be sooner).
    for (let k = 1; k < downloads.length - 1; k++) {
      const gap = (Date.parse(downloads[k]!.at!) - Date.parse(downloads[k - 1]!.at!)) / 1000;
      const points = downloads[k]!.percent - downloads[k - 1]!.percent;
      expect(gap >= 1.5 || points >= 5, `report ${k}: ${gap.toFixed(1)} s, ${points} points after the one before`).toBe(
        true,
      );
    }
    // Without a legacy folder, no copies.
    expect(o.logs.filter((l) => l.includes(`/${LEGACY_LOGS_SUBDIR}/`))).toEqual([]);
  });

  test("with the field's legacy log folder on the device, the update logs are written there too and collected from it", async ({
    flash,
  }) => {
    const d = await h.device(flash);
    await sh(d.device, `mkdir -p ${LEGACY_UPDATE_LOG_DIR} && sync`);
    const o = await h.update(d, NEXT_RELEASE);
    expectCommitted(o);
    const name = /^upgrade-2\.x\.sh\.\d{8}_\d{6}\.log$/;
    const main = o.logs.find((l) => name.test(basename(l)) && !l.includes(`/${LEGACY_LOGS_SUBDIR}/`));
    const legacy = o.logs.find((l) => name.test(basename(l)) && l.includes(`/${LEGACY_LOGS_SUBDIR}/`));
    expect(main, o.logs.join('\n')).toBeTruthy();
    expect(legacy, o.logs.join('\n')).toBeTruthy();
    expect(basename(legacy!)).toBe(basename(main!));
    const text = readFileSync(legacy!, 'utf8');
    expect(text).toBe(readFileSync(main!, 'utf8'));
    expect(text).toContain(stepLine('reboot', 'done'));
    // The new OS's rollback-health, which committed the update, wrote its log there too.
    expect(
      o.logs.some((l) => l.includes(`/${LEGACY_LOGS_SUBDIR}/`) && /rollback-health\.\d{8}_\d{6}\.log$/.test(l)),
      o.logs.join('\n'),
    ).toBe(true);
  });
});
