import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import { BootPartition } from '../harness/disk/boot-partition.ts';
import { writeQemuRack } from '../harness/qemu/stand-in-board.ts';
import { isOurProcess } from '../harness/qemu/process.ts';
import type { UpdateOutcome, Verdict } from '../harness/update/types.ts';
import { osReadyVersion } from '../lib/contract/index.ts';
import { repoRoot } from '../lib/paths.ts';
import { BASE_RELEASE, expect, NEXT_RELEASE, PINNED, test } from './fixtures.ts';

/**
 * `huplab hup --board NAME --inventory FILE` as a lab engineer runs it: the update on a board of
 * the inventory, here a QEMU stand-in from a rack (its console on a pty read through
 * `serialport`, its power by inventory commands, its SD card written through the SD-mux path), so
 * the CLI, the device factory and the board driver are tried together without hardware.
 */
/** `huplab hup --board qemu-board-1` of the rack's inventory, from BASE to NEXT, as JSON. */
function hupOnBoard(labDir: string, inventory: string, extra: string[] = []) {
  return execa(
    join(repoRoot, 'node_modules', '.bin', 'tsx'),
    [
      join(repoRoot, 'harness/cli/main.ts'),
      'hup',
      '--board',
      'qemu-board-1',
      '--inventory',
      inventory,
      '--from',
      BASE_RELEASE,
      '--to',
      NEXT_RELEASE,
      ...PINNED,
      ...extra,
      '--json',
    ],
    { env: { HUPLAB_HOME: labDir, HUPLAB_QUIET: '1' }, reject: false, timeout: 14 * 60_000 },
  );
}

test.describe('hup on a board', { tag: '@emulated' }, () => {
  test('huplab hup --board runs the standard update on a stand-in board of the rack and judges it', async ({
    lab,
    deviceProfile,
  }) => {
    test.setTimeout(15 * 60_000);
    const rack = join(lab.dir, 'rack');
    const inventory = await writeQemuRack(rack, 1, deviceProfile);
    const r = await hupOnBoard(lab.dir, inventory);
    await test.info().attach('huplab-hup.stderr', { body: r.stderr, contentType: 'text/plain' });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      method: string;
      device: string;
      serialLog: string;
      verdict: Verdict;
      outcome: UpdateOutcome;
    };
    expect(report.method).toBe('standard');
    expect(
      report.verdict.checks.filter((c) => !c.ok),
      'every check of the verdict holds',
    ).toEqual([]);
    expect(report.verdict.ok).toBe(true);
    // The board ran it, not an emulated device of the lab: its name, its console log (written by
    // the board driver from the tty), and its power switched off at the end by the inventory.
    expect(report.device).toBe('qemu-board-1');
    expect(report.serialLog).toBe(join(lab.dir, 'boards', 'qemu-board-1', 'serial.log'));
    expect(readFileSync(report.serialLog, 'utf8')).toContain(osReadyVersion(NEXT_RELEASE));
    expect(report.outcome.before.version).toBe(BASE_RELEASE);
    expect(report.outcome.after.version).toBe(NEXT_RELEASE);
    expect(existsSync(join(lab.dir, 'devices', 'hup', 'device.json'))).toBe(false);
    const pidFile = join(rack, 'qemu-board-1', 'vm', 'qemu.pid');
    const running =
      existsSync(pidFile) &&
      isOurProcess(Number(readFileSync(pidFile, 'utf8').trim()), join(rack, 'qemu-board-1', 'vm'));
    expect(running, 'the board is switched off after the run').toBe(false);
  });

  test('with the backend on the lab network (--listen 0.0.0.0 --advertise): the board is told the host address', async ({
    lab,
    deviceProfile,
  }) => {
    test.setTimeout(15 * 60_000);
    // This host's address on its network: what a real board would be told.
    const address = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(address, 'this host has an IPv4 address besides loopback').toBeDefined();
    const rack = join(lab.dir, 'rack');
    const inventory = await writeQemuRack(rack, 1, deviceProfile);
    const r = await hupOnBoard(lab.dir, inventory, ['--listen', '0.0.0.0', '--advertise', address!]);
    await test.info().attach('huplab-hup.stderr', { body: r.stderr, contentType: 'text/plain' });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { verdict: Verdict; outcome: UpdateOutcome };
    expect(report.verdict.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.outcome.after.version).toBe(NEXT_RELEASE);
    // The board pulled from the host's address, not from an emulated device's lab host address.
    const disk = join(lab.dir, 'devices', 'qemu-board-1', 'disk.img');
    const config = JSON.parse((await (await BootPartition.open(disk)).read('/config.json')).toString()) as Record<
      string,
      unknown
    >;
    expect(config.apiEndpoint).toMatch(new RegExp(`^http://${address!.replace(/\./g, '\\.')}:\\d+$`));
    expect(config.labHost).toBeUndefined();
    expect(report.outcome.download?.source ?? '').not.toContain('10.0.2.100');
  });
});
