import { HuplabError } from '../../lib/errors.ts';
import { holdings, type ReleaseReport } from '../holdings.ts';
import { reportError } from './output.ts';

/** The options every command's action may carry that matter here. */
interface CommonOptions {
  json?: boolean;
  /** Leave the devices this command started running, even after an error or an interruption. */
  keep?: boolean;
}

export interface RunSettings {
  /**
   * 'own' (default): this process answers SIGINT/SIGTERM/SIGHUP by releasing what it started.
   * 'child': a child process (Playwright) gets the terminal's Ctrl-C and cleans up itself; this
   * process waits for it instead of dying first.
   * 'command': the command itself answers the signals (`huplab serve`: a signal is how it is
   * meant to stop, so it stops cleanly and exits 0).
   */
  interruptions?: 'own' | 'child' | 'command';
}

const EXIT_BY_SIGNAL: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/**
 * Wraps a command action: any error becomes one line (or a JSON error) and the exit status, so
 * no command ever ends with a stack trace for a mistake the user can fix; and whatever the
 * command started (harness/holdings.ts) is powered off or closed when it fails or is
 * interrupted, unless `--keep` asks to leave the devices running, so nothing is left behind.
 */
export function run<A extends unknown[]>(
  action: (...args: A) => Promise<void | number>,
  settings: RunSettings = {},
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = (args.find((a) => a && typeof a === 'object' && !Array.isArray(a)) ?? {}) as CommonOptions;
    const watch =
      settings.interruptions === 'child' || settings.interruptions === 'command' ? undefined : watchInterruptions(opts);
    try {
      const status = await action(...args);
      process.exitCode = typeof status === 'number' ? status : 0;
      // A command that finished keeps the devices it left running on purpose (`device start`,
      // `hup --keep`); its servers close with it.
      await holdings.releaseAll({ keepDevices: true });
    } catch (err) {
      if (watch?.interrupted) return; // the interruption reports, and exits
      process.exitCode = reportError(err, !!opts.json);
      const report = await holdings.releaseAll({ keepDevices: !!opts.keep });
      const line = describeRelease(report);
      if (line) process.stderr.write(`huplab: after the error: ${line}\n`);
    } finally {
      // Once interrupted, the handler stays for the second signal until the process exits.
      if (!watch?.interrupted) watch?.stop();
    }
  };
}

/** One phrase for what was released and kept, or '' when nothing was held. */
export function describeRelease(report: ReleaseReport): string {
  const parts = [...report.released];
  if (report.kept.length) parts.push(`${report.kept.join(', ')} kept running (--keep)`);
  return parts.join('; ');
}

/**
 * First signal: release what this process holds, say in one line what was left in which state,
 * exit 128+signal. Second signal: SIGKILL every held VM and exit at once.
 */
function watchInterruptions(opts: CommonOptions): { readonly interrupted: boolean; stop(): void } {
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = EXIT_BY_SIGNAL[signal] ?? 1;
    if (signalled) {
      holdings.forceAll();
      process.stderr.write(`huplab: ${signal} again: forced; every VM of this run was killed\n`);
      process.exit(code);
    }
    signalled = signal;
    const held = holdings.list();
    if (held.length)
      process.stderr.write(
        `huplab: ${signal}: stopping ${held.map((h) => h.what).join(', ')} (${signal === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to force)\n`,
      );
    void holdings.releaseAll({ keepDevices: !!opts.keep }).then((report) => {
      const what = describeRelease(report) || 'nothing of this run was left running';
      reportError(
        new HuplabError('interrupted', `interrupted by ${signal}: ${what}`, {
          hint: report.kept.length
            ? 'stop kept devices with `huplab device stop --name NAME`'
            : 'run the command again; device folders keep their console logs',
        }),
        !!opts.json,
      );
      process.exit(code);
    });
  };
  const signals = Object.keys(EXIT_BY_SIGNAL) as NodeJS.Signals[];
  for (const s of signals) process.on(s, onSignal);
  return {
    get interrupted() {
      return signalled !== undefined;
    },
    stop: () => {
      for (const s of signals) process.off(s, onSignal);
    },
  };
}
