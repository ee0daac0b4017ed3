import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { probeAccelerator } from '../harness/qemu/kvm-probe.ts';

const saved = process.env.HUPLAB_ACCEL;
t.beforeEach(() => {
  delete process.env.HUPLAB_ACCEL;
});
t.teardown(() => {
  if (saved === undefined) delete process.env.HUPLAB_ACCEL;
  else process.env.HUPLAB_ACCEL = saved;
});

t.test('HUPLAB_ACCEL overrides the probe', async (t) => {
  const labDir = t.testdir();
  process.env.HUPLAB_ACCEL = 'kvm';
  t.equal(await probeAccelerator({ labDir }), 'kvm');
  process.env.HUPLAB_ACCEL = 'tcg';
  t.equal(await probeAccelerator({ labDir }), 'tcg');
  process.env.HUPLAB_ACCEL = 'hvf';
  await t.rejects(probeAccelerator({ labDir }), { code: 'accel-invalid', message: /HUPLAB_ACCEL=hvf/ });
  t.same(fs.readdirSync(labDir), [], 'no probe, no cache');
});

t.test('no usable /dev/kvm means tcg without booting anything', async (t) => {
  const labDir = t.testdir();
  t.equal(await probeAccelerator({ labDir, kvmDevice: path.join(labDir, 'no-kvm') }), 'tcg');
});

/**
 * A device node that opens read-write, whatever this machine has: the probe then boots a guest
 * with -accel kvm, which fails on these machines (a /dev/kvm that does not work, or none).
 */
function openableKvm(labDir: string): string {
  const dev = path.join(labDir, 'kvm');
  fs.writeFileSync(dev, '');
  return dev;
}

t.test('on these machines /dev/kvm opens but a guest cannot run: tcg, cached', async (t) => {
  const labDir = t.testdir();
  const kvmDevice = openableKvm(labDir);
  const started = Date.now();
  t.equal(await probeAccelerator({ labDir, kvmDevice, fresh: true }), 'tcg');
  t.ok(Date.now() - started < 15_000, 'the probe is bounded');
  const cacheFile = path.join(labDir, 'accel-probe.json');
  const cache = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as { key: string; accel: string; probedAt: string };
  t.match(cache, { accel: 'tcg', key: /QEMU emulator version/ });

  // The cached verdict is used (planted 'kvm' comes back) ...
  fs.writeFileSync(cacheFile, JSON.stringify({ ...cache, accel: 'kvm' }));
  t.equal(await probeAccelerator({ labDir, kvmDevice }), 'kvm', 'cache hit');
  // ... but not after 24 h, nor for another QEMU version.
  fs.writeFileSync(
    cacheFile,
    JSON.stringify({ ...cache, accel: 'kvm', probedAt: new Date(Date.now() - 25 * 3600e3).toISOString() }),
  );
  t.equal(await probeAccelerator({ labDir, kvmDevice }), 'tcg', 'expired cache re-probed');
  fs.writeFileSync(cacheFile, JSON.stringify({ ...cache, accel: 'kvm', key: 'qemu|QEMU emulator version 6.0.0|x' }));
  t.equal(await probeAccelerator({ labDir, kvmDevice }), 'tcg', 'other QEMU version re-probed');
});

t.test('a missing QEMU binary is a clear error', async (t) => {
  const labDir = t.testdir();
  await t.rejects(probeAccelerator({ labDir, kvmDevice: openableKvm(labDir), qemuBinary: 'qemu-system-nonexistent' }), {
    code: 'qemu-missing',
    hint: 'apt-get install qemu-system-x86',
  });
});
