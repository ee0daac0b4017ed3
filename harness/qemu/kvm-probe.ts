import { existsSync } from 'node:fs';
/**
 * Decide between KVM and TCG by experiment, never by the mere presence of /dev/kvm.
 *
 * On the project's machines /dev/kvm opens fine but guests die in firmware ("KVM internal error",
 * emulation failure on the first FPU instruction) while SeaBIOS still runs. So the probe boots the
 * same firmware real devices use (OVMF) under KVM and counts it as working only when that guest
 * has executed far enough to print on its serial port.
 */
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { labDir as defaultLabDir } from '../../lib/paths.ts';

export type Accel = 'kvm' | 'tcg';

export interface ProbeOptions {
  /** Where the cached verdict lives. Default: the lab folder (lib/paths.ts labDir()). */
  labDir?: string;
  qemuBinary?: string;
  firmwareCode?: string;
  firmwareVars?: string;
  /** How long the probe guest gets to print its first byte. */
  timeoutMs?: number;
  kvmDevice?: string;
  /** Ignore the cache (still writes it). */
  fresh?: boolean;
}

const CACHE_TTL_MS = 24 * 3600 * 1000;
const CACHE_FILE = 'accel-probe.json';

export async function probeAccelerator(opts: ProbeOptions = {}): Promise<Accel> {
  const forced = process.env.HUPLAB_ACCEL;
  if (forced !== undefined && forced !== '') {
    if (forced === 'kvm' || forced === 'tcg') return forced;
    throw new HuplabError('accel-invalid', `HUPLAB_ACCEL=${forced} is not an accelerator huplab knows`, {
      hint: 'set HUPLAB_ACCEL to tcg or kvm, or unset it to probe',
      infrastructure: true,
    });
  }
  if (!(await kvmDeviceUsable(opts.kvmDevice ?? '/dev/kvm'))) return 'tcg';

  const binary = opts.qemuBinary ?? 'qemu-system-x86_64';
  const version = await qemuVersion(binary);
  const key = `${binary}|${version}|${os.release()}`;
  const cachePath = path.join(opts.labDir ?? defaultLabDir(), CACHE_FILE);
  if (!opts.fresh) {
    const cached = await readCache(cachePath, key);
    if (cached) return cached;
  }
  const accel: Accel = (await guestRunsUnderKvm(binary, opts)) ? 'kvm' : 'tcg';
  await fs.mkdir(path.dirname(cachePath), { recursive: true });
  await fs.writeFile(cachePath, `${JSON.stringify({ key, accel, probedAt: new Date().toISOString() }, null, 2)}\n`);
  return accel;
}

async function kvmDeviceUsable(dev: string): Promise<boolean> {
  try {
    // access() alone can lie (e.g. a seccomp/cgroup device filter): actually open it r/w.
    await fs.access(dev, fsc.R_OK | fsc.W_OK);
    const fh = await fs.open(dev, 'r+');
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

export async function qemuVersion(binary: string): Promise<string> {
  try {
    const { stdout } = await execa(binary, ['--version'], { timeout: 10_000 });
    return stdout.split('\n')[0]?.trim() ?? 'unknown';
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') throw qemuMissing(binary);
    throw err;
  }
}

export function qemuMissing(binary: string): HuplabError {
  const pkg = /aarch64|arm/.test(binary) ? 'qemu-system-arm' : 'qemu-system-x86';
  return new HuplabError('qemu-missing', `QEMU binary ${binary} not found`, {
    hint: `apt-get install ${pkg}`,
    infrastructure: true,
  });
}

/** Whether a program runs by this name: a path that exists, or a name found on PATH. */
export async function onPath(program: string): Promise<boolean> {
  if (program.includes('/'))
    return fs.access(program).then(
      () => true,
      () => false,
    );
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(`${dir}/${program}`));
}

/** Refuses, with what to install, when the profile's QEMU binary is not on PATH: asked before any build. */
export async function requireQemu(binary: string): Promise<void> {
  if (!(await onPath(binary))) throw qemuMissing(binary);
}

async function readCache(file: string, key: string): Promise<Accel | undefined> {
  try {
    const c = JSON.parse(await fs.readFile(file, 'utf8')) as { key?: string; accel?: string; probedAt?: string };
    const age = Date.now() - Date.parse(c.probedAt ?? '');
    if (c.key === key && age >= 0 && age < CACHE_TTL_MS && (c.accel === 'kvm' || c.accel === 'tcg')) return c.accel;
  } catch {
    // no cache or a damaged one: probe again
  }
  return undefined;
}

/** Boot OVMF under KVM; true only if the guest wrote to its serial port in time. */
async function guestRunsUnderKvm(binary: string, opts: ProbeOptions): Promise<boolean> {
  const code = opts.firmwareCode ?? '/usr/share/OVMF/OVMF_CODE_4M.fd';
  const varsSrc = opts.firmwareVars ?? '/usr/share/OVMF/OVMF_VARS_4M.fd';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'huplab-kvm-probe-'));
  try {
    const vars = path.join(tmp, 'vars.fd');
    try {
      await fs.copyFile(varsSrc, vars);
    } catch {
      return false; // without firmware we cannot prove KVM works; TCG is always safe
    }
    const args = [
      '-accel',
      'kvm',
      '-machine',
      'q35',
      '-m',
      '128',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-vga',
      'none',
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${code}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${vars}`,
      '-serial',
      'stdio',
    ];
    return await new Promise<boolean>((resolve) => {
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      child.stdout.on('data', () => finish(true));
      // A broken KVM reports itself on stderr long before the timeout: stop waiting then.
      child.stderr.on('data', (d: Buffer) => {
        if (/KVM internal error|emulation failure|failed to initialize kvm|Could not access KVM/i.test(d.toString()))
          finish(false);
      });
      child.on('error', () => finish(false));
      child.on('exit', () => finish(false));
    });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
