/**
 * What makes a development image and a production image differ, in one place: the serial
 * console's login, root's password and the SSH server's password policy. /etc/os-release says
 * which variant it is (rootfs.ts, from lib/contract/variant.ts). As balenaOS builds them:
 *
 * | variant     | serial console                       | root password | SSH (dropbear)                          |
 * | ----------- | ------------------------------------ | ------------- | --------------------------------------- |
 * | development | getty, root logs in without password | empty         | keys of os.sshKeys, or an empty password |
 * | production  | no getty: output only, no login      | none (`*`)    | keys of os.sshKeys only                  |
 */
import type { Variant } from '../../lib/contract/variant.ts';

export interface VariantFiles {
  /** The inittab line for the serial console (busybox init). */
  consoleLine: (console: string, baud: number) => string;
  /** root's /etc/shadow line. */
  rootShadow: string;
  /** dropbear's authentication options, read by /etc/rc.d/S30dropbear from /etc/default/dropbear. */
  dropbearArgs: string;
}

export const VARIANT_FILES: Record<Variant, VariantFiles> = {
  development: {
    consoleLine: (console, baud) => `${console}::respawn:/sbin/getty -L ${baud} ${console} vt100`,
    rootShadow: 'root::0:0:99999:7:::',
    // -B: root's empty password is accepted, as on a balenaOS development image.
    dropbearArgs: '-B',
  },
  production: {
    // Nothing reads the serial console: the kernel and the services still print to it.
    consoleLine: () => '# production: no login on the serial console',
    // `*` matches no password: root logs in only with a key.
    rootShadow: 'root:*:0:0:99999:7:::',
    // -s: no password logins at all; -g: none for root either (belt and braces).
    dropbearArgs: '-s -g',
  },
};

/** /etc/default/dropbear of a variant. */
export function dropbearDefaults(variant: Variant): string {
  return `# Written by the image builder for the ${variant} variant (images/builder/variant.ts).\nDROPBEAR_AUTH_ARGS="${VARIANT_FILES[variant].dropbearArgs}"\n`;
}

/** /etc/shadow with root's line replaced by the variant's. */
export function shadowFor(variant: Variant, shadow: string): string {
  const lines = shadow.split('\n').filter((l) => l !== '' && !l.startsWith('root:'));
  return `${[VARIANT_FILES[variant].rootShadow, ...lines].join('\n')}\n`;
}
