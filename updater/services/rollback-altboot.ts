/**
 * rollback-altboot: runs early at boot while an update is pending. If the bootloader booted a
 * root other than the one the update switched to (the new OS failed to boot and the boot count
 * ran out), the running (old) OS restores its own boot files and boot env, records
 * rollback-altboot-triggered, and reboots into a clean old system.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { installBootFiles } from '../common/bootfiles.ts';
import { readBootEnv, updateBootEnv } from '../common/bootenv.ts';
import { UpdateLog } from '../common/log.ts';
import { findRoots } from '../common/partitions.ts';
import { savePendingReport } from '../common/progress.ts';
import { run } from '../common/run.ts';

const STATE = '/mnt/state';

async function main(): Promise<void> {
  if (!existsSync(`${STATE}/rollback-altboot-breadcrumb`)) return;
  const env = readBootEnv();
  const running = findRoots().active.slot;
  if (env.resin_root_part === running) return; // the new OS is up: rollback-health decides
  const log = new UpdateLog('/mnt/data/balenahup', 'rollback-altboot');
  log.line(`rollback-altboot: booted root ${running} but the update switched to ${env.resin_root_part} (bootcount ${env.bootcount}): the new OS did not boot; restoring ${running}`);
  await installBootFiles('/', '/mnt/boot', (m) => log.line(m));
  await updateBootEnv({ resin_root_part: running, upgrade_available: '0', bootcount: '0' });
  writeFileSync(`${STATE}/rollback-altboot-triggered`, `${new Date().toISOString()}\n`);
  for (const f of ['rollback-altboot-breadcrumb', 'rollback-health-breadcrumb']) rmSync(`${STATE}/${f}`, { force: true });
  run('sync', []);
  log.marker('rollback-altboot', 'done', `restored root ${running}; rebooting`);
  // This runs before the network is up: the report goes out after the reboot (report-pending).
  savePendingReport(100, 'OS update failed: rolled back (new OS did not boot)', 'failed');
  run('reboot', [], { allowFail: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`rollback-altboot: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
