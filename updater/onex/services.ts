/**
 * The resinOS 1.x services an update stops and starts again: the supervisor and the application
 * (the field's script stops the supervisor's timer and service, and every container). The
 * application's containers and images are data on the data partition (images/builder/data-1x.ts);
 * the migration removes them, as the field removes them before docker's storage goes away.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../common/run.ts';

export const SERVICES_1X = ['balena-supervisor', 'demo-app'] as const;

export function stop1xServices(): void {
  for (const s of SERVICES_1X) run('service', ['stop', s], { allowFail: true });
}

export function start1xServices(): void {
  // The application first: the supervisor would otherwise find it down and report it.
  for (const s of [...SERVICES_1X].reverse()) run('service', ['start', s], { allowFail: true });
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
