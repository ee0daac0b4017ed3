/**
 * Sends the progress report that an early-boot service (rollback-altboot) had to keep on the
 * state partition, once the network is up; removes it only when the API has it.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { readDeviceConfig } from '../common/config.ts';
import { PENDING_REPORT, ProgressReporter } from '../common/progress.ts';

async function main(): Promise<void> {
  if (!existsSync(PENDING_REPORT)) return;
  const r = JSON.parse(readFileSync(PENDING_REPORT, 'utf8')) as { percent: number; message: string; status: string };
  const sent = await new ProgressReporter(readDeviceConfig(), (m) => process.stderr.write(`${m}\n`)).report(
    r.percent,
    r.message,
    r.status,
    10,
  );
  if (sent) rmSync(PENDING_REPORT, { force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`report-pending: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
