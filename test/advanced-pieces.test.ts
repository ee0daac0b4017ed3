import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isHuplabError } from '../lib/errors.ts';
import { parseAdvancedArgs } from '../updater/advanced/args.ts';
import { parseAdvancedDownload, parseTakeoverSteps } from '../harness/update/advanced.ts';
import { boardMismatch } from '../harness/qemu/driver.ts';
import { loadProfile } from '../lib/profile.ts';
import { shipBootFlashFirmware } from '../images/builder/boot-flash.ts';
import { exportRawImage } from '../images/builder/raw-image.ts';
import { takeoverTool } from '../harness/backend/artifacts.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('advanced updater flags: the version, the target device type, nothing else', async (t) => {
  t.same(parseAdvancedArgs(['--hostos-version', '5.1.0']), { hostosVersion: '5.1.0' });
  t.same(parseAdvancedArgs(['--hostos-version=2.102.0', '--device-type=raspberrypi3-64']), {
    hostosVersion: '2.102.0',
    deviceType: 'raspberrypi3-64',
  });
  t.ok(
    isHuplabError(
      (() => {
        try {
          parseAdvancedArgs(['--hostos-version', '5.1.0', '--force']);
        } catch (e) {
          return e;
        }
      })(),
      'usage',
    ),
    'unknown flag refused',
  );
  t.throws(() => parseAdvancedArgs([]), /--hostos-version is missing/);
  t.throws(
    () => parseAdvancedArgs(['--hostos-version', '5.1.0', '--device-type', 'Rasp Berry']),
    /not a device type slug/,
  );
});

t.test("stage 2's console markers give step timings and the failure", async (t) => {
  const text = [
    '[takeover] step copy-to-ram start',
    '[takeover] step copy-to-ram done (20s) 56534955 bytes of image in RAM, digest checked',
    '[takeover] step flash start',
    '[takeover] step flash failed writing /dev/vda failed: short write',
  ].join('\n');
  t.same(parseTakeoverSteps(text), [
    { step: 'takeover:copy-to-ram', seconds: 20, detail: '56534955 bytes of image in RAM, digest checked' },
    { step: 'takeover:flash', seconds: NaN, detail: 'failed: writing /dev/vda failed: short write' },
  ]);
});

t.test('the two ends of each advanced path are the same board; other pairs are not', async (t) => {
  const [jp4, jp5, pi32, pi64, amd] = await Promise.all(
    ['jetson-xavier-jp4', 'jetson-xavier-jp5', 'raspberrypi3', 'raspberrypi3-64', 'generic-amd64'].map((n) =>
      loadProfile(n),
    ),
  );
  const q = (p: typeof jp4) => ({ qemu: p!.qemu!, console: p!.console });
  t.equal(boardMismatch(q(jp4), q(jp5)), undefined, 'JetPack 4 and 5 profiles: one Xavier');
  t.equal(boardMismatch(q(pi32), q(pi64)), undefined, '32- and 64-bit Pi profiles: one Pi 3');
  t.match(boardMismatch(q(jp4), q(amd)), /qemu\.binary qemu-system-aarch64 vs qemu-system-x86_64/);
  t.match(boardMismatch(q(pi64), q(jp5)), /qemu\.machine raspi3b vs virt/);
});

