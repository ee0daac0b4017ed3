import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  atomicCopyFile,
  atomicWriteFile,
  checksumFileName,
  nodeFatFs,
  parseChecksumFileName,
  repairInterrupted,
  tmpFileName,
} from '../lib/fat/atomic-write.ts';
import { crashEverywhere, NEW, OLD, PowerCut, type FatDir } from './helpers/fat-crash.ts';

// The algorithm on an ordinary directory: the same operations a mounted FAT partition offers.
// test/fat-mtools.test.ts runs it against a real FAT image.
const scratch = mkdtempSync(join(tmpdir(), 'huplab-fat-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = join(scratch, `d${n++}`);
  mkdirSync(d);
  return d;
};

async function fresh(): Promise<FatDir> {
  const dir = freshDir();
  return {
    fs: nodeFatFs,
    dir,
    read: async (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name)) : undefined),
    list: async () => readdirSync(dir),
    seed: async (name, data) => writeFileSync(join(dir, name), data),
    remove: async (name) => rmSync(join(dir, name), { force: true }),
  };
}

t.test('writes, overwrites and copies, leaving nothing behind', async (t) => {
  const dir = freshDir();
  await atomicWriteFile(join(dir, 'config.json'), '{"a":1}');
  t.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"a":1}');
  await atomicWriteFile(join(dir, 'config.json'), Buffer.from('{"a":2}'));
  t.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"a":2}');
  const big = randomBytes(5 * 1024 * 1024 + 3);
  writeFileSync(join(scratch, 'kernel'), big);
  await atomicCopyFile(join(scratch, 'kernel'), join(dir, 'kernel8.img'));
  t.ok(readFileSync(join(dir, 'kernel8.img')).equals(big));
  await atomicWriteFile(join(dir, 'empty'), '');
  t.equal(readFileSync(join(dir, 'empty')).length, 0);
  t.strictSame(readdirSync(dir).sort(), ['config.json', 'empty', 'kernel8.img']);
});

t.test('a power cut at any step leaves the old or the new content, never a mix or nothing', async (t) => {
  await crashEverywhere(t, fresh, scratch);
});

t.test('an interrupted write is not undone by a later repair after a newer write', async (t) => {
  const dir = freshDir();
  writeFileSync(join(dir, 'grubenv'), OLD);
  const cutAfterJournal = {
    afterStep: (s: string) => {
      if (s === 'checksum-written') throw new PowerCut(s);
    },
  };
  await t.rejects(atomicWriteFile(join(dir, 'grubenv'), NEW, { _hooks: cutAfterJournal }));
  // The next write repairs first (installing NEW), then writes its own content.
  await atomicWriteFile(join(dir, 'grubenv'), 'newest');
  await repairInterrupted(dir);
  t.equal(readFileSync(join(dir, 'grubenv'), 'utf8'), 'newest');
  t.strictSame(readdirSync(dir), ['grubenv']);
});

// Regression (found by the power-cut campaign, bootloader-switch@50%): the env switch was cut
// after its journal was durable; GRUB booted the old root with the env in place; the next boot's
// repair then finished the switch behind the running OS's back.
t.test(
  'the bootloader env: an interrupted write is dropped when the env in place is whole, finished when it is missing',
  async (t) => {
    for (const cutAt of ['checksum-written', 'tmp-partial', 'tmp-written'] as const) {
      const dir = freshDir();
      writeFileSync(join(dir, 'grubenv'), OLD);
      await t.rejects(
        atomicWriteFile(join(dir, 'grubenv'), NEW, {
          _hooks: {
            afterStep: (s: string) => {
              if (s === cutAt) throw new PowerCut(s);
            },
          },
        }),
      );
      const r = await repairInterrupted(dir, { keepInPlace: ['GRUBENV'] });
      t.ok(readFileSync(join(dir, 'grubenv')).equals(OLD), `cut at ${cutAt}: the env the bootloader used stays`);
      t.strictSame(r.completed, [], `cut at ${cutAt}: nothing finished`);
      t.strictSame(readdirSync(dir), ['grubenv'], `cut at ${cutAt}: the journal and .tmp are gone`);
    }
    // Without keepInPlace the same leftovers are finished (every other boot file).
    const other = freshDir();
    writeFileSync(join(other, 'grub.cfg'), OLD);
    await t.rejects(
      atomicWriteFile(join(other, 'grub.cfg'), NEW, {
        _hooks: {
          afterStep: (s: string) => {
            if (s === 'checksum-written') throw new PowerCut(s);
          },
        },
      }),
    );
    t.strictSame((await repairInterrupted(other, { keepInPlace: ['grubenv'] })).completed, ['grub.cfg']);
    t.ok(readFileSync(join(other, 'grub.cfg')).equals(NEW));
    // A missing env cannot have decided anything: the journal is all there is, so it is finished.
    const gone = freshDir();
    const sha = (await import('node:crypto')).createHash('sha256').update(NEW).digest('hex');
    writeFileSync(join(gone, checksumFileName('grubenv', sha)), NEW);
    t.strictSame((await repairInterrupted(gone, { keepInPlace: ['grubenv'] })).completed, ['grubenv']);
    t.ok(readFileSync(join(gone, 'grubenv')).equals(NEW));
  },
);

