import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { cp } from 'node:fs/promises';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  closeSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkDigest,
  checkEntry,
  checkFile,
  contentDigest,
  ENTRY_RECORD,
  FILE_RECORD_SUFFIX,
  forgetDigests,
  recordEntry,
  recordFile,
  reuse,
} from '../images/builder/cache-verify.ts';
import type { Narrator } from '../lib/narrator.ts';

const MiB = 1 << 20;

/** A fresh directory, removed with everything beside it when the tests end. */
const made: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'huplab-verify-'));
  made.push(dir);
  return dir;
}
t.teardown(() => {
  for (const dir of made)
    for (const d of [dir, `${dir}.pristine`, `${dir}.good`, `${dir}.aside`])
      rmSync(d, { recursive: true, force: true });
});

/** Writes `bytes` at `offset` into an existing file, without changing its length. */
function writeAt(file: string, offset: number, bytes: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Flips `n` bytes (each XOR 0xff) at `offset`. */
function flip(file: string, offset: number, n = 64): void {
  const fd = openSync(file, 'r+');
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, offset);
    for (let i = 0; i < n; i++) buf[i] = buf[i]! ^ 0xff;
    writeSync(fd, buf, 0, n, offset);
  } finally {
    closeSync(fd);
  }
}

/** A small sparse "disk": 24 MiB long, data at 0, 5 MiB and 20 MiB, holes between. */
function sparseDisk(path: string): void {
  writeFileSync(path, '');
  truncateSync(path, 24 * MiB);
  writeAt(path, 0, randomBytes(3 * 4096));
  writeAt(path, 5 * MiB + 100, randomBytes(70_000));
  writeAt(path, 20 * MiB, randomBytes(MiB));
}

