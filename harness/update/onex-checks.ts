/**
 * Runs the resinOS 1.x updates' checks on a 1.x device (updater/onex/checks-main.ts, bundled as
 * the updaters are) and reads what they said through the contract (lib/contract/onex.ts).
 */
import { onexChecksCommand, ONEX_CHECKS_PATH, parseOnexChecks } from '../../lib/contract/onex.ts';
import { ONEX_CHECKS_ENTRY } from '../../updater/bundle.ts';
import { updaterBundle } from '../backend/artifacts.ts';
import type { DeviceDriver } from '../driver/driver.ts';

export interface OnexChecksResult {
  code: number;
  stdout: string;
  passed: Array<{ name: string; detail: string }>;
  refused?: { code: string; message: string };
}

export async function runOnexChecks(
  device: DeviceDriver,
  opts: { method: '1.x' | '1.x-to-2.x'; dataLimit?: number },
): Promise<OnexChecksResult> {
  const bundle = await updaterBundle(ONEX_CHECKS_ENTRY, 'hup-1x-checks');
  const ssh = await device.ssh();
  await ssh.putFile(bundle.path, ONEX_CHECKS_PATH);
  const r = await ssh.exec(onexChecksCommand(opts), { timeoutMs: 5 * 60_000 });
  return { code: r.code ?? -1, stdout: r.stdout, ...parseOnexChecks(r.stdout) };
}
