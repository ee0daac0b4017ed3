/**
 * The supervisor agent stand-in: a long-running service whose version is recorded in
 * supervisor.conf, and whose heartbeat is what rollback-health checks. The updater stops it
 * during an update and installs a newer one when the new OS ships it.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { SUPERVISOR_RUN_DIR, SUPERVISOR_RUN_STATE, type SupervisorRunState } from '../../lib/contract/supervisor.ts';

/**
 * A supervisor release's bundle has its version baked in (images/builder/supervisor-build.ts
 * defines it): the code is that version, whatever its command line says. The OS's own bundle has
 * none and runs as the version supervisor.conf names.
 */
declare const HUPLAB_SUPERVISOR_VERSION: string | undefined;
const baked = typeof HUPLAB_SUPERVISOR_VERSION === 'string' ? HUPLAB_SUPERVISOR_VERSION : undefined;
const version = baked ?? process.argv[2] ?? 'unknown';
mkdirSync(SUPERVISOR_RUN_DIR, { recursive: true });
const startedAt = new Date().toISOString();

function beat(): void {
  const tmp = `${SUPERVISOR_RUN_STATE}.tmp`;
  const state: SupervisorRunState = { version, pid: process.pid, startedAt, heartbeat: Date.now() };
  writeFileSync(tmp, JSON.stringify(state));
  renameSync(tmp, SUPERVISOR_RUN_STATE);
}
beat();
setInterval(beat, 2_000);
process.stdout.write(`balena-supervisor ${version} started\n`);
process.on('SIGTERM', () => process.exit(0));
