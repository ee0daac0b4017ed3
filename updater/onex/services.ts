/**
 * The services a resinOS 1.x update stops first and, when it fails before anything was written,
 * starts again: the supervisor and the application (on the field's 1.x: the supervisor's timer,
 * crond, the supervisor and every container). The image runs them under its service manager.
 * The application's containers and images are data on the data partition
 * (images/builder/data-1x.ts): the 1.x -> 2.x migration removes them, as the field removes them
 * before docker's storage goes away.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../common/run.ts';

/** Stop order: the supervisor first, so it cannot start the application again. */
export const ONEX_SERVICES = ['balena-supervisor', 'demo-app'] as const;

export function stopServices(log: (m: string) => void): string[] {
  const stopped: string[] = [];
  for (const s of ONEX_SERVICES) {
    const r = run('service', ['stop', s], { allowFail: true });
    if (r.code === 0) stopped.push(s);
    else log(`could not stop ${s}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return stopped;
}

export function startServices(names: readonly string[], log: (m: string) => void): void {
  for (const s of [...names].reverse()) {
    const r = run('service', ['start', s], { allowFail: true });
    if (r.code !== 0) log(`could not start ${s} again: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
}

/** Removes the containers and images under `dataMount`/docker; the count of each removed. */
export function remove1xContainers(dataMount = '/mnt/data'): { containers: number; images: number } {
  const count = (dir: string) => (existsSync(dir) ? readdirSync(dir).length : 0);
  const containers = join(dataMount, 'docker', 'containers');
  const images = join(dataMount, 'docker', 'image');
  const removed = { containers: count(containers), images: count(images) };
  rmSync(containers, { recursive: true, force: true });
  rmSync(images, { recursive: true, force: true });
  return removed;
}
