import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBootMarker } from '../lib/contract/markers.ts';
import { STATE_FILES } from '../lib/contract/state-files.ts';
import { TAKEOVER_STEPS } from '../lib/contract/step-names.ts';
import { findFailedStep, parseStepLines, stepPrefix } from '../lib/contract/steps.ts';
import { TAKEOVER_PREFIX, TAKEOVER_REBOOTING, TAKEOVER_REPORT_FAILED } from '../lib/contract/takeover.ts';

/**
 * The device's shell files (bootloader scripts, initramfs, init scripts, takeover stage 2) print
 * markers the harness parses, and cannot import the contract. This test reads them and checks
 * every marker they print against the contract's parsers, so that a change on either side fails
 * here rather than in a HIL suite.
 */

/** The regular files under `dir` (symlinks, such as resolv.conf, point at runtime files). */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}

const DEVICE_FILES = files('images/device-files').filter((f) => !f.includes('/acpi/'));
const STAGE2 = 'updater/takeover/stage2.sh';

/**
 * The line a shell (or a JS template) string prints, with every expansion ($1, ${x}, $(cmd ...),
 * $*, JS ${expr}) replaced by a sample value: a number, which every field the contract parses
 * accepts (a root label, a version, a step's seconds).
 */
function expand(text: string): string {
  let out = '';
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$') {
      out += text[i];
      continue;
    }
    const next = text[i + 1];
    if (next === '(' || next === '{') {
      const close = next === '(' ? ')' : '}';
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === '\\') j++;
        else if (text[j] === next) depth++;
        else if (text[j] === close && --depth === 0) break;
      }
      i = j;
    } else {
      const m = /^(\*|\d|\w+)/.exec(text.slice(i + 1));
      i += m ? m[0].length : 0;
    }
    out += String(++n);
  }
  return out;
}

/** The strings a file prints that start with `prefix`: the quoted text of its echo/say/console calls. */
function printed(text: string, prefix: string): string[] {
  const quote = new RegExp(`(["\`])(${prefix.replace(/[[\]]/g, '\\$&')}[^"\`]*)\\1`, 'g');
  return [...text.matchAll(quote)].map((m) => m[2]!);
}

t.test('every [huplab] marker the device files print is one the contract defines', async (t) => {
  let count = 0;
  for (const f of DEVICE_FILES) {
    for (const raw of printed(readFileSync(f, 'utf8'), '[huplab] ')) {
      const line = expand(raw);
      t.ok(parseBootMarker(line), `${f}: ${raw}`, { line });
      count++;
    }
  }
  t.ok(count >= 25, `the scan found the markers (${count})`);
});

t.test('the markers the harness keys on carry their fields as the contract parses them', async (t) => {
  const names = (f: string) =>
    printed(readFileSync(f, 'utf8'), '[huplab] ').map((raw) => parseBootMarker(expand(raw))?.name);
  for (const f of [
    'images/device-files/boot/grub-efi/grub.cfg',
    'images/device-files/boot/u-boot/boot.cmd',
    'images/device-files/boot/uefi-launcher/launcher.cfg',
  ]) {
    t.ok(names(f).includes('bootloaderEnv'), `${f} prints the env line`);
    t.ok(names(f).includes('bootloaderBooting'), `${f} prints the booting line`);
    t.ok(names(f).includes('bootloaderGaveUp'), `${f} gives up the contract's way`);
  }
  t.same(names('images/device-files/initramfs/init').sort(), [
    'initramfsGaveUp',
    'initramfsModuleFailed',
    'initramfsRoot',
  ]);
  t.ok(names('images/device-files/rootfs/usr/lib/huplab/announce-ready').includes('osReady'));
  t.ok(names('images/device-files/rootfs/etc/init.d/rcK').includes('shuttingDown'));
  const init = readFileSync('images/device-files/initramfs/init', 'utf8');
  t.match(init, /fail "no \/sbin\/init on \$root"/, "the initramfs's reason for an unbootable root (noInitOn)");
});

t.test("takeover stage 2's lines are the contract's", async (t) => {
  const text = readFileSync(STAGE2, 'utf8');
  t.ok(text.includes(`echo "${TAKEOVER_PREFIX}$*" > /dev/console`), 'say() prints with the takeover prefix');
  t.ok(text.includes(`echo "${TAKEOVER_REBOOTING}" > /dev/console`));
  t.ok(printed(text, '').some((s) => `${TAKEOVER_PREFIX}${s}`.startsWith(TAKEOVER_REPORT_FAILED)));
  // say "step ..." lines, as the console shows them.
  const steps = [...text.matchAll(/say "(step [^"]*)"/g)].map((m) => `${TAKEOVER_PREFIX}${expand(m[1]!)}`);
  t.same(
    steps.map((l) => parseStepLines(l, 'takeover').map((s) => [s.phase, s.seconds !== undefined])),
    [[['failed', false]], [['start', false]], [['done', true]]],
    'failed, start, and done with its seconds',
  );
  t.ok(findFailedStep(steps[0]!, 'takeover'));
  t.ok(steps.every((l) => l.startsWith(stepPrefix('takeover'))));
  const ran = [...text.matchAll(/^(?:if .*then )?step (\S+) \S+/gm)].map((m) => m[1]);
  t.same(ran, [...TAKEOVER_STEPS], 'the steps it runs, in order');
});

t.test('every state partition file the device files name is a contract state file', async (t) => {
  const known = new Set<string>(Object.values(STATE_FILES));
  for (const f of [...DEVICE_FILES, STAGE2]) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\/mnt\/state\/([\w.-]+)/g))
      t.ok(known.has(m[1]!), `${f}: /mnt/state/${m[1]}`);
  }
});
