/**
 * Driving a lab as a release engineer does: `huplab serve` in the background, `huplab device
 * start`, `huplab fleet ...` with --json, and the device over SSH for what only it can tell (its
 * boot id, its application's records). The fleet suite and the fleet benchmark share it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../lib/paths.ts';
import { attachDevice } from '../harness/device/emulated.ts';
import type { Lab } from '../harness/lab.ts';

const bin = join(repoRoot, 'bin', 'huplab');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export function huplab(lab: Lab, args: string[], timeoutMs = 15 * 60_000): Promise<Ran> {
  return execa(bin, args, {
    env: { HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' },
    reject: false,
    timeout: timeoutMs,
  }).then((r) => ({ code: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) }));
}

/** A command's --json document; an error (with its stderr) when it printed none. */
export async function json<T>(lab: Lab, args: string[], timeoutMs?: number): Promise<T & { ok: boolean }> {
  const r = await huplab(lab, [...args, '--json'], timeoutMs);
  try {
    return JSON.parse(r.stdout) as T & { ok: boolean };
  } catch {
    throw new Error(`huplab ${args.join(' ')} printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
}

/** `huplab serve` in the background; resolves once `huplab serve --status` says where it listens. */
export async function serve(lab: Lab): Promise<ChildProcess> {
  const p = spawn(bin, ['serve'], { env: { ...process.env, HUPLAB_HOME: lab.dir, HUPLAB_QUIET: '1' }, stdio: 'pipe' });
  let err = '';
  p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 600; i++) {
    const s = await json<{ running: boolean; server?: unknown }>(lab, ['serve', '--status']);
    if (s.running && s.server) return p;
    if (p.exitCode !== null) throw new Error(`huplab serve exited ${p.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`huplab serve did not come up: ${err}`);
}

/** The running server's API URL (host side). */
export async function apiUrl(lab: Lab): Promise<string> {
  return (await json<{ server: { urls: { api: string } } }>(lab, ['serve', '--status'])).server.urls.api;
}

/** An operator request to the running server's API. */
export async function operator(lab: Lab, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${await apiUrl(lab)}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${lab.operatorToken}`, 'Content-Type': 'application/json', ...init.headers },
  });
}

export interface FleetRow {
  name: string;
  uuid: string;
  arch: string;
  osVersion?: string;
  supervisorVersion?: string;
  online: boolean;
  status?: string;
  progress?: { percent: number; message: string };
  targetProgress: string;
}

/** `huplab fleet list`, by device name. */
export async function fleet(lab: Lab): Promise<Map<string, FleetRow>> {
  const r = await json<{ devices: FleetRow[] }>(lab, ['fleet', 'list']);
  return new Map(r.devices.map((d) => [d.name, d]));
}

export interface TargetResults {
  results: Array<{ name: string; ok: boolean; refusal?: { rule: string; reason: string } }>;
}
export interface WaitOutcomes {
  devices: Array<{ name: string; targetProgress: string }>;
}

/** `huplab device start` while the server runs: the device must have registered with it and be heard from. */
export async function startDevice(lab: Lab, name: string, release: string, device = 'generic-amd64'): Promise<void> {
  const r = await huplab(lab, ['device', 'start', '--device', device, '--release', release, '--name', name, '--json']);
  const out = r.code === 0 ? (JSON.parse(r.stdout) as { server?: string }) : undefined;
  if (!out) throw new Error(`huplab device start ${name} failed (exit ${r.code}): ${r.stderr}`);
  if (!out.server?.startsWith('http://127.0.0.1:')) throw new Error(`${name} did not register with the lab server`);
  // Up on SSH a few seconds before its agent's first heartbeat: targets are set once it was heard from.
  for (let i = 0; i < 120; i++) {
    if ((await fleet(lab)).get(name)?.online) return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`${name} registered but its supervisor agent was not heard from within 2 min`);
}

export async function onDevice(lab: Lab, name: string, command: string): Promise<string> {
  const d = attachDevice(lab, name);
  try {
    return await (await d.ssh()).execOk(command);
  } finally {
    d.close();
  }
}

/** The demo application's records (harness/update/records.ts parses and judges them). */
export function appRecords(lab: Lab, name: string): Promise<string> {
  return onDevice(lab, name, 'cat /mnt/data/demo-app/records.log');
}
