/**
 * The OS variant: development or production, as balenaOS builds them. The builder writes it into
 * /etc/os-release (`VARIANT`, `VARIANT_ID`), the harness reads it back from there, and the
 * console probe below tells whether the serial console gives a shell. One place for all three.
 *
 * - development: root logs in on the serial console without a password, and SSH takes root with
 *   an empty password as well as with a key of config.json's `os.sshKeys`.
 * - production: nothing listens for a login on the serial console and root has no password at
 *   all; SSH takes root only with a key of `os.sshKeys` (password logins refused).
 */

export const VARIANTS = ['development', 'production'] as const;
export type Variant = (typeof VARIANTS)[number];

/** The variant of a recipe that does not say otherwise, and of a build that is not asked for one. */
export const DEFAULT_VARIANT: Variant = 'development';

/** What /etc/os-release says for each variant (balenaOS's own values). */
export const VARIANT_OS_RELEASE: Record<Variant, { VARIANT: string; VARIANT_ID: string }> = {
  development: { VARIANT: 'Development', VARIANT_ID: 'dev' },
  production: { VARIANT: 'Production', VARIANT_ID: 'prod' },
};

export function isVariant(v: unknown): v is Variant {
  return typeof v === 'string' && (VARIANTS as readonly string[]).includes(v);
}

/**
 * The variant an /etc/os-release text declares (by `VARIANT_ID`), or undefined when it names
 * none or one this contract does not know.
 */
export function parseOsReleaseVariant(osRelease: string): Variant | undefined {
  const m = /^VARIANT_ID="?([^"\n]*)"?\s*$/m.exec(osRelease);
  if (!m) return undefined;
  return VARIANTS.find((v) => VARIANT_OS_RELEASE[v].VARIANT_ID === m[1]);
}

/**
 * The serial console probe: what to type, and what only a shell that ran the command prints.
 * The command's echo by the tty shows `$((6*7))`, never the evaluated answer, so seeing
 * `CONSOLE_PROBE.answer` proves that a shell read and ran what was typed.
 */
export const CONSOLE_PROBE = {
  /** Typed in order, one line each: wake the getty, the user name, an empty password, the command. */
  lines: ['', 'root', '', 'echo huplab-console-probe-$((6*7))'],
  answer: 'huplab-console-probe-42',
} as const;

/** The console's login prompt (busybox getty: `<hostname> login: `), on a development image only. */
export const CONSOLE_LOGIN_PROMPT = /\blogin: /;
