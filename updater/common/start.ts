import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { UPDATER_EXIT } from '../../lib/contract/exit-codes.ts';
import { readDeviceConfig, type DeviceConfig } from './config.ts';
import { reexecUnderUpdateLock } from './exclusive.ts';
import { legacyLogDirs, UpdateLog } from './log.ts';
import { UPDATE_LOG_DIR } from '../../lib/contract/update-log.ts';

export type UpdateStart<A> = { exit: number } | { args: A; log: UpdateLog; config: DeviceConfig };

/**
 * The start the standard and the advanced updater share: their flags (a usage error exits 2),
 * the update lock (held elsewhere: 75), the log in /mnt/data/balenahup named as in the field
 * (and in /mnt/data/resinhup when that exists),
 * and config.json, without which nothing may be touched and the API cannot even be told.
 */
export function startUpdate<A>(name: string, logPrefix: string, parse: (argv: string[]) => A): UpdateStart<A> {
  let args: A;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${name}: ${isHuplabError(err) ? err.oneLine() : String(err)}\n`);
    return { exit: UPDATER_EXIT.usage };
  }
  const locked = reexecUnderUpdateLock(name, UPDATER_EXIT.locked, UPDATER_EXIT.failed);
  if (locked !== undefined) return { exit: locked };
  // Also in the field's legacy folder when the device has it: operators look in either.
  const log = new UpdateLog(UPDATE_LOG_DIR, logPrefix, { alsoIn: legacyLogDirs() });
  try {
    return { args, log, config: readDeviceConfig() };
  } catch (err) {
    const why = err instanceof HuplabError ? err.oneLine() : String(err);
    log.marker('checks', 'failed', why);
    log.line(`OS update failed: ${why} (the API cannot be told: its address is in config.json)`);
    return { exit: UPDATER_EXIT.failed };
  }
}

/** Runs an updater's main and exits with its status; an error that escapes it is printed and is a failure. */
export function exitWith(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(UPDATER_EXIT.failed);
    },
  );
}