/** An entry like an image's or a release's: files, a sparse disk, a directory, a link. */
function fixture(): string {
  const dir = scratch();
  writeFileSync(join(dir, 'image.json'), JSON.stringify({ sizeBytes: 24 * MiB }));
  sparseDisk(join(dir, 'disk.img'));
  mkdirSync(join(dir, 'rootfs', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'rootfs', 'bin', 'busybox'), randomBytes(200_000));
  chmodSync(join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  symlinkSync('busybox', join(dir, 'rootfs', 'bin', 'sh'));
  writeFileSync(join(dir, 'rootfs', 'empty'), '');
  // As a root filesystem links /var/tmp to /tmp: a link to a directory outside the entry.
  symlinkSync(scratch(), join(dir, 'rootfs', 'tmp'));
  return dir;
}

const damages: Array<[string, (dir: string) => void, RegExp]> = [
  [
    'a truncated disk.img',
    (d) => truncateSync(join(d, 'disk.img'), 12 * MiB),
    /disk\.img is 12582912 bytes, recorded 25165824/,
  ],
  [
    '64 flipped bytes in its data',
    (d) => flip(join(d, 'disk.img'), 20 * MiB + 4321),
    /disk\.img differs from its record/,
  ],
  [
    '64 bytes written into a hole',
    (d) => writeAt(join(d, 'disk.img'), 10 * MiB, Buffer.alloc(64, 0xa5)),
    /disk\.img differs/,
  ],
  ['a deleted disk.img', (d) => unlinkSync(join(d, 'disk.img')), /disk\.img is missing/],
  ['a deleted image.json', (d) => unlinkSync(join(d, 'image.json')), /image\.json is missing/],
  ['a deleted record', (d) => unlinkSync(join(d, ENTRY_RECORD)), /its record is missing/],
  ['a record cut short', (d) => truncateSync(join(d, ENTRY_RECORD), 10), /its record is unreadable/],
  [
    'a file added',
    (d) => writeFileSync(join(d, 'rootfs', 'bin', 'extra'), 'x'),
    /rootfs\/bin\/extra is not in its record/,
  ],
  [
    'a lost execute bit',
    (d) => chmodSync(join(d, 'rootfs', 'bin', 'busybox'), 0o644),
    /busybox has mode 0644, recorded 0755/,
  ],
  [
    'a link pointing elsewhere',
    (d) => {
      unlinkSync(join(d, 'rootfs', 'bin', 'sh'));
      symlinkSync('/bin/dash', join(d, 'rootfs', 'bin', 'sh'));
    },
    /rootfs\/bin\/sh is not its link/,
  ],
  ['a deleted directory', (d) => rmSync(join(d, 'rootfs', 'bin'), { recursive: true }), /rootfs\/bin is missing/],
];

t.test('an intact entry passes its check; each kind of damage is found and named', async (t) => {
  const dir = fixture();
  await recordEntry(dir);
  t.equal(await checkEntry(dir), undefined, 'intact');
  writeFileSync(join(dir, 'rootfs', 'tmp', 'elsewhere'), 'x');
  t.equal(await checkEntry(dir), undefined, 'a link to a directory is recorded as a link, never followed');
  writeFileSync(join(dir, 'disk.img.simg.tmp-4242'), 'being written by another process');
  t.equal(await checkEntry(dir), undefined, "another process's work in progress beside the files is not damage");
  unlinkSync(join(dir, 'disk.img.simg.tmp-4242'));
  const pristine = `${dir}.pristine`;
  await cp(dir, pristine, { recursive: true, verbatimSymlinks: true });
  for (const [what, damage, why] of damages) {
    rmSync(dir, { recursive: true, force: true });
    await cp(pristine, dir, { recursive: true, verbatimSymlinks: true });
    t.equal(await checkEntry(dir), undefined, `the copy is intact before ${what}`);
    damage(dir);
    t.match(await checkEntry(dir), why, what);
  }
});

t.test("a sparse file's digest covers its bytes, not its layout, and skips the holes", async (t) => {
  const dir = scratch();
  const sparse = join(dir, 'sparse.img');
  sparseDisk(sparse);
  t.ok(statSync(sparse).blocks * 512 < 4 * MiB, 'the fixture really is sparse');
  const dense = join(dir, 'dense.img');
  writeFileSync(dense, readFileSync(sparse)); // every block allocated, zeros written out
  t.ok(statSync(dense).blocks * 512 >= 24 * MiB, 'the copy is not');
  t.equal(await contentDigest(sparse), await contentDigest(dense), 'same bytes, same digest');
  const longer = join(dir, 'longer.img');
  copyFileSync(sparse, longer);
  truncateSync(longer, 25 * MiB);
  t.not(await contentDigest(longer), await contentDigest(sparse), 'trailing zeros change the length, and the digest');
});

t.test('a single-file entry is checked against the record beside it', async (t) => {
  const dir = scratch();
  const file = join(dir, 'a.delta');
  const make = async () => {
    writeFileSync(file, randomBytes(300_000));
    await recordFile(file);
  };
  await make();
  t.equal(await checkFile(file), undefined, 'intact');
  truncateSync(file, 1000);
  t.match(await checkFile(file), /a\.delta is 1000 bytes, recorded 300000/, 'truncated');
  await make();
  flip(file, 150_000);
  t.match(await checkFile(file), /a\.delta differs from its record/, '64 flipped bytes');
  await make();
  unlinkSync(file);
  t.match(await checkFile(file), /a\.delta is missing/, 'deleted');
  await make();
  unlinkSync(`${file}${FILE_RECORD_SUFFIX}`);
  t.match(await checkFile(file), /its record is missing/, 'no record');
});

t.test('a file named by its digest (a .deb, an npm tarball) is checked against it', async (t) => {
  const dir = scratch();
  const file = join(dir, 'x.deb');
  const bytes = randomBytes(100_000);
  writeFileSync(file, bytes);
  const hex = createHash('sha256').update(bytes).digest('hex');
  const b64 = createHash('sha512').update(bytes).digest('base64');
  t.equal(await checkDigest(file, 'sha256', hex), undefined, 'sha256 in hex, as the archive index gives it');
  t.equal(await checkDigest(file, 'sha512', b64, 'base64'), undefined, 'sha512 in base64, as npm integrity gives it');
  flip(file, 5000);
  t.match(await checkDigest(file, 'sha256', hex), /its sha256 is [0-9a-f]{16}…, expected/, 'flipped bytes');
  unlinkSync(file);
  t.match(await checkDigest(file, 'sha256', hex), /x\.deb is unreadable/, 'deleted');
});

t.test('reuse(): an intact entry is used silently, a damaged one is removed with one notice', async (t) => {
  const lines: string[] = [];
  const narrator: Narrator = { step: (_t, fn) => fn(), info: (m) => lines.push(m) };
  const dir = fixture();
  await recordEntry(dir);
  const check = () => checkEntry(dir);
  t.equal(await reuse({ what: 'image test', path: dir, check, narrator }), true, 'intact: reused');
  t.same(lines, [], 'no notice for an intact entry');

  truncateSync(join(dir, 'disk.img'), 100);
  t.equal(await reuse({ what: 'image test', path: dir, check, narrator }), false, 'damaged: not reused');
  t.equal(lines.length, 1, 'one notice');
  t.match(
    lines[0],
    /^cache: image test \(.*huplab-verify-.*\) is damaged \(disk\.img is 100 bytes, recorded 25165824\); rebuilding$/,
  );
  t.notOk(existsSync(dir), 'the damaged entry is gone, so the caller rebuilds it in its place');
  t.same(
    readdirSync(tmpdir()).filter((n) => n.startsWith('.damaged-')),
    [],
    'nothing left aside',
  );
  t.equal(await reuse({ what: 'image test', path: dir, check, narrator }), false, 'absent: a plain miss');
  t.equal(lines.length, 1, 'and no notice');

  const file = join(scratch(), 'x.delta');
  writeFileSync(`${file}${FILE_RECORD_SUFFIX}`, '{}');
  t.equal(
    await reuse({
      what: 'delta',
      path: file,
      also: [`${file}${FILE_RECORD_SUFFIX}`],
      check: () => checkFile(file),
      narrator,
    }),
    false,
  );
  t.match(
    lines[1],
    /^cache: delta \(.*x\.delta\) is damaged \(x\.delta is missing\); rebuilding$/,
    'a record without its file',
  );
  t.notOk(existsSync(`${file}${FILE_RECORD_SUFFIX}`), 'the stray record goes too');
});

t.test('a file changed after it was hashed is read again in the same process', async (t) => {
  const dir = scratch();
  const file = join(dir, 'old.img');
  writeFileSync(file, randomBytes(200_000));
  await recordFile(file);
  // Last changed more than a second before it is read, so its digest is remembered.
  await new Promise((r) => setTimeout(r, 1100));
  t.equal(await checkFile(file), undefined, 'intact');
  t.equal(await checkFile(file), undefined, 'intact, from what this process remembers');
  const { atime, mtime } = statSync(file);
  flip(file, 100_000);
  utimesSync(file, atime, mtime); // as `touch -r` would: only the ctime still tells
  t.match(await checkFile(file), /old\.img differs from its record/, 'the change is seen: its ctime moved');
  forgetDigests();
  t.match(await checkFile(file), /old\.img differs from its record/, 'and read afresh');
});

t.test('reuse(): a good entry another process published meanwhile is kept, and checked', async (t) => {
  const lines: string[] = [];
  const narrator: Narrator = { step: (_t, fn) => fn(), info: (m) => lines.push(m) };
  const dir = fixture();
  await recordEntry(dir);
  const good = `${dir}.good`;
  await cp(dir, good, { recursive: true, verbatimSymlinks: true });
  let calls = 0;
  const check = async () => {
    if (calls++ > 0) return checkEntry(dir);
    // This process finds damage; before it removes the entry, another one has moved it aside
    // and published its rebuild (made under a temporary name, then renamed into place).
    renameSync(dir, `${dir}.aside`);
    await cp(good, `${dir}.tmp`, { recursive: true, verbatimSymlinks: true });
    renameSync(`${dir}.tmp`, dir);
    return 'disk.img is 100 bytes, recorded 25165824';
  };
  t.equal(await reuse({ what: 'image test', path: dir, check, narrator }), true, 'the new entry is used');
  t.equal(calls, 2, 'after its own check');
  t.ok(existsSync(join(dir, 'disk.img')), 'and not removed');
});
