/**
 * GRUB environment block (`grubenv`), the file GRUB's `load_env`/`save_env` and `grub-editenv`
 * share. On generic-amd64 it carries the A/B state (`resin_root_part`, `upgrade_available`,
 * `bootcount`), so both the image builder and the updater write it without shelling out, and
 * the result must be byte-compatible with what GRUB itself reads and rewrites in place.
 *
 * Format: a fixed-size block starting with the signature line, then `name=value\n` entries,
 * with the unused tail filled with '#'. GRUB rewrites the block in place and never grows the
 * file, so the size is fixed at 1024 bytes (what grub-editenv creates).
 */
import { HuplabError } from './errors.ts';

export const GRUBENV_SIZE = 1024;
export const GRUBENV_SIGNATURE = '# GRUB Environment Block\n';

const HINT = 'a grubenv holds at most 1024 bytes of name=value lines';

function checkName(name: string): void {
  // A name starting with '#' would be read back as a comment and silently vanish.
  if (name === '' || /[=\n\0]/.test(name) || name.startsWith('#')) {
    throw new HuplabError('grubenv-invalid-name', `grubenv: invalid variable name ${JSON.stringify(name)}`, {
      hint: 'names must be non-empty, must not start with "#" and must not contain "=", newline or NUL',
    });
  }
}

/** GRUB escapes '\' and newline in values with a backslash; the newline itself stays. */
function escapeValue(value: string): string {
  return value.replace(/[\\\n]/g, (c) => `\\${c}`);
}

export function encodeGrubenv(vars: Record<string, string>): Buffer {
  let body = GRUBENV_SIGNATURE;
  for (const [name, value] of Object.entries(vars)) {
    checkName(name);
    if (typeof value !== 'string' || value.includes('\0')) {
      throw new HuplabError('grubenv-invalid-value', `grubenv: value of ${name} must be a string without NUL bytes`);
    }
    body += `${name}=${escapeValue(value)}\n`;
  }
  const used = Buffer.byteLength(body, 'utf8');
  if (used > GRUBENV_SIZE) {
    throw new HuplabError('grubenv-too-large', `grubenv: ${used} bytes of variables do not fit in ${GRUBENV_SIZE}`, {
      hint: HINT,
    });
  }
  const buf = Buffer.alloc(GRUBENV_SIZE, '#'.charCodeAt(0));
  buf.write(body, 0, 'utf8');
  return buf;
}

function broken(reason: string): HuplabError {
  return new HuplabError('grubenv-invalid', `grubenv: ${reason}`, {
    hint: 'rewrite it with encodeGrubenv or grub-editenv FILE create',
  });
}

/**
 * Parses like GRUB's own iterator: '#' starts a comment up to the end of the line (which is also
 * how the padding is skipped), everything else is `name=value` with backslash escapes in the
 * value. Later duplicates win, as they would for GRUB's `load_env`.
 */
export function decodeGrubenv(buf: Uint8Array): Record<string, string> {
  if (buf.length !== GRUBENV_SIZE) throw broken(`size is ${buf.length} bytes, expected ${GRUBENV_SIZE}`);
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('latin1');
  if (!text.startsWith(GRUBENV_SIGNATURE)) throw broken('missing "# GRUB Environment Block" header');

  const vars: Record<string, string> = {};
  let p = GRUBENV_SIGNATURE.length;
  while (p < text.length) {
    if (text[p] === '#') {
      const nl = text.indexOf('\n', p);
      p = nl === -1 ? text.length : nl + 1;
      continue;
    }
    const eq = text.indexOf('=', p);
    if (eq === -1) throw broken(`entry at byte ${p} has no "="`);
    const name = text.slice(p, eq);
    if (name.includes('\n') || name.includes('\0')) throw broken(`entry at byte ${p} has no "=" on its line`);
    let value = '';
    let q = eq + 1;
    for (; q < text.length && text[q] !== '\n'; q++) {
      if (text[q] === '\\') q++;
      if (q < text.length) value += text[q];
    }
    if (q >= text.length) throw broken(`value of ${name} is not terminated by a newline`);
    // Bytes were read as latin1 so offsets are byte offsets; restore UTF-8 text here.
    // defineProperty, so that a variable called __proto__ is data rather than a prototype.
    Object.defineProperty(vars, Buffer.from(name, 'latin1').toString('utf8'), {
      value: Buffer.from(value, 'latin1').toString('utf8'),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    p = q + 1;
  }
  return vars;
}
