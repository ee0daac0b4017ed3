/**
 * Watching a daemonized QEMU by pid. The VM is not our child (it outlives the CLI), so there is
 * no 'exit' event: liveness is polled. A pid alone is not an identity (pids are reused), so a
 * process only counts as the device's QEMU if its command line names the device folder.
 */
import fs from 'node:fs';

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent does not reap it (init in some containers) lingers as a
  // zombie: it answers kill(0) but is gone for every purpose that matters here.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs (not Linux): trust kill(0)
  }
}

/** argv of a process, or undefined when it cannot be read. */
export function pidArgv(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** True if `pid` is alive and (where /proc allows checking) its argv mentions `marker`. */
export function isOurProcess(pid: number, marker: string): boolean {
  if (!isPidAlive(pid)) return false;
  const argv = pidArgv(pid);
  return argv === undefined || argv.some((a) => a.includes(marker));
}

export async function waitPidExit(pid: number, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return true;
}
