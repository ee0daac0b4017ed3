import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atomicWriteFile, repairInterrupted, type FatFs } from '../lib/fat/atomic-write.ts';
import { crashEverywhere, leftovers, NEW, OLD, PowerCut, type FatDir } from './helpers/fat-crash.ts';

// The atomic write run against a real FAT16 filesystem (as resin-boot), with no mount: every
// operation of the algorithm goes through mtools. If the algorithm needed anything FAT lacks
// (hard links, permission bits, case-sensitive names), it could not even be expressed here.
// A few hundred mtools processes, one after the other: about a minute alone, over the default
// two minutes when the host is busy with guests and builds beside it.
t.setTimeout(300_000);
const scratch = mkdtempSync(join(tmpdir(), 'huplab-fat-mtools-'));
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
let n = 0;
const images: string[] = [];

function run(cmd: string, args: string[], allowFail = false): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, { env, maxBuffer: 1 << 28 });
  const out = { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString() };
  if (out.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${out.stderr}`);
  return out;
}

/** FatFs over an image file: paths are absolute inside the FAT filesystem. */
function mtoolsFs(img: string): FatFs {
  const m = (p: string) => `::${p}`;
  const exists = (p: string) => run('mdir', ['-i', img, '-a', '-b', m(p)], true).status === 0;
  const put = (p: string, data: Buffer) => {
    const local = join(scratch, `put-${n++}`);
    writeFileSync(local, data);
    run('mcopy', ['-o', '-i', img, local, m(p)]);
    rmSync(local);
  };
  return {
    async writeFile(p, chunks) {
      const parts: Buffer[] = [];
      try {
        for await (const c of chunks) parts.push(Buffer.from(c));
      } catch (err) {
        // Power cut while writing: what was written so far is on the disk.
        put(p, Buffer.concat(parts));
        throw err;
      }
      put(p, Buffer.concat(parts));
    },
    async *read(p) {
      yield run('mcopy', ['-n', '-i', img, m(p), '-']).stdout;
    },
    async rename(from, to) {
      run('mren', ['-D', 'o', '-i', img, m(from), m(to)]);
    },
    async unlink(p) {
      if (exists(p)) run('mdel', ['-i', img, m(p)]);
    },
    async list(dir) {
      const r = run('mdir', ['-i', img, '-a', '-b', m(dir)], true);
      const prefix = m(dir.endsWith('/') ? dir : `${dir}/`);
      return r.stdout
        .toString()
        .split('\n')
        .filter((l) => l.startsWith(prefix) && !l.endsWith('/'))
        .map((l) => l.slice(prefix.length));
    },
    async stat(p) {
      if (!exists(p)) return undefined;
      return { size: run('mcopy', ['-n', '-i', img, m(p), '-']).stdout.length, mtimeMs: 0 };
    },
    async syncDir() {
      /* every mtools command ends with the image written */
    },
  };
}

function freshImage(): string {
  const img = join(scratch, `boot-${n++}.img`);
  run('truncate', ['-s', '32M', img]);
  run('mkfs.vfat', ['-F', '16', '-n', 'RESIN-BOOT', img]);
  run('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT']);
  images.push(img);
  return img;
}

function fatDir(img: string, dir: string): FatDir {
  const fs = mtoolsFs(img);
  const path = (name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
  return {
    fs,
    dir,
    read: async (name) =>
      (await fs.stat(path(name))) ? run('mcopy', ['-n', '-i', img, `::${path(name)}`, '-']).stdout : undefined,
    list: () => fs.list(dir),
    seed: (name, data) =>
      fs.writeFile(
        path(name),
        (async function* () {
          yield data;
        })(),
      ),
    remove: (name) => fs.unlink(path(name)),
  };
}

t.test('power cuts at every step, in a subdirectory of a FAT16 image', async (t) => {
  await crashEverywhere(t, async () => fatDir(freshImage(), '/EFI/BOOT'), scratch, 'grubenv');
});

t.test('power cuts at every step, in the FAT16 root directory (fixed-size, as config.json)', async (t) => {
  await crashEverywhere(t, async () => fatDir(freshImage(), '/'), scratch, 'config.json');
});

t.test('names differing only in case are one file on FAT: one entry at the end', async (t) => {
  for (const cutAt of ['checksum-written', 'tmp-written', 'renamed', undefined] as const) {
    const img = freshImage();
    const d = fatDir(img, '/EFI/BOOT');
    await d.seed('GRUBENV', OLD);
    await atomicWriteFile('/EFI/BOOT/grubenv', NEW, {
      fs: d.fs,
      _hooks: {
        afterStep: (s) => {
          if (s === cutAt) throw new PowerCut(s);
        },
      },
    }).catch((err) => {
      if (!(err instanceof PowerCut)) throw err;
    });
    await repairInterrupted('/EFI/BOOT', { fs: d.fs });
    const files = await d.list();
    t.strictSame(
      files.filter((f) => f.toLowerCase() === 'grubenv'),
      [files.find((f) => f.toLowerCase() === 'grubenv')],
      `cut after ${cutAt ?? 'nothing'}: one entry`,
    );
    t.ok((await d.read('grubenv'))?.equals(NEW), `cut after ${cutAt ?? 'nothing'}: new content`);
    t.strictSame(leftovers(files, 'grubenv'), []);
  }
});

t.test('the filesystems are consistent afterwards (fsck.vfat -n)', async (t) => {
  for (const img of images) {
    const r = run('fsck.vfat', ['-n', img], true);
    t.equal(r.status, 0, `${img}: ${r.stdout.toString().trim()}`);
  }
  t.ok(readFileSync(images[0]!).length > 0);
});
