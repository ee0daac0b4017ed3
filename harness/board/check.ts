/**
 * Which boards of an inventory answer: their console opens (and says anything within a moment),
 * and SSH runs a command. Nothing is switched: a board that is off simply does not answer SSH.
 */
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { BoardDevice } from './board-device.ts';
import type { Inventory, InventoryBoard } from './inventory.ts';

export interface BoardCheck {
  name: string;
  profile: string;
  console: string;
  consoleOk: boolean;
  ssh: string;
  sshOk: boolean;
  version?: string;
}

export async function checkBoard(
  board: InventoryBoard,
  opts: { dir: string; sshKeyPath: string; listenMs?: number },
): Promise<BoardCheck> {
  const d = new BoardDevice({ board, dir: opts.dir, sshKeyPath: opts.sshKeyPath });
  const where = 'tcp' in board.serial ? `tcp ${board.serial.tcp}` : board.serial.path;
  const out: BoardCheck = {
    name: board.name,
    profile: board.profile,
    console: '',
    consoleOk: false,
    ssh: '',
    sshOk: false,
  };
  try {
    try {
      await d.openConsole();
      await new Promise((r) => setTimeout(r, opts.listenMs ?? 1500));
      out.consoleOk = true;
      out.console = `${where}: open${d.consoleBytes ? `, ${d.consoleBytes} bytes heard` : ', silent'}`;
    } catch (err) {
      out.console = `${where}: ${isHuplabError(err) ? err.message : (err as Error).message}`;
    }
    try {
      const ssh = await d.ssh();
      const r = await ssh.exec('. /etc/os-release; echo "$VERSION_ID"', { timeoutMs: 8000, connectTimeoutMs: 8000 });
      if (r.code !== 0) throw new HuplabError('ssh-failed', `exit ${r.code}`);
      out.sshOk = true;
      out.version = r.stdout.trim();
      out.ssh = `${board.ssh.user}@${board.ssh.host}:${board.ssh.port}: answers (OS ${out.version || '?'})`;
    } catch (err) {
      out.ssh = `${board.ssh.user}@${board.ssh.host}:${board.ssh.port}: no answer (${(err as Error).message.split('\n')[0]})`;
    }
  } finally {
    await d.close();
  }
  return out;
}

export async function checkInventory(
  inv: Inventory,
  opts: { boardsDir: (name: string) => string; sshKeyPath: string },
): Promise<BoardCheck[]> {
  // One at a time: boards may share a serial server, and the output reads in inventory order.
  const out: BoardCheck[] = [];
  for (const b of inv.boards)
    out.push(await checkBoard(b, { dir: opts.boardsDir(b.name), sshKeyPath: opts.sshKeyPath }));
  return out;
}
