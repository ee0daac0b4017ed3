import { reportError } from './output.ts';

/**
 * Wraps a command action: any error becomes one line (or a JSON error) and the exit status, so
 * no command ever ends with a stack trace for a mistake the user can fix.
 */
export function run<A extends unknown[]>(
  action: (...args: A) => Promise<void | number>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const opts = args.find((a) => a && typeof a === 'object' && !Array.isArray(a)) as { json?: boolean } | undefined;
    try {
      const status = await action(...args);
      process.exitCode = typeof status === 'number' ? status : 0;
    } catch (err) {
      process.exitCode = reportError(err, !!opts?.json);
    }
  };
}
