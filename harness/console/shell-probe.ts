/**
 * Does the serial console give a shell? Types the contract's probe (lib/contract/variant.ts): a
 * newline, `root`, an empty password and a command whose answer only a shell can print, a few
 * times until `timeoutMs`. A development image answers (busybox getty, root without password);
 * a production image must not. The harness itself never needs a console shell: it drives devices
 * over SSH and only reads the console.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CONSOLE_PROBE } from '../../lib/contract/index.ts';
import { ConsoleTimeoutError, type ConsoleLike } from './log-console.ts';

export interface ShellProbe {
  /** A shell ran the typed command. */
  shell: boolean;
  /** The console lines seen since the probe started (for a report). */
  seen: string[];
}

export async function probeConsoleShell(console: ConsoleLike, opts: { timeoutMs?: number } = {}): Promise<ShellProbe> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const since = console.mark();
  const deadline = Date.now() + timeoutMs;
  const [wake, user, password, command] = CONSOLE_PROBE.lines;
  // The whole sequence again each round: a getty that was respawning, or a login that flushed
  // what was typed before it read it, gets another chance; a shell reached early runs `root` and
  // the empty line as harmless commands.
  while (Date.now() < deadline) {
    await console.write(`${wake}\r`);
    await sleep(1_000);
    await console.write(`${user}\r`);
    await sleep(2_000);
    await console.write(`${password}\r`);
    await sleep(1_000);
    await console.write(`${command}\r`);
    try {
      await console.expect(CONSOLE_PROBE.answer, {
        since,
        timeoutMs: Math.max(1_000, Math.min(5_000, deadline - Date.now())),
        what: 'the answer of a command typed on the serial console',
      });
      return { shell: true, seen: console.lastLines(20) };
    } catch (err) {
      if (!(err instanceof ConsoleTimeoutError)) throw err;
    }
  }
  return { shell: false, seen: console.lastLines(20) };
}

/** Leaves a console shell the probe may have opened (a development device shared by tests). */
export async function leaveConsoleShell(console: ConsoleLike): Promise<void> {
  await console.write('exit\r');
}
