/**
 * The text env format of U-Boot's `env import -t` / `env export -t`: one `name=value` per line.
 * balenaOS keeps `resinOS_uEnv.txt` and `bootcount.env` in it on U-Boot devices, and the JetPack 5
 * launcher stand-in (GRUB) `source`s the same lines as variable assignments.
 *
 * The parser is strict on purpose: a file that a power cut, a bad card or a fault injector garbled
 * must be reported as unreadable (as decodeGrubenv does for grubenv), so that the boot-health
 * check rewrites it, rather than being read as a few odd variables.
 *
 * Accepted, because the bootloaders write them: trailing NUL bytes (`env export -t` counts the
 * terminating NUL in its size and U-Boot fatwrites it), a last line without a newline (balena's
 * L4TLauncher writes `bootcount=N` bare), blank lines and `#` comment lines (skipped by U-Boot).
 * Comments are not kept when the file is rewritten.
 */
import { HuplabError } from '../errors.ts';

/**
 * Names both consumers take as an assignment: U-Boot accepts almost anything before `=`, but GRUB
 * (`source` in the JetPack 5 launcher) reads `a.b=1` or `a-b=1` as a command, not a variable.
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Control characters other than tab: binary data, or a CR that U-Boot (without -r) would keep. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function garbled(file: string, reason: string): HuplabError {
  return new HuplabError('uenv-invalid', `${file}: ${reason}`, {
    hint: 'the file is damaged; the updater rewrites it (boot-health check), or restore name=value lines by hand',
  });
}

/** Parses `name=value` lines; later duplicates win, as they do for `env import`. */
export function parseUEnv(buf: Uint8Array, file = 'uEnv text'): Record<string, string> {
  // Trailing NULs are the terminator U-Boot writes; a NUL anywhere else is binary data.
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  let text: string;
  try {
    text = utf8.decode(buf.subarray(0, end));
  } catch {
    throw garbled(file, 'is not UTF-8 text (binary data?)');
  }
  const vars: Record<string, string> = {};
  text.split('\n').forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    const where = `line ${i + 1}`;
    const bad = CONTROL.exec(line);
    if (bad)
      throw garbled(
        file,
        `${where} contains control character 0x${bad[0].charCodeAt(0).toString(16).padStart(2, '0')}`,
      );
    const eq = line.indexOf('=');
    if (eq === -1) throw garbled(file, `${where} has no "=": ${JSON.stringify(line.slice(0, 40))}`);
    const name = line.slice(0, eq);
    if (!NAME.test(name))
      throw garbled(file, `${where} has an invalid variable name ${JSON.stringify(name.slice(0, 40))}`);
    // defineProperty: a variable called __proto__ stays data (as in decodeGrubenv).
    Object.defineProperty(vars, name, {
      value: line.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  });
  return vars;
}

/** Encodes variables as `name=value\n` lines, in the object's key order. */
export function encodeUEnv(vars: Record<string, string>, file = 'uEnv text'): Buffer {
  let text = '';
  for (const [name, value] of Object.entries(vars)) {
    if (!NAME.test(name)) {
      throw new HuplabError('uenv-invalid-name', `${file}: invalid variable name ${JSON.stringify(name)}`, {
        hint: 'names are letters, digits and "_", not starting with a digit (what U-Boot and GRUB both accept)',
      });
    }
    if (typeof value !== 'string' || CONTROL.test(value)) {
      throw new HuplabError(
        'uenv-invalid-value',
        `${file}: value of ${name} must be a string on one line without control characters`,
        {
          hint: 'a text env holds one name=value per line',
        },
      );
    }
    text += `${name}=${value}\n`;
  }
  return Buffer.from(text, 'utf8');
}