t.test('repair: damaged journals are dropped, stale .tmp removed, other files untouched', async (t) => {
  const dir = freshDir();
  writeFileSync(join(dir, 'grubenv'), OLD);
  writeFileSync(join(dir, 'unrelated.tmp'), 'not ours');
  writeFileSync(join(dir, '.notes.txt'), 'not ours either');
  // A checksum file cut short by the power (its data never reached the disk).
  const sha = (await import('node:crypto')).createHash('sha256').update(NEW).digest('hex');
  writeFileSync(join(dir, checksumFileName('grubenv', sha)), NEW.subarray(0, 100));
  writeFileSync(join(dir, tmpFileName('grubenv')), NEW.subarray(0, 50));
  const r = await repairInterrupted(dir);
  t.strictSame(r.completed, []);
  t.strictSame(r.removed.sort(), [checksumFileName('grubenv', sha), 'grubenv.tmp'].sort());
  t.ok(readFileSync(join(dir, 'grubenv')).equals(OLD));
  t.strictSame(readdirSync(dir).sort(), ['.notes.txt', 'grubenv', 'unrelated.tmp']);
  // A complete one whose target already has the content: only the journal goes.
  writeFileSync(join(dir, checksumFileName('grubenv', sha)), NEW);
  writeFileSync(join(dir, 'grubenv'), NEW);
  t.strictSame(await repairInterrupted(dir), { completed: [], removed: [checksumFileName('grubenv', sha)] });
});

t.test('names: parse back, never collide without case, refuse our own temporaries', async (t) => {
  const seen = new Map<string, string>();
  const names = [
    'grubenv',
    'config.json',
    'CONFIG.TXT',
    'a.b.c',
    '.hidden',
    'x.0123456789abcdef',
    'résumé.txt',
    'bootcount.env',
    'resinOS_uEnv.txt',
  ];
  for (const name of names) {
    t.equal(tmpFileName(name), `${name}.tmp`);
    for (let i = 0; i < 50; i++) {
      const sha = (await import('node:crypto')).createHash('sha256').update(`${name}${i}`).digest('hex');
      const file = checksumFileName(name, sha);
      t.strictSame(parseChecksumFileName(file), { name, prefix: sha.slice(0, 16) });
      t.ok(file.length <= 255, 'fits a VFAT long name');
      // Case-insensitive uniqueness over every checksum file, tmp file and target name.
      for (const f of [file, `${name}.tmp`, name]) {
        const key = f.toLowerCase();
        const owner = `${name}:${f === file ? sha : f}`;
        if (f !== file && seen.get(key)?.startsWith(`${name}:`)) continue; // the same tmp/target again
        t.notOk(seen.has(key) && seen.get(key) !== owner, `${f} collides with ${seen.get(key)}`);
        seen.set(key, owner);
      }
    }
  }
  const dir = freshDir();
  await t.rejects(atomicWriteFile(join(dir, 'x.tmp'), 'a'), { code: 'fat-name-invalid' });
  await t.rejects(atomicWriteFile(join(dir, '.x.0123456789abcdef.new'), 'a'), { code: 'fat-name-invalid' });
  await t.rejects(atomicWriteFile(join(dir, 'n'.repeat(240)), 'a'), { code: 'fat-name-invalid' });
});

t.test('a source that changes during the copy is refused and cleaned up', async (t) => {
  const dir = freshDir();
  const src = join(scratch, 'changing');
  // Larger than one read, so that the part read after the change differs.
  writeFileSync(src, Buffer.alloc(300_000, 'a'));
  writeFileSync(join(dir, 'target'), 'before');
  const flip = {
    afterStep: (s: string) => {
      if (s === 'checksum-partial') writeFileSync(src, Buffer.alloc(300_000, 'b'));
    },
  };
  await t.rejects(atomicCopyFile(src, join(dir, 'target'), { _hooks: flip }), { code: 'fat-source-changed' });
  t.equal(readFileSync(join(dir, 'target'), 'utf8'), 'before');
  t.strictSame(readdirSync(dir), ['target']);
});
