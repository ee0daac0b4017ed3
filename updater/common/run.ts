import { spawnSync } from 'node:child_process';
import { HuplabError } from '../../lib/errors.ts';

/** Runs a device program to completion; a failure carries its stderr in one line. */
export function run(
  cmd: string,
  args: string[],
  opts: { allowFail?: boolean; input?: string } = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: opts.input, maxBuffer: 16 << 20 });
  const result = {
    code: r.status ?? (r.error ? 127 : 1),
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? r.error?.message ?? '',
  };
  if (result.code !== 0 && !opts.allowFail) {
    throw new HuplabError(
      'command-failed',
      `${cmd} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim().split('\n').at(-1) ?? ''}`,
    );
  }
  return result;
}
