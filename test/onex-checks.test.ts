/**
 * The 1.x updates' checks before anything is written: the fingerprint refusal naming the
 * modified files, and the compressed size of /data against the spare root's room.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FINGERPRINT_FILES, fingerprintTree, formatFingerprint } from '../lib/fingerprint.ts';
import {
  dataOverLimitMessage,
  onexCheckLine,
  onexRefusedLine,
  parseDataOverLimit,
  parseFingerprintFailures,
  parseOnexChecks,
} from '../lib/contract/onex.ts';
import { checkDataBackup, checkFingerprints, compressedSize } from '../updater/onex/checks.ts';

/** A root and a boot partition with their fingerprints, as the builder makes them. */
function device(t: Test) {
  const dir = t.testdir({
    root: { etc: { passwd: 'root:x:0:0\n', hostname: 'one\n' }, usr: { bin: { tool: 'v1\n' } } },
    boot: {},
  });
  return { root: path.join(dir, 'root'), boot: path.join(dir, 'boot') };
}

async function seal(dir: string, kind: 'root' | 'boot') {
  await writeFile(path.join(dir, FINGERPRINT_FILES[kind]), formatFingerprint(fingerprintTree(dir, kind)));
}

t.test('an unmodified 1.x OS passes; a modified file refuses, named, on root and boot', async (t) => {
  const { root, boot } = device(t);
  await writeFile(path.join(boot, 'kernel.img'), 'kernel\n');
  await writeFile(path.join(boot, 'config.txt'), 'user edits\n');
  await seal(boot, 'boot');
  await seal(root, 'root');
  t.match(checkFingerprints({ root, boot }), { checked: { root: 2 }, modified: [] });
  // Ignored files may change; new files pass.
  await writeFile(path.join(root, 'etc', 'hostname'), 'two\n');
  await writeFile(path.join(boot, 'config.txt'), 'more edits\n');
  await writeFile(path.join(root, 'usr', 'bin', 'new'), 'added\n');
  t.same(checkFingerprints({ root, boot }).modified, []);
  await writeFile(path.join(root, 'usr', 'bin', 'tool'), 'v2\n');
  await writeFile(path.join(boot, 'kernel.img'), 'other\n');
  const lines: string[] = [];
  const err = t.throws(() => checkFingerprints({ root, boot, log: (l) => lines.push(l) })) as Error & { code: string };
  t.equal(err.code, 'root-modified');
  t.match(err.message, /\/usr\/bin\/tool, \/mnt\/boot\/kernel\.img; nothing was changed/);
  t.same(parseFingerprintFailures(lines.join('\n')), ['/usr/bin/tool', '/mnt/boot/kernel.img']);
  t.same(lines[0], 'Fingerprint failed for: /usr/bin/tool');
});

t.test('no fingerprint file: refused, as the field did', async (t) => {
  const { root, boot } = device(t);
  await seal(root, 'root');
  t.throws(() => checkFingerprints({ root, boot }), { code: 'fingerprint-missing', message: /boot partition/ });
});

t.test('the compressed /data is measured without writing, and over the limit refused', async (t) => {
  const dir = t.testdir({ 'resin-data': { '1001': { 'zeros.bin': Buffer.alloc(1 << 20) } } });
  const data = path.join(dir, 'resin-data');
  const small = await compressedSize(data);
  t.ok(small > 0 && small < 20_000, `a MiB of zeros compresses (${small} bytes)`);
  await writeFile(path.join(data, '1001', 'noise.bin'), randomBytes(256 * 1024));
  const big = await compressedSize(data);
  t.ok(big > 256 * 1024, `random bytes do not (${big} bytes)`);
  t.same(await checkDataBackup(data, big), { bytes: big, limit: big }, 'exactly the limit fits');
  const err = (await checkDataBackup(data, big - 1).catch((e: unknown) => e)) as Error & { code: string };
  t.equal(err.code, 'data-over-limit');
  t.same(parseDataOverLimit(err.message), { bytes: big, limit: big - 1 });
  t.same((await readdir(dir)).sort(), ['resin-data'], 'nothing written beside /data');
  t.equal((await stat(path.join(data, '1001', 'noise.bin'))).size, 256 * 1024);
  await t.rejects(compressedSize(path.join(dir, 'missing')), { code: 'command-failed' });
  t.ok((await readFile(path.join(data, '1001', 'zeros.bin'))).equals(Buffer.alloc(1 << 20)));
});

t.test('the check lines round-trip through the contract', async (t) => {
  const out = [
    'noise',
    onexCheckLine('fingerprint', '121 root files, 2 boot files unmodified'),
    onexRefusedLine('data-over-limit', dataOverLimitMessage(200, 100)),
  ].join('\n');
  t.same(parseOnexChecks(out), {
    passed: [{ name: 'fingerprint', detail: '121 root files, 2 boot files unmodified' }],
    refused: { code: 'data-over-limit', message: dataOverLimitMessage(200, 100) },
  });
  t.same(parseOnexChecks('nothing'), { passed: [] });
});
