/**
 * Progress reporting for long steps (image builds, boots, updates). Libraries take a Progress and
 * call step(); the CLI decides how it is shown (spinner lines on a terminal, plain lines in CI,
 * nothing with --json), so library code never prints.
 */
export interface Progress {
  step<T>(title: string, fn: () => Promise<T>): Promise<T>;
  info(message: string): void;
}

/** A Progress that shows nothing; for tests and --json. */
export const silentProgress: Progress = {
  step: (_title, fn) => fn(),
  info: () => {},
};

/** Plain line output: one line when a step starts and one when it ends, with its duration. */
export function lineProgress(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Progress {
  return {
    async step(title, fn) {
      const started = Date.now();
      write(`… ${title}`);
      try {
        const result = await fn();
        write(`✓ ${title} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
        return result;
      } catch (err) {
        write(`✗ ${title} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
        throw err;
      }
    },
    info: (message) => write(`  ${message}`),
  };
}