t.test('boot flash firmware: padding cut at a page, digest recorded; one that cannot fit is refused', async (t) => {
  const dir = t.testdir({});
  const fw = Buffer.alloc(64 * 1024, 0);
  fw.fill(0xab, 0, 5000);
  writeFileSync(join(dir, 'code.fd'), fw);
  const m = await shipBootFlashFirmware(join(dir, 'root'), {
    firmware: join(dir, 'code.fd'),
    debianPackage: 'x',
    physBase: 0,
    bankBytes: 1 << 20,
  });
  const shipped = readFileSync(join(dir, 'root', 'usr/lib/huplab/firmware/boot-flash.bin'));
  t.equal(shipped.length, 8192, 'up to the 4 KiB page holding the last byte');
  t.same(shipped.subarray(0, 5000), fw.subarray(0, 5000));
  t.same(m, {
    file: '/usr/lib/huplab/firmware/boot-flash.bin',
    sha256: sha(shipped),
    size: 8192,
    physBase: 0,
    bankBytes: 1 << 20,
    source: join(dir, 'code.fd'),
  });
  t.same(JSON.parse(readFileSync(join(dir, 'root', 'usr/lib/huplab/firmware/boot-flash.json'), 'utf8')), m);
  await t.rejects(
    shipBootFlashFirmware(join(dir, 'r2'), {
      firmware: join(dir, 'code.fd'),
      debianPackage: 'x',
      physBase: 0,
      bankBytes: 4096,
    }),
    /do not fit a 4096-byte bank/,
  );
  const missing = await shipBootFlashFirmware(join(dir, 'r3'), {
    firmware: join(dir, 'missing.fd'),
    debianPackage: 'qemu-efi-aarch64',
    physBase: 0,
    bankBytes: 4096,
  }).catch((e: unknown) => e);
  t.ok(isHuplabError(missing, 'firmware-missing'));
  t.match((missing as { hint?: string }).hint, /install qemu-efi-aarch64/, 'says which package brings it');
});

t.test(
  'the served image: gzip of an Android sparse image of the disk, digests of both, made once; simg-flash writes and checks it',
  async (t) => {
    const dir = t.testdir({});
    const disk = join(dir, 'disk.img');
    const data = Buffer.alloc(4 << 20, 0);
    data.write('huplab disk', 1 << 20);
    data.fill(0xff, 3 << 20);
    writeFileSync(disk, data);
    const img = await exportRawImage(disk);
    const simg = gunzipSync(readFileSync(img.file));
    t.equal(simg.readUInt32LE(0), 0xed26ff3a, 'sparse magic');
    t.same(
      {
        compression: img.compression,
        format: img.format,
        sha256: img.sha256,
        size: img.size,
        rawSha256: img.rawSha256,
        rawSize: img.rawSize,
      },
      {
        compression: 'gzip',
        format: 'android-sparse',
        sha256: sha(readFileSync(img.file)),
        size: readFileSync(img.file).length,
        rawSha256: sha(data),
        rawSize: data.length,
      },
    );
    t.ok(simg.length < (1 << 20) + 4096, 'zero and 0xff runs are FILL chunks, not data');
    t.same(await exportRawImage(disk), img, 'the second call finds it');
    // The device's writer, built for this host, over a disk full of other bytes.
    const tool = await takeoverTool('simg-flash', 'amd64');
    const target = join(dir, 'target.img');
    writeFileSync(target, Buffer.alloc(data.length, 0x5a));
    execFileSync(tool.path, ['write', target], { input: simg });
    t.same(readFileSync(target), data, 'every byte of the disk written, the FILL runs included');
    t.match(
      execFileSync(tool.path, ['verify', target], { input: simg }).toString(),
      /verified 4194304 bytes of 4194304/,
    );
    const bad = readFileSync(target);
    bad[(3 << 20) + 17] = 0;
    writeFileSync(target, bad);
    t.throws(
      () => execFileSync(tool.path, ['verify', target], { input: simg, stdio: 'pipe' }),
      /differs from the image in the MiB at byte 3145728/,
      'one wrong byte is found',
    );
    t.throws(
      () => execFileSync(tool.path, ['write', target], { input: simg.subarray(0, 100), stdio: 'pipe' }),
      /ends inside/,
      'a truncated image is refused',
    );
  },
);

t.test('stage 2 is a valid POSIX shell script', async (t) => {
  t.doesNotThrow(() => execFileSync('sh', ['-n', 'updater/takeover/stage2.sh']));
});

t.test('bytes downloaded by stage 1: the image and the tools', async (t) => {
  const text =
    '[hup] step download done (65.9s) OS image 5.1.0 (56534779 bytes, android-sparse, sha256 722dae71e8c8) from the API in 1 attempt(s); simg-flash-arm64 (600096 bytes), cfi-flash-arm64 (600000 bytes)';
  t.same(parseAdvancedDownload(text), { source: 'API', kind: 'image', bytes: 56534779 + 600096 + 600000 });
  t.equal(parseAdvancedDownload('[hup] step download failed nope'), undefined);
});
