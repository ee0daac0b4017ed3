/**
 * rollback-health: on the first boots of a new OS, waits, then runs the health tests a number of
 * times. Healthy: commit (bootloader upgrade_available=0, bootcount=0, breadcrumbs removed).
 * Never healthy: the old OS's boot files and root are restored from its partition,
 * rollback-health-triggered is recorded and the device reboots into the old OS. The timings come
 * from /mnt/state/rollback-health.json so that suites can shorten the field's 16 minutes.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { installBootFiles } from '../common/bootfiles.ts';
import { updateBootEnv } from '../common/bootenv.ts';
import { readDeviceConfig, readOsInfo } from '../common/config.ts';
import { legacyLogDirs, UpdateLog } from '../common/log.ts';
import { UPDATE_LOG_DIR } from '../../lib/contract/update-log.ts';
import { findRoots } from '../common/partitions.ts';
import { ProgressReporter } from '../common/progress.ts';
import { run } from '../common/run.ts';
import { checkHealth } from './health.ts';
import { BREADCRUMBS, STATE_DIR, STATE_FILES } from '../../lib/contract/state-files.ts';
import { ROLLBACK_STEPS } from '../../lib/contract/step-names.ts';

const STATE = STATE_DIR;
export const DEFAULT_TIMINGS = { initialDelaySec: 60, intervalSec: 60, attempts: 15 };

function timings(): typeof DEFAULT_TIMINGS {
  try {
    return {
      ...DEFAULT_TIMINGS,
      ...(JSON.parse(readFileSync(`${STATE}/${STATE_FILES.healthTimings}`, 'utf8')) as Partial<typeof DEFAULT_TIMINGS>),
    };
  } catch {
    return DEFAULT_TIMINGS;
  }
}

const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

async function main(): Promise<void> {
  if (!existsSync(`${STATE}/${STATE_FILES.healthBreadcrumb}`)) return;
  const log = new UpdateLog(UPDATE_LOG_DIR, 'rollback-health', { alsoIn: legacyLogDirs() });
  const progress = new ProgressReporter(readDeviceConfig(), (m) => log.line(m));
  const t = timings();
  const os = readOsInfo('/');
  // Markers on the console, so that the harness can aim power cuts at the health check and the commit.
  log.marker(
    ROLLBACK_STEPS.health,
    'start',
    `checking ${os.version}: first check in ${t.initialDelaySec} s, then up to ${t.attempts} checks ${t.intervalSec} s apart`,
  );
  await sleep(t.initialDelaySec);
  let last: string[] = [];
  for (let i = 1; i <= t.attempts; i++) {
    const h = checkHealth();
    if (h.healthy) {
      log.marker(ROLLBACK_STEPS.commit, 'start');
      await updateBootEnv({ upgrade_available: '0', bootcount: '0' });
      for (const f of [...BREADCRUMBS, STATE_FILES.healthVariables]) rmSync(`${STATE}/${f}`, { force: true });
      run('sync', []);
      log.marker(ROLLBACK_STEPS.commit, 'done');
      log.marker(ROLLBACK_STEPS.health, 'done', `healthy at check ${i}: update to ${os.version} committed`);
      await progress.report(100, `OS update committed: ${os.version}`, 'done', 3);
      return;
    }
    last = h.reasons;
    log.line(`health check ${i}/${t.attempts} failed: ${h.reasons.join('; ')}`);
    if (i < t.attempts) await sleep(t.intervalSec);
  }
  log.line(`rollback-health: the new OS never became healthy (${last.join('; ')}); rolling back`);
  await rollBack(log);
  await progress.report(100, 'OS update failed: rolled back (health check)', 'failed', 2);
  run('reboot', [], { allowFail: true });
}

async function rollBack(log: UpdateLog): Promise<void> {
  const roots = findRoots();
  const old = roots.inactive;
  const mountpoint = '/run/hup/old-root';
  mkdirSync(mountpoint, { recursive: true });
  let restored = true;
  // Markers before each part, so that the power-cut campaign can cut inside the rollback itself.
  log.marker(ROLLBACK_STEPS.bootFiles, 'start', `restoring the boot files of root ${old.slot}`);
  try {
    run('mount', ['-o', 'ro', '-t', 'ext4', old.device, mountpoint]);
    await installBootFiles(mountpoint, '/mnt/boot', (m) => log.line(m));
  } catch (err) {
    restored = false;
    log.line(`restoring the old OS's boot files failed: ${(err as Error).message}`);
  } finally {
    run('umount', [mountpoint], { allowFail: true });
  }
  log.marker(ROLLBACK_STEPS.switch, 'start', `bootloader env back to root ${old.slot}`);
  await updateBootEnv({ resin_root_part: old.slot, upgrade_available: '0', bootcount: '0' });
  writeFileSync(
    `${STATE}/${restored ? STATE_FILES.healthTriggered : STATE_FILES.healthFailed}`,
    `${new Date().toISOString()}\n`,
  );
  for (const f of BREADCRUMBS) rmSync(`${STATE}/${f}`, { force: true });
  run('sync', []);
  log.marker(ROLLBACK_STEPS.health, 'failed', `rolled back to root ${old.slot}; rebooting`);
}

main().catch((err: unknown) => {
  process.stderr.write(`rollback-health: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
