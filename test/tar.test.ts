import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  createReadStream,
  existsSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { snapshotTree } from '../bench/tree-snapshot.ts';
import { extractTar, readTar, writeTar, type TarWriteEntry } from '../lib/tar/index.ts';

const IS_ROOT = process.getuid?.() === 0;
const scratch = mkdtempSync(join(tmpdir(), 'huplab-tar-'));
t.teardown(() => spawnSync('rm', ['-rf', scratch]));
let n = 0;
const fresh = (name: string) => {
  const d = join(scratch, `${name}-${n++}`);
  mkdirSync(d);
  return d;
};

function gnuTar(args: string[], cwd?: string): string {
  const r = spawnSync('tar', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tar ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const LONG_DIR = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(90)}`;
const LONG_NAME = `${'n'.repeat(120)}.bin`; // a single component > 100: no ustar split possible

/** A tree with every kind of member and every encoding corner GNU tar has to handle. */
function makeFixture(): string {
  const root = fresh('fixture');
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
    chmodSync(join(root, rel), mode);
  };
  w('empty', '');
  w('one', 'x');
  w('block-511', Buffer.alloc(511, 1));
  w('block-512', Buffer.alloc(512, 2));
  w('block-513', Buffer.alloc(513, 3));
  w('big.bin', randomBytes(3 * 1024 * 1024 + 17));
  w('bin/tool', '#!/bin/sh\necho hi\n', 0o4755);
  w('secret', 'shh', 0o600);
  w(`${LONG_DIR}/file.txt`, 'deep content');
  w(`${LONG_DIR}/${LONG_NAME}`, 'longest');
  w('grüße/ünïcödé.txt', 'utf8 name');
  mkdirSync(join(root, 'emptydir'));
  chmodSync(join(root, 'emptydir'), 0o750);
  symlinkSync('one', join(root, 'link-rel'));
  symlinkSync('/bin/busybox', join(root, 'link-abs'));
  symlinkSync(`${LONG_DIR}/${LONG_NAME}`, join(root, 'link-long'));
  symlinkSync('does/not/exist', join(root, 'link-dangling'));
  linkSync(join(root, 'one'), join(root, 'hard-one'));
  linkSync(join(root, `${LONG_DIR}/file.txt`), join(root, `${LONG_DIR}/hard-${'h'.repeat(100)}`));
  if (IS_ROOT) {
    lchownSync(join(root, 'secret'), 1234, 5678);
    lchownSync(join(root, 'link-rel'), 42, 43);
    lchownSync(join(root, 'emptydir'), 7, 8);
  }
  // Fixed times last (children change their directory's mtime); one with sub-second precision.
  const walk = (rel: string): string[] => {
    const out: string[] = [];
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      if (lstatSync(join(root, r)).isDirectory()) out.push(...walk(r));
    }
    return out;
  };
  const all = walk('');
  for (const r of all.reverse()) lutimesSync(join(root, r), 1_700_000_000, 1_700_000_000);
  utimesSync(join(root, 'one'), 1_700_000_000.5, 1_700_000_000.5);
  utimesSync(root, 1_700_000_000, 1_700_000_000);
  return root;
}

const snapshot = (root: string) => snapshotTree(root);

/** Our own tree walker for the writer tests: what a host-side packer would do. */
function* membersOf(root: string): Generator<TarWriteEntry> {
  const inodes = new Map<number, string>();
  const visit = function* (rel: string): Generator<TarWriteEntry> {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const base = {
      path: rel ? `./${rel}` : './',
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtimeMs / 1000,
      size: 0,
    };
    if (st.isDirectory()) {
      yield { ...base, type: 'directory' };
      for (const name of readdirSync(abs).sort()) yield* visit(rel ? `${rel}/${name}` : name);
    } else if (st.isSymbolicLink()) {
      yield { ...base, type: 'symlink', linkname: readlinkSync(abs) };
    } else if (inodes.has(st.ino)) {
      yield { ...base, type: 'hardlink', linkname: `./${inodes.get(st.ino)}` };
    } else {
      inodes.set(st.ino, rel);
      yield { ...base, type: 'file', size: st.size, body: createReadStream(abs) as AsyncIterable<Buffer> };
    }
  };
  yield* visit('');
}

const fixture = makeFixture();
const expected = snapshot(fixture);

for (const format of ['posix', 'gnu', 'ustar'] as const) {
  t.test(`GNU tar --format=${format} -> our extractor reproduces the tree`, async (t) => {
    const archive = join(fresh('archive'), 'a.tar');
    if (format === 'ustar') {
      // ustar cannot store names > 255 or link targets > 100: GNU tar refuses; use a subset.
      const sub = fresh('ustar-src');
      spawnSync('sh', [
        '-c',
        `tar -C '${fixture}' -cf - --exclude '${LONG_NAME}' --exclude link-long --exclude 'hard-h*' --exclude 'grüße' . | tar -C '${sub}' -xpf -`,
      ]);
      gnuTar(['--format=ustar', '-C', sub, '-cf', archive, '.']);
      const dest = fresh('dest');
      await extractTar(createReadStream(archive), dest);
      const got = snapshot(dest);
      t.strictSame(got, snapshot(sub));
      t.ok(got[`${LONG_DIR}/file.txt`], 'a 220-byte path stored with the ustar prefix field');
      return;
    }
    gnuTar([`--format=${format}`, '-C', fixture, '-cf', archive, '.']);
    const dest = fresh('dest');
    const seen: string[] = [];
    const r = await extractTar(createReadStream(archive), dest, { onEntry: (e) => seen.push(e.path) });
    // The GNU format stores whole seconds only.
    const want = structuredClone(expected);
    if (format === 'gnu') for (const node of Object.values(want)) node.mtimeMs = Math.floor(node.mtimeMs / 1000) * 1000;
    t.strictSame(snapshot(dest), want);
    t.ok(seen.includes(`${LONG_DIR}/${LONG_NAME}`), 'long path reported normalised');
    t.ok(seen.includes('.'), 'the root directory member is "."');
    t.equal(r.entries, seen.length);
  });
}

t.test('our writer -> GNU tar extracts the same tree, and tar --compare agrees', async (t) => {
  const archive = join(fresh('ours'), 'ours.tar');
  await writeFile(archive, writeTar(membersOf(fixture)));
  // --compare checks content, mode, owner, mtime, symlink targets and hard links against disk.
  const cmp = spawnSync('tar', ['--compare', '-f', archive, '-C', fixture], { encoding: 'utf8' });
  t.equal(cmp.status, 0, cmp.stdout + cmp.stderr);
  const dest = fresh('gnu-dest');
  gnuTar(['-xpf', archive, '-C', dest]);
  t.strictSame(snapshot(dest), expected);
  // GNU tar reads our pax records: the long path and the non-ASCII name are listed intact.
  const listing = gnuTar(['-tf', archive]);
  t.match(listing, `./${LONG_DIR}/${LONG_NAME}`);
  t.match(listing, './grüße/ünïcödé.txt');
});

t.test('our writer -> our reader round trip keeps every header field', async (t) => {
  const entries: TarWriteEntry[] = [
    {
      path: 'a',
      type: 'file',
      mode: 0o6755,
      uid: 3_000_000,
      gid: 9_999_999,
      mtime: 1.25,
      size: 3,
      body: Buffer.from('abc'),
      uname: 'u'.repeat(40),
      gname: 'g',
    },
    {
      path: `x/${'y'.repeat(300)}`,
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 8_589_934_592,
      size: 0,
      linkname: 'z'.repeat(200),
    },
    { path: 'd', type: 'directory', mode: 0o1777, uid: 0, gid: 0, mtime: 0, size: 0 },
  ];
  const got = [];
  for await (const e of readTar(writeTar(entries))) {
    const { body, ...h } = e;
    const parts: Buffer[] = [];
    for await (const c of body) parts.push(c);
    got.push({ ...h, content: Buffer.concat(parts).toString() });
  }
  t.match(got[0], {
    path: 'a',
    type: 'file',
    mode: 0o6755,
    uid: 3_000_000,
    gid: 9_999_999,
    mtime: 1.25,
    size: 3,
    content: 'abc',
    uname: 'u'.repeat(40),
  });
  t.match(got[1], { path: `x/${'y'.repeat(300)}`, type: 'symlink', linkname: 'z'.repeat(200), mtime: 8_589_934_592 });
  t.match(got[2], { path: 'd/', type: 'directory', mode: 0o1777 });
});

t.test('bodies left unread or half read are skipped', async (t) => {
  const archive = join(fresh('skip'), 's.tar');
  gnuTar(['--format=posix', '-C', fixture, '-cf', archive, '.']);
  const names: string[] = [];
  let i = 0;
  for await (const e of readTar(createReadStream(archive))) {
    names.push(e.path);
    if (e.type === 'file' && i++ % 2 === 0) {
      for await (const _ of e.body) break; // take one chunk, abandon the rest
    }
  }
  t.equal(names.length, gnuTar(['-tf', archive]).trim().split('\n').length);
});

async function refuses(t: Test, entries: TarWriteEntry[], code: string, outside?: string) {
  const dest = fresh('evil');
  await t.rejects(extractTar(writeTar(entries), dest), { code });
  if (outside) t.notOk(existsSync(outside), `${outside} was not written`);
}

const file = (path: string, data = 'pwned'): TarWriteEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  mtime: 0,
  size: data.length,
  body: Buffer.from(data),
});

t.test('members that would escape the target are refused', async (t) => {
  const outside = join(scratch, `outside-${Date.now()}`);
  mkdirSync(outside);
  await refuses(t, [file('../escape')], 'tar-unsafe-path', join(scratch, 'escape'));
  await refuses(t, [file('ok/../../escape2')], 'tar-unsafe-path', join(scratch, 'escape2'));
  await refuses(t, [file(join(outside, 'abs'))], 'tar-unsafe-path', join(outside, 'abs'));
  // A symlink member pointing outside, then a member written "through" it.
  await refuses(
    t,
    [
      { path: 'sneaky', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: outside },
      file('sneaky/planted'),
    ],
    'tar-unsafe-path',
    join(outside, 'planted'),
  );
  await refuses(
    t,
    [{ path: 'hl', type: 'hardlink', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0, linkname: '../../etc/passwd' }],
    'tar-unsafe-path',
  );
  // A file member replaces a symlink in place instead of writing through it.
  const dest = fresh('replace');
  symlinkSync(join(outside, 'victim'), join(dest, 'name'));
  await extractTar(writeTar([file('name', 'safe')]), dest);
  t.notOk(existsSync(join(outside, 'victim')));
  t.equal(readFileSync(join(dest, 'name'), 'utf8'), 'safe');
});

t.test('damaged archives fail with a clear code', async (t) => {
  const chunks: Buffer[] = [];
  for await (const c of writeTar([file('a', 'x'.repeat(2000))])) chunks.push(c);
  const good = Buffer.concat(chunks);
  const truncated = good.subarray(0, 1024);
  await t.rejects(extractTar([truncated], fresh('trunc')), { code: 'tar-truncated' });
  const noEnd = good.subarray(0, 512 + 2048);
  await t.rejects(extractTar([noEnd], fresh('noend')), { code: 'tar-truncated' });
  const flipped = Buffer.from(good);
  flipped[3] = flipped[3]! ^ 0xff;
  await t.rejects(extractTar([flipped], fresh('flip')), { code: 'tar-corrupt' });
  const fifo = fresh('fifo-src');
  spawnSync('mkfifo', [join(fifo, 'p')]);
  const fifoTar = join(fifo, 'f.tar');
  gnuTar(['-C', fifo, '-cf', fifoTar, 'p']);
  await t.rejects(extractTar(createReadStream(fifoTar), fresh('fifo')), { code: 'tar-unsupported', message: /FIFO/ });
});
