/**
 * Shared by the lab server tests: `huplab serve` as a real process on a lab of its own, and
 * huplab commands run against the same lab. Not a test file itself (no .test.ts).
 */
import type { Test } from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'huplab');

export interface ServerRecord {
  pid: number;
  urls: { api: string; primaryRegistry: string; fallbackRegistry: string; delta: string };
  guestUrls: { api: string };
  labHost: { address: string; ports: number[] };
}

export interface Server {
  child: ChildProcess;
  record: ServerRecord;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function env(lab: string): NodeJS.ProcessEnv {
  return { ...process.env, HUPLAB_HOME: lab, HUPLAB_QUIET: '1' };
}

/** Runs a huplab command to its end. */
export function huplab(
  lab: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { env: env(lab), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Starts `huplab serve --json` and waits for its one JSON document (printed once it listens). */
export async function serve(t: Test, lab: string): Promise<Server> {
  const child = spawn(bin, ['serve', '--json'], { env: env(lab), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  // Leave no server behind, whatever the test did.
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const deadline = Date.now() + 30_000;
  while (!/\n}\s*$/.test(stdout)) {
    if (child.exitCode !== null) throw new Error(`huplab serve exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`huplab serve printed nothing in 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const doc = JSON.parse(stdout) as { ok: boolean } & ServerRecord;
  t.equal(doc.ok, true, 'serve --json: ok');
  const record = JSON.parse(readFileSync(join(lab, 'server.json'), 'utf8')) as ServerRecord;
  t.same(record.urls, doc.urls, 'server.json names the endpoints it printed');
  return { child, record, stdout: () => stdout, stderr: () => stderr, exited };
}

/** A lab folder that does not exist yet, under a short path (device sockets allow 107 bytes). */
export function newLab(): string {
  return join(mkdtempSync(join(tmpdir(), 'huplab-serve-')), 'lab');
}
