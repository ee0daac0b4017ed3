import { BootPartition } from '../harness/disk/boot-partition.ts';
import { inspectDevice } from '../harness/device/inspect.ts';
import { runDetached } from '../harness/device/detached-run.ts';
import { createHash } from 'node:crypto';
import { checksumFileName } from '../lib/fat/atomic-write.ts';
import { silentNarrator } from '../lib/narrator.ts';
import { bootloaderDescription, encodeBootEnv } from '../lib/bootenv/index.ts';
import { posix } from 'node:path';
import {
  bootloaderBooting,
  bootloaderEnv,
  CONSOLE_LOGIN_PROMPT,
  BREADCRUMBS,
  MARKERS,
  ROLLBACK_STEPS,
  STATE_DIR,
  statePath,
  stepLine,
  stepRe,
} from '../lib/contract/index.ts';
import { loadProfile } from '../lib/profile.ts';
import { BASE_RELEASE, NEXT_RELEASE, expect, test } from './fixtures.ts';
import { rebootFromShell } from '../harness/device/shell.ts';
import { bootAndTime } from '../harness/device/boot.ts';

test.describe('boot', { tag: '@emulated' }, () => {
  test('reaches a login on the serial console and answers over SSH', async ({ baseDevice, osVariant }) => {
    const { device } = baseDevice;
    expect(device.state.current).toBe('os-ready');
    // A production image (HUPLAB_VARIANT=production) offers no login on the console at all.
    if (osVariant === 'production') expect(device.console.text(0)).not.toMatch(CONSOLE_LOGIN_PROMPT);
    else expect(device.console.text(0)).toMatch(CONSOLE_LOGIN_PROMPT);
    const ssh = await device.ssh();
    const r = await ssh.exec('uname -m; id -u');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['x86_64', '0']);
    // The lab key (config.json's os.sshKeys) got in, and config.json's uuid named the host.
    expect((await ssh.execOk('hostname')).trim()).toBe(baseDevice.record.uuid.slice(0, 7));
  });

  test('runs the flashed release from resin-rootA', async ({ baseDevice }) => {
    const facts = await inspectDevice(baseDevice.device);
    expect(facts.root).toBe('resin-rootA');
    expect(facts.cmdlineRoot).toBe('resin-rootA');
    expect(facts.version).toBe(BASE_RELEASE);
    expect(facts.bootEnv).toMatchObject({ resin_root_part: 'A', upgrade_available: '0' });
    expect(facts.supervisorVersion).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('the demo application appends a record to /mnt/data every second', async ({ baseDevice }) => {
    const ssh = await baseDevice.device.ssh();
    // The application starts after SSH (a cold Node.js start under TCG takes seconds).
    await expect
      .poll(async () => (await ssh.exec('test -s /mnt/data/demo-app/records.log')).code, { timeout: 60_000 })
      .toBe(0);
    const read = async () =>
      (await ssh.execOk('cat /mnt/data/demo-app/records.log'))
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
    const before = await read();
    await new Promise((r) => setTimeout(r, 4_000));
    const after = await read();
    expect(after.length).toBeGreaterThanOrEqual(before.length + 2);
    const last = after.at(-1)!;
    expect(last[3]).toBe(BASE_RELEASE);
    // Sequence numbers are contiguous and one second apart (give TCG some slack).
    const seqs = after.map((f) => Number(f[0]));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const times = after.slice(-3).map((f) => Number(f[1]));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThan(500);
    const deviceNow = Number((await ssh.execOk('date +%s')).trim()) * 1000;
    expect(Math.abs(deviceNow - Number(last[1]))).toBeLessThan(5_000);
  });

  test('a bootloader env change made from the host boots the other root', async ({ flash, deviceProfile }) => {
    const desc = bootloaderDescription(await loadProfile(deviceProfile));
    const { device } = await flash({ release: BASE_RELEASE, rootB: NEXT_RELEASE, noBoot: true });
    const boot = await BootPartition.open(`${device.paths.dir}/disk.img`);
    expect(await boot.readBootEnv(desc)).toMatchObject({ resin_root_part: 'A' });
    await boot.updateBootEnv(desc, { resin_root_part: 'B' });
    await bootAndTime(device, silentNarrator, undefined, {});
    const facts = await inspectDevice(device);
    expect(facts.root).toBe('resin-rootB');
    expect(facts.cmdlineRoot).toBe('resin-rootB');
    expect(facts.version).toBe(NEXT_RELEASE);
    expect(facts.bootEnv.resin_root_part).toBe('B');
  });

  test('the bootloader counts boots of a pending update and past its limit boots the other root', async ({
    flash,
    deviceProfile,
  }) => {
    const desc = bootloaderDescription(await loadProfile(deviceProfile));
    // GRUB gives up when the count reaches its limit (2), U-Boot and the JetPack 5 launcher when
    // it goes above os_bc_lim (3). The new OS (B) has used up its tries but one: this boot is the
    // last, so the bootloader must boot the old root A and leave the count for rollback-altboot.
    const grub = desc.kind === 'grub-efi';
    const before = grub ? desc.bootCountLimit - 1 : desc.bootCountLimit;
    const after = String(before + 1);
    const { device } = await flash({ release: BASE_RELEASE, rootB: NEXT_RELEASE, noBoot: true });
    const boot = await BootPartition.open(`${device.paths.dir}/disk.img`);
    await boot.updateBootEnv(desc, { resin_root_part: 'B', upgrade_available: '1', bootcount: String(before) });
    await bootAndTime(device, silentNarrator, undefined, {});
    const facts = await inspectDevice(device);
    expect(facts.root).toBe('resin-rootA');
    expect(facts.version).toBe(BASE_RELEASE);
    expect(facts.bootEnv).toMatchObject({ resin_root_part: 'B', upgrade_available: '1', bootcount: after });
    // The bootloader prints the env as it has it: a slot letter in grubenv, a hex partition number in resinOS_uEnv.txt.
    const printed = grub ? 'B' : desc.rootPartitions.B.toString(16);
    expect(device.console.text(0)).toContain(
      `${bootloaderEnv({ resin_root_part: printed, upgrade_available: '1', bootcount: after })}\n${bootloaderBooting('resin-rootA')}`,
    );
  });

  // Regression (found by the power-cut campaign): a cut between the boot files copy and the env
  // switch left the old OS running with the new OS's boot files, and its breadcrumbs made
  // rollback-health "commit" the old OS. At boot the OS now checks and restores its own.
  test("boot files an interrupted update left behind are replaced by the running OS's at the next boot", async ({
    flash,
  }) => {
    const { device } = await flash({ release: BASE_RELEASE, rootB: NEXT_RELEASE });
    const ssh = await device.ssh();
    // Where the update was when the power went: new boot files copied, breadcrumbs made, no switch.
    await ssh.execOk(
      'mkdir -p /run/b && mount -o ro "$(findfs LABEL=resin-rootB)" /run/b && cp /run/b/usr/share/huplab/boot-files/os-release /mnt/boot/os-release' +
        ` && umount /run/b && touch ${BREADCRUMBS.map((f) => statePath(f)).join(' ')} && sync`,
    );
    expect((await inspectDevice(device)).bootFilesMismatch).toEqual(['os-release']);
    const mark = device.console.mark();
    await rebootFromShell(device);
    await device.waitForOs({ since: mark, timeoutMs: 240_000 });
    const facts = await inspectDevice(device);
    expect(facts.version).toBe(BASE_RELEASE);
    expect(facts.bootFilesMismatch).toEqual([]);
    expect(device.console.text(mark)).toMatch(
      stepRe({
        step: ROLLBACK_STEPS.bootFilesGuard,
        phase: 'done',
        after: ' nothing pending on root A .*an update stopped before its switch; restored',
      }),
    );
    expect((await (await device.ssh()).exec(`ls ${STATE_DIR}/ | grep breadcrumb`)).stdout.trim()).toBe('');
  });

  // Regression (CI, lock-held): the updater reboots 2 s after its last step; under load that
  // reboot could stop the wrapper before it recorded the exit status, and the harness waited for
  // a status that would never come. A reboot now ends the wait, with the command's output.
  test('a detached command stopped by a reboot before its status is recorded ends with its output', async ({
    flash,
  }) => {
    const { device } = await flash({ release: BASE_RELEASE });
    const mark = device.console.mark();
    // reboot -f: no shutdown, so the wrapper never gets to record an exit status.
    const r = await runDetached(device, `echo '${stepLine('reboot', 'done')}'; sync; reboot -f`, {
      timeoutMs: 180_000,
    });
    expect(r.endedByReboot).toBe(true);
    expect(r.code).toBeNull();
    expect(r.stdout).toContain(stepLine('reboot', 'done'));
    expect(device.console.text(mark)).toContain(MARKERS.bootloaderBooting.trimEnd());
    await device.waitForOs({ since: mark, timeoutMs: 240_000 });
  });

  // Regression (found by the power-cut campaign, bootloader-switch@50%): the env switch was cut
  // once its journal (the checksum file of the atomic FAT write) was durable; GRUB booted the old
  // root with the env in place, and the boot-files guard's repair then finished the switch behind
  // the running OS's back. The env in place decided the boot: the journal must be dropped.
  test('an env switch cut after its journal was written is dropped at the next boot, not finished', async ({
    flash,
    deviceProfile,
  }) => {
    const desc = bootloaderDescription(await loadProfile(deviceProfile));
    const { device } = await flash({ release: BASE_RELEASE });
    const ssh = await device.ssh();
    const env = `/mnt/boot${desc.envFile}`;
    const dir = posix.dirname(env);
    const name = posix.basename(env);
    const current = Buffer.from(await ssh.execOk(`cat ${env}`), 'latin1');
    const switched = encodeBootEnv(
      desc,
      { resin_root_part: 'B', upgrade_available: '1', bootcount: '0' },
      { env: current },
    ).env;
    const journal = `${dir}/${checksumFileName(name, createHash('sha256').update(switched).digest('hex'))}`;
    // Where the updater was when the power went: breadcrumbs made, the new env's journal durable, no rename yet.
    await ssh.execOk(`cat > '${journal}' && touch ${BREADCRUMBS.map((f) => statePath(f)).join(' ')} && sync`, {
      stdin: switched,
    });
    const mark = device.console.mark();
    await rebootFromShell(device);
    await device.waitForOs({ since: mark, timeoutMs: 240_000 });
    const facts = await inspectDevice(device);
    expect(facts.root).toBe('resin-rootA');
    expect(facts.bootEnv).toMatchObject({ resin_root_part: 'A', upgrade_available: '0' });
    expect(
      (
        await (await device.ssh()).exec(`ls -a ${dir}/ | grep -c '^\\.${name.replace(/\./g, '\\.')}\\.' || true`)
      ).stdout.trim(),
    ).toBe('0');
    expect((await (await device.ssh()).exec(`ls ${STATE_DIR}/ | grep breadcrumb`)).stdout.trim()).toBe('');
  });
});
