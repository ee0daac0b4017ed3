/**
 * Installing a supervisor on the data partition, shared by the agent's own upgrade
 * (updater/supervisor/) and the OS update's supervisor step (updater/hup): the code goes into a
 * hidden partial folder, is sealed with its sha256 file and synced, renamed into place, and only
 * then does the state partition's choice name it (written atomically). A power cut at any point
 * leaves the old choice (its code untouched) or the new one (its code complete and sealed); the
 * launcher (S70balena-supervisor) runs a choice only when its code matches its sha256 file.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import {
  SUPERVISOR_CODE_FILE,
  SUPERVISOR_CODE_SHA256_FILE,
  supervisorChecksumText,
  supervisorConf,
} from '../../lib/contract/supervisor.ts';

/** fsync a file or a directory by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `path` so that it holds the old text or the new one after a power cut: tmp, fsync, rename, fsync dir. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncPath(dirname(path));
}

/** The folder a supervisor version is installed in, and the hidden one it is assembled in. */
export function supervisorDirs(agentDir: string, version: string): { final: string; partial: string } {
  return { final: join(agentDir, version), partial: join(agentDir, `.${version}.partial`) };
}

/** sha256 (hex) of a file. */
export function fileSha256Hex(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Seals an assembled supervisor folder: writes the code's sha256 file beside it, then syncs every
 * file and the folder. Returns the code's sha256 (hex).
 */
export function sealSupervisorDir(dir: string): string {
  const code = join(dir, SUPERVISOR_CODE_FILE);
  if (!existsSync(code)) throw new Error(`${dir} has no ${SUPERVISOR_CODE_FILE}`);
  const sha = fileSha256Hex(code);
  writeFileSync(join(dir, SUPERVISOR_CODE_SHA256_FILE), supervisorChecksumText(sha), { mode: 0o644 });
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
  return sha;
}

/**
 * Renames a sealed partial folder into its final place. A folder already there (an earlier
 * install of the same version) is moved aside first and removed after: the version's folder is
 * either the old one or the new one, and the state partition's choice is written after this.
 */
export function placeSupervisorDir(partial: string, final: string): void {
  const parent = dirname(final);
  let aside: string | undefined;
  if (existsSync(final)) {
    aside = `${parent}/.${final.split('/').at(-1)}.old-${randomBytes(3).toString('hex')}`;
    renameSync(final, aside);
  }
  renameSync(partial, final);
  fsyncPath(parent);
  if (aside) rmSync(aside, { recursive: true, force: true });
}

/** The state partition's choice (SUPERVISOR_CHOICE): names the supervisor the launcher runs next. */
export function writeSupervisorChoice(choicePath: string, version: string): void {
  writeFileAtomic(choicePath, supervisorConf(version));
}

/**
 * Installs one supervisor's code (the OS update's step: the new root's own supervisor.mjs) as
 * `<agentDir>/<version>/` with its sha256 file, then makes it the state partition's choice.
 */
export function installSupervisorCode(opts: { agentDir: string; choice: string; version: string; code: Buffer }): {
  dir: string;
  sha256: string;
} {
  const { final, partial } = supervisorDirs(opts.agentDir, opts.version);
  mkdirSync(opts.agentDir, { recursive: true });
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    writeFileSync(join(partial, SUPERVISOR_CODE_FILE), opts.code, { mode: 0o644 });
    const sha256 = sealSupervisorDir(partial);
    placeSupervisorDir(partial, final);
    writeSupervisorChoice(opts.choice, opts.version);
    return { dir: final, sha256 };
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    throw err;
  }
}
