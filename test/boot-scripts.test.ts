import t from 'tap';
import { readFileSync } from 'node:fs';
import { countSteps } from '../images/builder/grub-efi.ts';
import { builtinEnv } from '../images/builder/u-boot.ts';
import { bootTemplateVars, fillTemplate } from '../images/builder/boot-template.ts';
import { loadProfile } from '../lib/profile.ts';
import { HuplabError } from '../lib/errors.ts';

t.test('boot script variables: root partition numbers in hex, as U-Boot reads dev:part', async (t) => {
  const jp4 = bootTemplateVars(await loadProfile('jetson-xavier-jp4'));
  // Seven vendor partitions, then resin-boot (8): rootA is 9, rootB is 10 = "a".
  t.same({ a: jp4.ROOT_A, b: jp4.ROOT_B, limit: jp4.LIMIT }, { a: '9', b: 'a', limit: '3' });
  const pi = bootTemplateVars(await loadProfile('raspberrypi3-64'));
  t.same({ a: pi.ROOT_A, b: pi.ROOT_B }, { a: '2', b: '3' }, 'MBR: the roots are primaries 2 and 3');
});

t.test('every template variable of the shipped boot scripts is filled', async (t) => {
  const vars = {
    ...bootTemplateVars(await loadProfile('jetson-xavier-jp4')),
    FDT_FILE: '',
    COUNT_STEPS: countSteps(3),
  };
  for (const f of ['images/device-files/boot/u-boot/boot.cmd', 'images/device-files/boot/uefi-launcher/launcher.cfg']) {
    const out = fillTemplate(readFileSync(f, 'utf8'), vars, f);
    t.notMatch(out, /@@/, f);
    t.match(out, /resin-rootB/, `${f} names the roots by label`);
  }
  t.throws(() => fillTemplate('a @@MISSING@@ b', {}, 'x.cfg'), /x\.cfg: unfilled template variable @@MISSING@@/);
});

t.test('the launcher counts boots 0..limit+1 with string steps and flags the count above the limit', async (t) => {
  const steps = countSteps(3);
  // Simulate GRUB's chain on each starting value.
  const run = (bootcount: string) => {
    let next = bootcount;
    let over = '0';
    const lines = steps.split('\n').map((l) => l.trim());
    let matched = false;
    for (let i = 0; i < lines.length; i++) {
      const m = /^(?:if|elif) \[ "\$\{bootcount\}" = "(\d+)" \]; then$/.exec(lines[i]!);
      if (m && !matched && bootcount === m[1]) {
        matched = true;
        for (const cmd of lines[i + 1]!.split(';').map((c) => c.trim())) {
          const a = /^set (\w+)=(\w+)$/.exec(cmd);
          if (a?.[1] === 'bootcount') next = a[2]!;
          if (a?.[1] === 'bc_over') over = a[2]!;
        }
      }
    }
    if (!matched) over = '1';
    return { next, over };
  };
  t.same(run('0'), { next: '1', over: '0' });
  t.same(run('2'), { next: '3', over: '0' }, 'the third boot of the new root is still within os_bc_lim 3');
  t.same(run('3'), { next: '4', over: '1' }, 'above the limit: the other root');
  t.same(run('junk'), { next: 'junk', over: '1' }, 'a garbled count never keeps booting the unconfirmed root');
});

t.test("U-Boot's built-in env is read out of the binary", async (t) => {
  const bin = Buffer.concat([
    Buffer.from('junk\0more junk\0'),
    Buffer.from('bootcmd=run distro_bootcmd\0preboot=usb start\0bootdelay=2\0\0'),
    Buffer.from('tail'),
  ]);
  t.same(builtinEnv(bin, 'u-boot.bin'), ['bootcmd=run distro_bootcmd', 'preboot=usb start', 'bootdelay=2']);
  t.throws(() => builtinEnv(Buffer.from('no env here'), 'u-boot.bin'), HuplabError);
  t.throws(() => builtinEnv(Buffer.from('\0bootcmd=x\0\x01\x02garbage\0\0'), 'u-boot.bin'), /does not parse/);
});

// scripts/bootstrap.sh installs u-boot-rpi:arm64.
t.test("Debian's rpi_arm64 U-Boot: the env has the usb preboot this project drops", async (t) => {
  const env = builtinEnv(readFileSync('/usr/lib/u-boot/rpi_arm64/u-boot.bin'), 'rpi_arm64');
  t.ok(env.some((v) => v.startsWith('preboot=') && v.includes('usb start')));
  t.ok(env.some((v) => v.startsWith('distro_bootcmd=')));
});
