/**
 * The resinOS 1.x fingerprints of the read-write root and the boot partition: made at build time
 * (`md5sum` lines, `<md5>  /abs/path`), checked by the 1.x update before anything is written: a
 * listed file whose md5 differs refuses the update, naming it; new or missing files pass (the
 * field's resinhup, app/modules/fingerprint.py). Symlinks and other mounts are not regular files
 * of the partition and are skipped. One definition for the builder and the updater.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';

export const FINGERPRINT_FILES = { root: '/resin-root.fingerprint', boot: '/resin-boot.fingerprint' } as const;

/**
 * Root paths that change on a running device and are not checked (the field's resinhup.conf),
 * as prefixes of absolute paths; mount points of other partitions are skipped as well.
 */
export const IGNORED_ROOT_PATHS = [
  '/resin-root.fingerprint',
  '/var/lib/connman',
  '/home/root',
  '/var/log',
  '/etc/hostname',
  '/etc/supervisor.conf',
  '/etc/machine-id',
  '/var/lib/systemd/random-seed',
  '/var/lib/urandom',
  '/mnt/',
  '/proc/',
  '/sys/',
  '/dev/',
  '/run/',
  '/tmp/',
  '/var/volatile/',
] as const;

/**
 * Boot files a device keeps as its own: the field's list (bootloader configuration a user may
 * edit), and what the device itself rewrites (config.json, the bootloader's env and counter
 * files). Neither fingerprinted nor replaced by a 1.x update.
 */
export const FIELD_BOOT_KEPT = [
  '/cmdline.txt',
  '/config.txt',
  '/splash/resin-logo.png',
  '/uEnv.txt',
  '/EFI/BOOT/grub.cfg',
  '/config.json',
  '/EFI/BOOT/grubenv',
  '/resinOS_uEnv.txt',
  '/bootcount.env',
] as const;

/** Boot files not checked: those, and the fingerprint file itself. */
export const IGNORED_BOOT_FILES = ['/resin-boot.fingerprint', ...FIELD_BOOT_KEPT] as const;

export type FingerprintKind = keyof typeof FINGERPRINT_FILES;

export function isIgnored(kind: FingerprintKind, absPath: string): boolean {
  if (kind === 'boot') return (IGNORED_BOOT_FILES as readonly string[]).includes(absPath);
  return IGNORED_ROOT_PATHS.some((p) =>
    p.endsWith('/') ? absPath.startsWith(p) : absPath === p || absPath.startsWith(`${p}/`),
  );
}

/** md5 of every regular file under `dir` (named as absolute paths from it), ignored ones left out, sorted. */
export function fingerprintTree(dir: string, kind: FingerprintKind): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const abs = `${rel}/${name}`;
      if (isIgnored(kind, abs) || isIgnored(kind, `${abs}/`)) continue;
      const st = lstatSync(join(dir, abs));
      if (st.isDirectory()) walk(abs);
      else if (st.isFile())
        out.set(
          abs,
          createHash('md5')
            .update(readFileSync(join(dir, abs)))
            .digest('hex'),
        );
    }
  };
  walk('');
  return out;
}

export function formatFingerprint(sums: Map<string, string>): string {
  return [...sums].map(([path, md5]) => `${md5}  ${path}\n`).join('');
}

/** Parses `md5sum` lines; a line that is not one is an error naming it. */
export function parseFingerprint(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{32}) [ *](\/.*)$/.exec(line);
    if (!m) throw new Error(`not a fingerprint line: ${JSON.stringify(line.slice(0, 80))}`);
    out.set(m[2]!, m[1]!);
  }
  return out;
}

/**
 * The files of `expected` whose md5 in `actual` differs (the update is refused, naming them);
 * files missing from `actual` or new in it pass, as in the field.
 */
export function modifiedFiles(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const modified: string[] = [];
  for (const [path, md5] of expected) {
    const now = actual.get(path);
    if (now !== undefined && now !== md5) modified.push(path);
  }
  return modified.sort();
}
