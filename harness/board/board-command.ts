/**
 * One command of the lab inventory (power, network, flash switch), run with sh on the lab host
 * for one board: with the board's name and state folder in its environment, its output and exit
 * status appended to the board's command log, and a failure as one line naming the command.
 * The board driver runs its power and flash commands through it; `huplab device link --board`
 * runs the network commands through it without taking the board's console.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';

export interface BoardCommandContext {
  /** The board's name (HUPLAB_BOARD). */
  name: string;
  /** The board's state folder (HUPLAB_BOARD_DIR); the command log is kept there. */
  dir: string;
  /** Longest the command may run (default 120 s). */
  timeoutMs?: number;
}

/** The command log of a board's state folder. */
export function boardCommandLog(dir: string): string {
  return path.join(dir, 'commands.log');
}

export async function runBoardCommand(
  ctx: BoardCommandContext,
  what: string,
  cmd: string,
  env: Record<string, string> = {},
): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(ctx.dir, { recursive: true });
  const log = boardCommandLog(ctx.dir);
  const r = await execa('sh', ['-c', cmd], {
    reject: false,
    timeout: ctx.timeoutMs ?? 120_000,
    stdin: 'ignore',
    all: true,
    env: { HUPLAB_BOARD: ctx.name, HUPLAB_BOARD_DIR: ctx.dir, ...env },
  });
  fs.appendFileSync(
    log,
    `${new Date().toISOString()} ${what}: ${cmd} -> ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`} (${Date.now() - started} ms)\n${r.all ? `${String(r.all).trimEnd()}\n` : ''}`,
  );
  if (r.timedOut || r.exitCode !== 0) {
    const last =
      String(r.all ?? '')
        .trim()
        .split('\n')
        .at(-1) ?? '';
    throw new HuplabError(
      'board-command-failed',
      `${what} of ${ctx.name} failed (${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}): ${cmd}${last ? `: ${last}` : ''}`,
      { hint: `check the command in the inventory; output in ${log}`, infrastructure: true },
    );
  }
}
