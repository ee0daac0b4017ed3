import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HuplabError } from './errors.ts';

/** The repository root, found from this file so that commands work from any directory. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Content-addressed build cache (Debian packages, npm blobs, built images). Shared by every lab
 * on the machine: entries are named by the hash of their inputs, so sharing is safe.
 */
export function cacheDir(): string {
  return process.env.HUPLAB_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huplab');
}

/**
 * A lab: its SSH key, its devices and their logs. Tests use a fresh lab each, so that no key or
 * device is ever shared between runs.
 */
export function labDir(): string {
  return process.env.HUPLAB_HOME ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'huplab');
}

/** Device profiles and release recipes; overridable so that a lab can keep its own. */
export const devicesDir = process.env.HUPLAB_DEVICES ?? join(repoRoot, 'devices');
export const releasesDir = process.env.HUPLAB_RELEASES ?? join(repoRoot, 'images', 'releases');
/** Supervisor release recipes, beside the OS releases. */
export const supervisorReleasesDir =
  process.env.HUPLAB_SUPERVISOR_RELEASES ?? join(repoRoot, 'images', 'supervisor-releases');
export const deviceFilesDir = join(repoRoot, 'images', 'device-files');

/**
 * The names in a configured folder (HUPLAB_DEVICES, HUPLAB_RELEASES). A missing folder is a
 * one-line error naming the variable that points at it, not a raw scandir error and not an
 * empty list that looks like "nothing there".
 */
export async function readConfiguredDir(dir: string, variable: string, what: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    throw folderMissing(err, dir, variable, what);
  }
}

/** readConfiguredDir for code that must stay synchronous (the Playwright config reads the releases). */
export function readConfiguredDirSync(dir: string, variable: string, what: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    throw folderMissing(err, dir, variable, what);
  }
}

function folderMissing(err: unknown, dir: string, variable: string, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOENT' && code !== 'ENOTDIR') return err;
  const fromEnv = process.env[variable] !== undefined && resolve(process.env[variable]) === resolve(dir);
  return new HuplabError(
    'folder-missing',
    fromEnv ? `${variable}=${dir}: no such folder of ${what}` : `${dir}: no such folder of ${what}`,
    {
      hint: fromEnv
        ? `point ${variable} at an existing folder, or unset it to use the repository's`
        : `create it, or set ${variable} to a folder of ${what}`,
    },
  );
}
