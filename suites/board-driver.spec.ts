import { execa } from 'execa';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BoardDevice } from '../harness/board/board-device.ts';
import { loadInventory, type Inventory } from '../harness/board/inventory.ts';
import { buildImage } from '../images/builder/index.ts';
import { flashDevice } from '../harness/device/provision.ts';
import { qemuBoardEntry } from '../harness/qemu/stand-in-board.ts';
import { isOurProcess } from '../harness/qemu/process.ts';
import { bootloaderBooting, osReadyVersion } from '../lib/contract/index.ts';
import { loadProfile } from '../lib/profile.ts';
import { repoRoot } from '../lib/paths.ts';
import type { Lab } from '../harness/lab.ts';
import { BASE_RELEASE, expect, test } from './fixtures.ts';

/**
 * The board driver against a board it cannot tell from a real one: QEMU with its console on a
 * pseudo-terminal (opened through `serialport`, as a USB-serial adapter is) or on a TCP port (as
 * a ser2net server serves one), its power switched by inventory commands that start and kill
 * QEMU, and its "SD card" written through the SD-mux flash path.
 */
async function makeBoard(
  lab: Lab,
  name: string,
  console: 'pty' | 'tcp',
): Promise<{ inventory: Inventory; file: string; dir: string; image: string }> {
  const rack = join(lab.dir, 'rack');
  const entry = await qemuBoardEntry(rack, name, 'generic-amd64', console);
  const file = join(rack, `${name}.json`);
  writeFileSync(file, JSON.stringify({ lab: 'test-rack', boards: [entry] }, null, 2));
  // The image a release engineer flashes: built, then configured with the lab's key (config.json).
  const built = await buildImage({ device: 'generic-amd64', release: BASE_RELEASE });
  const configured = await flashDevice({
    lab: lab.dir,
    name: `${name}-image`,
    profile: await loadProfile('generic-amd64'),
    imagePath: built.disk,
    release: BASE_RELEASE,
    sshPublicKey: lab.key.publicKey,
  });
  return { inventory: await loadInventory(file), file, dir: join(rack, name), image: configured.disk };
}

