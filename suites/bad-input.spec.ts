import { open } from 'node:fs/promises';
import { BOOTLOADER_GAVE_UP } from '../lib/contract/index.ts';
import { isHuplabError } from '../lib/errors.ts';
import { readPartitions } from '../lib/partition/index.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';

test.describe('bad input', { tag: '@emulated' }, () => {
  test('a device that never boots an OS fails with what was awaited and the last console lines', async ({ flash }) => {
    const { device } = await flash({ release: BASE_RELEASE, noBoot: true });
    // Destroy the root filesystem's superblock: GRUB finds no bootable root and resets, forever.
    const disk = `${device.paths.dir}/disk.img`;
    const rootA = (await readPartitions(disk)).find((p) => p.label === 'resin-rootA' || p.name === 'resin-rootA')!;
    const f = await open(disk, 'r+');
    await f.write(Buffer.alloc(4096), 0, 4096, rootA.startBytes);
    await f.close();

    const started = Date.now();
    await device.powerOn();
    const err = await device.waitForOs({ timeoutMs: 45_000 }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(isHuplabError(err, 'console-timeout')).toBe(true);
    const e = err as Error & { oneLine(): string };
    // The time waited, to a tenth of a second: at least the timeout, a little more on a loaded host.
    const waited = /timed out after (\d+(?:\.\d)?)s waiting for the bootloader of .* to boot a kernel/.exec(e.message);
    expect(waited, e.message).not.toBeNull();
    expect(Number(waited![1])).toBeGreaterThanOrEqual(45);
    expect(Number(waited![1])).toBeLessThan(60);
    expect(e.message).toContain(BOOTLOADER_GAVE_UP);
    expect(e.oneLine()).not.toContain('\n');
    // Once broken, the board stays failed until someone forces a known state.
    expect(device.state.current).toBe('failed');
    await expect(device.waitForOs({ timeoutMs: 1_000 })).rejects.toThrow(/failed/);
    await device.force('off');
    expect(device.state.current).toBe('off');
  });
});
