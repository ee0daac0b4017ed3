/**
 * The resinOS 1.x line on a real guest: the 1.x image as built (layout, read-write root,
 * fingerprints, 1.x config places, the application as data), and the 1.x updates' checks that
 * refuse before anything is written: a modified root file (1.x -> 1.x) and a /data whose
 * compressed backup would not fit the spare root (1.x -> 2.x), each leaving the disk as it was.
 * Runs on the 1.x profiles only (their Playwright projects run suites/onex-*.spec.ts).
 */
import { ONEX_REFUSALS, parseDataOverLimit, parseFingerprintFailures } from '../lib/contract/onex.ts';
import { FINGERPRINT_FILES } from '../lib/fingerprint.ts';
import { runOnexChecks } from '../harness/update/onex-checks.ts';
import { onexPartitionDigests } from '../harness/update/onex-update.ts';
import type { DeviceDriver } from '../harness/driver/driver.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';

/**
 * What must not change when a check refuses: the partition table (the MBR and the extended
 * partition's first EBR), the boot partition (p1), the spare root (p3) and resin-conf (p5), each
 * as an md5 read from the device's own disk. (The running root and /data are written by the
 * running OS itself.)
 */
async function untouchedParts(device: DeviceDriver): Promise<Record<string, string>> {
  const parts = await onexPartitionDigests(device);
  // Each an md5 of bytes actually read: a partition not found must not compare equal as the
  // md5 of nothing on both sides.
  expect(Object.keys(parts)).toEqual(['table', 'ebr', 'p1', 'p3', 'p5']);
  for (const [k, v] of Object.entries(parts)) {
    expect(v, k).toMatch(/^[0-9a-f]{32}$/);
    expect(v, k).not.toBe('d41d8cd98f00b204e9800998ecf8427e');
  }
  return parts;
}

test.describe('resinOS 1.x', { tag: '@emulated' }, () => {
  test('boots the 1.x image: resin-root read-write, fingerprints, resin-conf, the application as data', async ({
    baseDevice,
  }) => {
    const ssh = await baseDevice.device.ssh();
    const mounts = await ssh.execOk('cat /proc/mounts');
    expect(mounts).toMatch(/^\S+ \/ ext4 rw[, ]/m);
    expect(mounts).toMatch(/^\S+ \/mnt\/conf ext4 rw/m);
    expect(mounts).not.toMatch(/\/mnt\/state /);
    expect(await ssh.execOk('sed -n "s/.*root=LABEL=\\([^ ]*\\).*/\\1/p" /proc/cmdline')).toBe('resin-root\n');
    expect(await ssh.execOk('. /etc/os-release; echo $VERSION')).toBe(`${BASE_RELEASE}\n`);
    // Every listed file of the running root matches the build's fingerprint.
    expect(await ssh.execOk(`cd / && md5sum -c ${FINGERPRINT_FILES.root} 2>&1 | grep -vc ': OK$' || true`)).toBe('0\n');
    expect(await ssh.execOk(`test -s /mnt/boot${FINGERPRINT_FILES.boot} && echo yes`)).toBe('yes\n');
    expect(await ssh.execOk('ls /mnt/data/docker/containers /mnt/data/resin-data')).toMatch(/demo-1001[\s\S]*1001/);
  });

  test('1.x: the fingerprint check passes an unmodified OS and refuses a modified file, naming it, disk untouched', async ({
    baseDevice,
  }) => {
    const { device } = baseDevice;
    const ssh = await device.ssh();
    const ok = await runOnexChecks(device, { method: '1.x' });
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.passed.map((p) => p.name)).toEqual(['fingerprint']);
    await ssh.execOk('cp -p /etc/profile /run/profile.orig && echo "# edited on the device" >> /etc/profile');
    try {
      const before = await untouchedParts(device);
      const refused = await runOnexChecks(device, { method: '1.x' });
      expect(refused.code, refused.stdout).toBe(1);
      expect(refused.refused?.code).toBe(ONEX_REFUSALS.rootModified);
      expect(parseFingerprintFailures(refused.stdout)).toEqual(['/etc/profile']);
      expect(refused.refused?.message).toContain('/etc/profile');
      expect(await untouchedParts(device)).toEqual(before);
    } finally {
      await ssh.execOk('cp -p /run/profile.orig /etc/profile');
    }
    expect((await runOnexChecks(device, { method: '1.x' })).code).toBe(0);
  });

  test('1.x-to-2.x: /data over the compressed limit is refused first, with the disk untouched', async ({
    baseDevice,
  }) => {
    const { device } = baseDevice;
    const ssh = await device.ssh();
    // 3 MB that gzip cannot shrink, against a 2 MB room; the field's 170 MB passes it.
    await ssh.execOk('head -c 3000000 /dev/urandom > /mnt/data/resin-data/1001/blob.bin && sync');
    try {
      const before = await untouchedParts(device);
      const over = await runOnexChecks(device, { method: '1.x-to-2.x', dataLimit: 2_000_000 });
      expect(over.code, over.stdout).toBe(1);
      expect(over.refused?.code).toBe(ONEX_REFUSALS.dataOverLimit);
      const n = parseDataOverLimit(over.refused?.message ?? '');
      expect(n?.limit).toBe(2_000_000);
      expect(n?.bytes).toBeGreaterThan(3_000_000);
      expect(await untouchedParts(device)).toEqual(before);
      expect(await ssh.execOk('stat -c %s /mnt/data/resin-data/1001/blob.bin')).toBe('3000000\n');
      const fits = await runOnexChecks(device, { method: '1.x-to-2.x' });
      expect(fits.code, fits.stdout).toBe(0);
      expect(fits.passed[0]?.detail).toMatch(/^\d+ of 170000000 bytes compressed$/);
    } finally {
      await ssh.execOk('rm -f /mnt/data/resin-data/1001/blob.bin');
    }
  });
});
