import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** Two small root filesystems (releases 1 and 2) and their layers, for the delta tests. */
const IS_ROOT = process.getuid?.() === 0;

export const LONG = `usr/share/${'long-directory-name-'.repeat(4)}/${'x'.repeat(40)}`; // > 100 chars

/** A small root filesystem; `v` picks the release, mtimes differ per release as in real builds. */
export function makeRoot(
  fresh: (name: string) => string,
  v: 1 | 2,
  extra?: (w: (rel: string, data: string | Buffer, mode?: number) => void) => void,
): string {
  const root = fresh(`root${v}`);
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
    chmodSync(join(root, rel), mode);
  };
  const big = Buffer.alloc(256 * 1024, 'big unchanged content ');
  w('etc/os-release', `VERSION=${v}\n`);
  w('etc/motd', 'welcome\n');
  w('etc/empty', '');
  w('bin/tool', '#!/bin/sh\necho tool\n', v === 1 ? 0o755 : 0o700); // mode change only
  w('usr/lib/libfoo.so.1', 'libfoo one');
  w('usr/bin/a', 'shared by hard link');
  linkSync(join(root, 'usr/bin/a'), join(root, 'usr/bin/b'));
  w(`${LONG}/unchanged.txt`, 'deep and unchanged');
  w(`${LONG}/changed.txt`, `deep version ${v}`);
  w(v === 1 ? 'opt/old-name.bin' : 'opt/new-name.bin', big); // moved, same content
  if (v === 1) {
    w('etc/old.conf', 'removed in v2');
    symlinkSync('libfoo.so.1', join(root, 'usr/lib/libfoo.so'));
  } else {
    w('etc/new.conf', 'added in v2');
    w('usr/lib/libfoo.so.2', 'libfoo two');
    w('usr/share/dup-1', 'same new content twice');
    w('usr/share/dup-2', 'same new content twice');
    symlinkSync('libfoo.so.2', join(root, 'usr/lib/libfoo.so')); // symlink target change
    w(`${LONG}/${'added-'.repeat(20)}.txt`, 'new with a long name');
    symlinkSync(`${LONG}/unchanged.txt`, join(root, 'usr/share/long-link'));
  }
  extra?.(w);
  chmodSync(join(root, 'opt'), v === 1 ? 0o755 : 0o711);
  if (IS_ROOT) lchownSync(join(root, 'etc/motd'), v === 1 ? 0 : 1000, v === 1 ? 0 : 1000);
  const all: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      all.push(r);
      if (lstatSync(join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  const epoch = v === 1 ? 1_757_808_000 : 1_761_436_800;
  for (const r of all.reverse()) lutimesSync(join(root, r), epoch, epoch);
  lutimesSync(root, epoch, epoch);
  return root;
}

/** A layer the way images/builder/hostapp.ts makes one (owners kept: they are under test here). */
export function layerOf(fresh: (name: string) => string, root: string): string {
  const out = join(fresh('layer'), 'layer.tar.gz');
  const r = spawnSync('sh', [
    '-c',
    `tar --sort=name --numeric-owner --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime --format=posix -C '${root}' -cf - . | gzip -n > '${out}'`,
  ]);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return out;
}
