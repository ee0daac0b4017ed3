/**
 * The supervisor agent stand-in: a long-running service whose version is recorded in
 * supervisor.conf, and whose heartbeat is what rollback-health checks. The updater stops it
 * during an update and installs a newer one when the new OS ships it.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';

const version = process.argv[2] ?? 'unknown';
const dir = '/run/balena-supervisor';
mkdirSync(dir, { recursive: true });
const startedAt = new Date().toISOString();

function beat(): void {
  const tmp = `${dir}/state.json.tmp`;
  writeFileSync(tmp, JSON.stringify({ version, pid: process.pid, startedAt, heartbeat: Date.now() }));
  renameSync(tmp, `${dir}/state.json`);
}
beat();
setInterval(beat, 2_000);
process.stdout.write(`balena-supervisor ${version} started\n`);
process.on('SIGTERM', () => process.exit(0));
