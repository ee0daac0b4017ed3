/**
 * The host's narration of its own long steps (image builds, boots, updates). Not to be confused
 * with an update's progress, which the device reports to the API (updater/common/progress.ts) and
 * the harness reads back as the outcome's `progress`. Libraries take a Narrator and call step();
 * the CLI decides how it is shown (plain lines on stderr, nothing under HUPLAB_QUIET), so library
 * code never prints.
 */
export interface Narrator {
  step<T>(title: string, fn: () => Promise<T>): Promise<T>;
  info(message: string): void;
}

/** A Narrator that says nothing; for tests. */
export const silentNarrator: Narrator = {
  step: (_title, fn) => fn(),
  info: () => {},
};

/** Plain line output: one line when a step starts and one when it ends, with its duration. */
export function lineNarrator(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Narrator {
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
