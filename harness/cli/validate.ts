/**
 * Option checks shared by the commands. Every command checks all of its options with these
 * before it builds, starts or creates anything (the lab folder, its SSH key, an image), so a
 * mistake costs no time and leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import { HuplabError } from '../../lib/errors.ts';
import { loadRelease } from '../../images/recipe.ts';

/** A whole number >= min given as text, e.g. `--points 4`. */
export function wholeNumber(option: string, value: string, min = 0): number {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new HuplabError('option-invalid', `--${option} must be a whole number >= ${min}, not "${value}"`, {
      hint: `e.g. --${option} ${Math.max(min, 1)}`,
    });
  return n;
}

/** A positive number of seconds, e.g. `--timeout 180`. */
export function seconds(option: string, value: string): number {
  const n = value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new HuplabError('option-invalid', `--${option} must be a number of seconds > 0, not "${value}"`, {
      hint: `e.g. --${option} 180`,
    });
  return n;
}

/** A device name of the lab: it names a folder, so it never walks out of the lab. */
export function checkDeviceName(name: string, option = 'name'): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$/.test(name) || name.includes('..'))
    throw new HuplabError('bad-device-name', `--${option} "${name}" is not a usable device name`, {
      hint: 'use letters, digits, ".", "_" or "-", at most 40 characters, starting with a letter or digit',
    });
  return name;
}

/** A release version with a recipe; the version names a file, so it is checked first. */
export async function checkRelease(option: string, version: string): Promise<string> {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+_-]*$/.test(version) || version.includes('..'))
    throw new HuplabError('unknown-release', `--${option} "${version}" is not a release version`, {
      hint: 'give a version such as 2.101.0 (see `huplab images list`)',
    });
  await loadRelease(version); // an unknown version gets the one-line error naming the known ones
  return version;
}

/** A file the command reads. */
export function existingFile(option: string, file: string): string {
  if (file === '' || !existsSync(file))
    throw new HuplabError('file-missing', `--${option} ${file === '' ? '""' : file}: no such file`, {
      hint: 'give the path of an existing file',
    });
  return file;
}

/** A value that must not be empty, e.g. `--grep ""`. */
export function nonEmpty(option: string, value: string): string {
  if (value.trim() === '')
    throw new HuplabError('option-invalid', `--${option} is empty`, { hint: `give a value, or leave --${option} out` });
  return value;
}
