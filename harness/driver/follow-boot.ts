/**
 * Following one boot, the same for every driver: the bootloader's marker on the console
 * (firmware -> kernel), the OS's ready marker (kernel -> os-ready), then SSH. A failure on the way
 * marks the board failed (sticky until force()), with the error that says what was awaited.
 */
import { HuplabError } from '../../lib/errors.ts';
import { BOOTLOADER_BOOTING_LINE, MARKERS } from '../../lib/contract/index.ts';
import type { ConsoleLike } from '../console/log-console.ts';
import type { DeviceSsh } from '../ssh/client.ts';
import type { BoardStateMachine } from './state.ts';

export interface Followable {
  readonly name: string;
  readonly state: BoardStateMachine;
  readonly console: ConsoleLike;
  ssh(): Promise<DeviceSsh>;
}

export async function followBoot(
  d: Followable,
  opts: { offset: number; timeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  try {
    let offset = opts.offset;
    if (d.state.current === 'firmware') {
      const m = await d.console.expect(BOOTLOADER_BOOTING_LINE, {
        since: offset,
        timeoutMs: left(),
        what: `the bootloader of ${d.name} to boot a kernel`,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      offset = m.offset;
      d.state.transition('kernel', `bootloader: booting ${m.groups[0]?.trim() || '?'}`);
    }
    if (d.state.current === 'kernel') {
      await d.console.expect(MARKERS.osReady, {
        since: offset,
        timeoutMs: left(),
        what: `the OS of ${d.name} to report ready`,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      d.state.transition('os-ready', 'console: os ready');
    }
    const ssh = await d.ssh();
    await ssh.waitReady({ timeoutMs: Math.max(left(), 5000), what: `SSH of ${d.name}` });
  } catch (err) {
    if (d.state.current !== 'failed')
      d.state.fail(`waitForOs: ${err instanceof HuplabError ? err.oneLine() : (err as Error).message}`);
    throw err;
  }
}
