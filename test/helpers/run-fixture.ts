/**
 * A command for test/cli-run.test.ts: holds a pretend device and a pretend server the way
 * drivers and backends do, then fails, finishes or waits for a signal, as argv says. What is
 * released is written to the file named by argv, so the test can see what was left behind.
 */
import { appendFileSync } from 'node:fs';
import { holdings } from '../../harness/holdings.ts';
import { run } from '../../harness/cli/run.ts';
import { HuplabError } from '../../lib/errors.ts';

const [mode, logFile, ...flags] = process.argv.slice(2);
const opts = { json: flags.includes('--json'), keep: flags.includes('--keep') };
const note = (line: string) => appendFileSync(logFile!, `${line}\n`);

const action = run(async (_o: typeof opts) => {
  holdings.hold(
    {},
    {
      what: 'backend',
      release: async () => {
        note('backend stopped');
        return 'stopped';
      },
    },
  );
  holdings.hold(
    {},
    {
      what: 'device a1',
      keepable: true,
      release: async () => {
        // As a VM's orderly power-off does, this takes a moment: room for a second signal.
        await new Promise((r) => setTimeout(r, 1000));
        note('device a1 powered off');
        return 'powered off (it was up)';
      },
      force: () => note('device a1 forced'),
    },
  );
  if (mode === 'fail') throw new HuplabError('boot-timeout', 'a1 did not boot', { hint: 'look at its console' });
  if (mode === 'wait') {
    note('waiting');
    // A real command waits on sockets and timers; so does this one, until a signal ends it.
    await new Promise(() => setInterval(() => {}, 1000));
  }
  return 0;
});
await action(opts);
