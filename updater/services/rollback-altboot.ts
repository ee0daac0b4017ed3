/**
 * rollback-altboot: runs early at boot while an update is pending, or when the boot partition
 * does not carry this OS's boot files (see repairInterrupted). If the bootloader booted a
 * root other than the one the update switched to (the new OS failed to boot and the boot count
 * ran out), the running (old) OS restores its own boot files and boot env, records
 * rollback-altboot-triggered, and reboots into a clean old system.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { installBootFiles } from '../common/bootfiles.ts';
import { readBootEnv, updateBootEnv } from '../common/bootenv.ts';
import { legacyLogDirs, UpdateLog } from '../common/log.ts';
import { UPDATE_LOG_DIR } from '../../lib/contract/update-log.ts';
import { readOsInfo } from '../common/config.ts';
import { findRoots } from '../common/partitions.ts';
import { savePendingReport } from '../common/progress.ts';
import { run } from '../common/run.ts';
import { BREADCRUMBS, STATE_DIR, STATE_FILES } from '../../lib/contract/state-files.ts';
import { ROLLBACK_STEPS } from '../../lib/contract/step-names.ts';

const STATE = STATE_DIR;

async function main(): Promise<void> {
  const env = readBootEnv();
  const running = findRoots().active.slot;
  if (env.upgrade_available !== '1' && env.resin_root_part === running) {
    await repairInterrupted(running);
    return;
  }
  if (!existsSync(`${STATE}/${STATE_FILES.altbootBreadcrumb}`)) return;
  if (env.resin_root_part === running) return; // the new OS is up: rollback-health decides
  const log = new UpdateLog(UPDATE_LOG_DIR, 'rollback-altboot', { alsoIn: legacyLogDirs() });
  log.line(
    `rollback-altboot: booted root ${running} but the update switched to ${env.resin_root_part} (bootcount ${env.bootcount}): the new OS did not boot; restoring ${running}`,
  );
  // Markers before each part, so that the power-cut campaign can cut inside the rollback itself.
  log.marker(ROLLBACK_STEPS.altboot, 'start', `restoring the boot files of root ${running}`);
  await installBootFiles('/', '/mnt/boot', (m) => log.line(m));
  log.marker(ROLLBACK_STEPS.altbootSwitch, 'start', `bootloader env back to root ${running}`);
  await updateBootEnv({ resin_root_part: running, upgrade_available: '0', bootcount: '0' });
  writeFileSync(`${STATE}/${STATE_FILES.altbootTriggered}`, `${new Date().toISOString()}\n`);
  for (const f of BREADCRUMBS) rmSync(`${STATE}/${f}`, { force: true });
  run('sync', []);
  log.marker(ROLLBACK_STEPS.altboot, 'done', `restored root ${running}; rebooting`);
  // This runs before the network is up: the report goes out after the reboot (report-pending).
  savePendingReport(100, 'OS update failed: rolled back (new OS did not boot)', 'failed');
  run('reboot', [], { allowFail: true });
}

/**
 * Nothing is pending, yet this OS's boot files are not all on the boot partition (or an update's
 * breadcrumbs are left): an update was cut off before it switched the bootloader (a power cut
 * between its boot files and its switch), or the boot files were damaged. This OS's own boot
 * files are put back; the breadcrumbs of the update that never switched are removed, so that
 * rollback-health does not "commit" the old OS as if it were the new one.
 */
async function repairInterrupted(running: string): Promise<void> {
  const log = new UpdateLog(UPDATE_LOG_DIR, 'rollback-altboot', { alsoIn: legacyLogDirs() });
  const fixed: string[] = [];
  await installBootFiles('/', '/mnt/boot', (m) => fixed.push(m));
  const crumbs = [STATE_FILES.altbootBreadcrumb, STATE_FILES.healthBreadcrumb].filter((f) =>
    existsSync(`${STATE}/${f}`),
  );
  for (const f of crumbs) rmSync(`${STATE}/${f}`, { force: true });
  run('sync', []);
  if (fixed.length === 0 && crumbs.length === 0) return;
  const os = readOsInfo('/');
  log.marker(
    ROLLBACK_STEPS.bootFilesGuard,
    'done',
    `nothing pending on root ${running} (${os.version}), yet ${fixed.length} boot file(s) were not this OS's${crumbs.length ? ` and ${crumbs.join(', ')} was left` : ''}: an update stopped before its switch; restored`,
  );
  for (const m of fixed) log.line(m);
  if (crumbs.length)
    savePendingReport(100, `OS update failed: interrupted before the switch; ${os.version} still runs`, 'failed');
}

main().catch((err: unknown) => {
  process.stderr.write(`rollback-altboot: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