test.describe('board driver', { tag: '@emulated' }, () => {
  test('a board on a serial tty: flashed through its SD mux, booted, reached, typed at, power-cycled, switched off', async ({
    lab,
  }) => {
    test.setTimeout(10 * 60_000);
    const b = await makeBoard(lab, 'pty-board', 'pty');
    const board = new BoardDevice({
      board: b.inventory.boards[0]!,
      dir: join(lab.dir, 'boards', 'pty-board'),
      sshKeyPath: lab.key.privateKeyPath,
    });
    try {
      await board.flash(b.image);
      expect(existsSync(join(b.dir, 'sd.img'))).toBe(true);
      expect(board.state.current).toBe('off');

      await board.powerOn();
      await board.waitForOs({ timeoutMs: 240_000 });
      expect(board.state.current).toBe('os-ready');
      // The console came through the tty: the bootloader's and the OS's markers are in its log.
      const text = board.console.text(0);
      expect(text).toContain(bootloaderBooting('resin-rootA'));
      expect(text).toContain(osReadyVersion(BASE_RELEASE));
      expect((await (await board.ssh()).execOk('. /etc/os-release; echo $VERSION_ID')).trim()).toBe(BASE_RELEASE);

      // Typing reaches the board: Enter at the login prompt brings another prompt.
      const mark = board.console.mark();
      await board.console.write('\r');
      await board.console.expect(/login:/, { since: mark, timeoutMs: 20_000, what: 'a login prompt after Enter' });

      // `huplab lab list` sees it answer.
      const list = await execa(
        join(repoRoot, 'node_modules', '.bin', 'tsx'),
        [join(repoRoot, 'harness/cli/main.ts'), 'lab', 'list', '--inventory', b.file, '--json'],
        { env: { HUPLAB_HOME: lab.dir }, reject: false },
      );
      expect(list.exitCode, list.stderr).toBe(0);
      const listed = JSON.parse(list.stdout) as { boards: Array<{ name: string; sshOk: boolean; version: string }> };
      expect(listed.boards).toMatchObject([{ name: 'pty-board', sshOk: true, version: BASE_RELEASE }]);

      // No cycle command in the inventory: reset is off, a second, on; the next boot is followed.
      await board.reset();
      await board.waitForOs({ timeoutMs: 240_000 });
      expect(board.state.history().filter((t) => t.to === 'os-ready').length).toBe(2);

      await board.powerOff({ clean: true, timeoutMs: 60_000 });
      expect(board.state.current).toBe('off');
      expect(board.console.text(0)).toMatch(/reboot: Power down|System halted/);
      expect(vmRunning(b.dir)).toBe(false);
    } finally {
      await board.force('off');
      await board.close();
    }
  });

  test('a board behind a TCP serial server: booted, reached, and its power cut', async ({ lab }) => {
    test.setTimeout(10 * 60_000);
    const b = await makeBoard(lab, 'tcp-board', 'tcp');
    const board = new BoardDevice({
      board: b.inventory.boards[0]!,
      dir: join(lab.dir, 'boards', 'tcp-board'),
      sshKeyPath: lab.key.privateKeyPath,
    });
    try {
      await board.flash(b.image);
      await board.powerOn();
      await board.waitForOs({ timeoutMs: 240_000 });
      expect(board.console.text(0)).toContain(osReadyVersion(BASE_RELEASE));
      expect(await (await board.ssh()).execOk('cat /proc/cmdline')).toContain('resin-rootA');
      await board.powerCut();
      expect(board.state.current).toBe('off');
      expect(vmRunning(b.dir)).toBe(false);
    } finally {
      await board.force('off');
      await board.close();
    }
  });

  // A board with no SD mux is reflashed by its own running OS (the image streamed over SSH,
  // compressed, into its disk, then a forced reboot). In qualify only: about 1 min of streaming.
  test('a board reflashed from its running OS comes back with the new image', { tag: '@qualify' }, async ({ lab }) => {
    test.setTimeout(12 * 60_000);
    const b = await makeBoard(lab, 'os-board', 'pty');
    const viaMux = new BoardDevice({
      board: b.inventory.boards[0]!,
      dir: join(lab.dir, 'boards', 'os-board'),
      sshKeyPath: lab.key.privateKeyPath,
    });
    await viaMux.flash(b.image);
    await viaMux.powerOn();
    await viaMux.waitForOs({ timeoutMs: 240_000 });
    await viaMux.close();
    // The same board, now known to the inventory by its disk only; a new configuration (new uuid).
    const board = new BoardDevice({
      board: { ...b.inventory.boards[0]!, flash: { fromRunningOs: { disk: '/dev/vda' } } },
      dir: join(lab.dir, 'boards', 'os-board'),
      sshKeyPath: lab.key.privateKeyPath,
    });
    try {
      await board.openConsole();
      board.state.force('os-ready', 'running since the SD-mux flash');
      const next = await flashDevice({
        lab: lab.dir,
        name: 'os-board-image-2',
        profile: await loadProfile('generic-amd64'),
        imagePath: (await buildImage({ device: 'generic-amd64', release: BASE_RELEASE })).disk,
        release: BASE_RELEASE,
        sshPublicKey: lab.key.publicKey,
      });
      await board.flash(next.disk);
      expect(board.state.current).toBe('firmware');
      board.forgetHostKey();
      await board.waitForOs({ timeoutMs: 300_000 });
      expect(await (await board.ssh()).execOk('cat /mnt/boot/config.json')).toContain(`"uuid": "${next.uuid}"`);
    } finally {
      await board.force('off');
      await board.close();
    }
  });
});

function vmRunning(dir: string): boolean {
  const pidFile = join(dir, 'vm', 'qemu.pid');
  if (!existsSync(pidFile)) return false;
  return isOurProcess(Number(readFileSync(pidFile, 'utf8').trim()), join(dir, 'vm'));
}
