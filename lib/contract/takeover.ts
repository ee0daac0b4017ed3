/**
 * What takeover stage 2 (updater/takeover/stage2.sh) prints on the console besides its step
 * markers (steps.ts, source 'takeover'): every line of it starts with the prefix; the harness
 * keys on the reboot line, on failed progress reports, and on what the restore step kept.
 */
import { stepLine } from './steps.ts';

export const TAKEOVER_PREFIX = '[takeover] ';

/** Stage 2 is about to reboot (into the new OS after the flash, the old one before it). */
export const TAKEOVER_REBOOTING = `${TAKEOVER_PREFIX}rebooting`;

/**
 * Whether console text that began before stage 2's handover shows its reboot, and whether stage 2
 * rewrote the board's boot flash before it (then the board must read its flash afresh: an
 * emulated one is started again, see QemuDevice.reloadFirmware). Undefined: no reboot yet.
 */
export function takeoverReboot(text: string): { bootFlashRewritten: boolean } | undefined {
  if (!text.includes(TAKEOVER_REBOOTING)) return undefined;
  return { bootFlashRewritten: text.includes(stepLine('boot-flash', 'done', '', 'takeover')) };
}

/** Stage 2 could not send a progress report; the line goes on with the message and why. */
export const TAKEOVER_REPORT_FAILED = `${TAKEOVER_PREFIX}progress report failed`;

/** The restore step's detail: what was put on the new disk ("config.json system-connections ssh-host-keys"). */
export function keptDetail(kept: string): string {
  return `kept: ${kept}`;
}

/** What the restore step said it kept, from the first `kept: ...` in `text`. */
export function parseKept(text: string): string | undefined {
  return /kept: ([^\n]*)/.exec(text)?.[1];
}
