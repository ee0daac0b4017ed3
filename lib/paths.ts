import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
export const deviceFilesDir = join(repoRoot, 'images', 'device-files');
