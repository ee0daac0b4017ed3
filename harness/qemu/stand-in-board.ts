/**
 * An emulated board for the board driver's own tests, and an example of an inventory's power
 * commands: QEMU with its console on a pseudo-terminal (a real tty, opened by the driver through
 * `serialport`, the code path of a USB-serial adapter), its power switched by these commands.
 *
 *   tsx harness/qemu/stand-in-board.ts on  DIR    # starts QEMU; DIR/tty -> its /dev/pts/N
 *   tsx harness/qemu/stand-in-board.ts off DIR    # the power switch: QEMU killed at once
 *   tsx harness/qemu/stand-in-board.ts rack DIR N [PROFILE]   # N such boards and their inventory
 *
 * A rack lets the board projects (`HUPLAB_INVENTORY=DIR/inventory.json playwright test --project
 * board-generic-amd64`) be tried on this machine with no hardware.
 *
 * DIR/qemu-board.json says what to run: { "profile": "generic-amd64", "disk": "/abs/disk.img",
 * "sshPort": 2222x, "console"?: "pty" | { "tcpPort": N } } (a TCP console stands in for ser2net). The console is not logged here: the driver logs what it reads from the tty.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { loadProfile } from '../../lib/profile.ts';
import { buildQemuArgs } from './args.ts';
import { probeAccelerator } from './kvm-probe.ts';
import { devicePaths } from './paths.ts';
import { isOurProcess, waitPidExit } from './process.ts';
import { withQmp } from './qmp.ts';
import { freePort } from './ports.ts';
import { repoRoot } from '../../lib/paths.ts';

export interface QemuBoardConfig {
  profile: string;
  disk: string;
  sshPort: number;
  /** Console on a pty (default; linked as DIR/tty) or served on 127.0.0.1:tcpPort. */
  console?: 'pty' | { tcpPort: number };
}

export async function qemuBoardOn(dir: string): Promise<string> {
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'qemu-board.json'), 'utf8')) as QemuBoardConfig;
  const profile = await loadProfile(cfg.profile);
  if (!profile.qemu) throw new HuplabError('not-emulated', `profile ${cfg.profile} has no QEMU section`);
  const paths = devicePaths(path.join(dir, 'vm'));
  fs.mkdirSync(paths.dir, { recursive: true });
  if (fs.existsSync(paths.pidFile) && isOurProcess(Number(fs.readFileSync(paths.pidFile, 'utf8')), paths.dir))
    return 'already on';
  const fw = profile.qemu.firmware;
  if (fw?.vars && !fs.existsSync(paths.varsFile)) fs.copyFileSync(fw.vars, paths.varsFile);
  const accel = /x86_64/.test(profile.qemu.binary) && process.arch === 'x64' ? await probeAccelerator() : 'tcg';
  const args = buildQemuArgs({
    name: path.basename(dir),
    profile: { qemu: profile.qemu, console: profile.console },
    diskPath: path.resolve(cfg.disk),
    sshPort: cfg.sshPort,
    accel,
    paths,
    serial: cfg.console ?? 'pty',
    // A board on the lab network: it reaches the lab host (and its backend) at LAB_HOST_ADDRESS.
    network: { kind: 'lan' },
  });
  const r = await execa(profile.qemu.binary, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0)
    throw new HuplabError('qemu-start-failed', `QEMU failed: ${String(r.stderr).trim().split('\n')[0]}`);
  if (typeof cfg.console === 'object') return `on: console on 127.0.0.1:${cfg.console.tcpPort}`;
  // Where the pty is: QMP knows (the "char device redirected" line is gone with -daemonize).
  const chardevs = await withQmp(
    paths.qmpSock,
    (q) => q.execute<Array<{ label: string; filename: string }>>('query-chardev'),
    { timeoutMs: 5000 },
  );
  const pty = chardevs.find((c) => c.label === 'ser0')?.filename.replace(/^pty:/, '');
  if (!pty) throw new HuplabError('qemu-board-no-pty', 'QEMU reports no pty for ser0');
  const link = path.join(dir, 'tty');
  fs.rmSync(link, { force: true });
  fs.symlinkSync(pty, link);
  return `on: ${link} -> ${pty}`;
}

export async function qemuBoardOff(dir: string): Promise<string> {
  const pidFile = devicePaths(path.join(dir, 'vm')).pidFile;
  if (!fs.existsSync(pidFile)) return 'already off';
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  if (!isOurProcess(pid, devicePaths(path.join(dir, 'vm')).dir)) return 'already off';
  process.kill(pid, 'SIGKILL');
  await waitPidExit(pid, 10_000);
  return 'off';
}

const TSX = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const SELF = path.join(repoRoot, 'harness', 'qemu', 'stand-in-board.ts');

/**
 * Writes one stand-in board (DIR/NAME/qemu-board.json) and returns its inventory entry: power by
 * this script, console on a pty (or TCP), SSH forwarded to a free port, its "SD card" a file
 * that the SD-mux flash path writes.
 */
export async function qemuBoardEntry(
  rack: string,
  name: string,
  profile: string,
  console: 'pty' | 'tcp' = 'pty',
): Promise<Record<string, unknown>> {
  const dir = path.join(path.resolve(rack), name);
  fs.mkdirSync(dir, { recursive: true });
  const sd = path.join(dir, 'sd.img');
  const sshPort = await freePort();
  const tcpPort = console === 'tcp' ? await freePort() : 0;
  const cfg: QemuBoardConfig = { profile, disk: sd, sshPort, ...(console === 'tcp' ? { console: { tcpPort } } : {}) };
  fs.writeFileSync(path.join(dir, 'qemu-board.json'), JSON.stringify(cfg, null, 2));
  return {
    name,
    profile,
    serial: console === 'tcp' ? { tcp: `127.0.0.1:${tcpPort}` } : { path: path.join(dir, 'tty'), baud: 115200 },
    ssh: { host: '127.0.0.1', port: sshPort },
    power: { on: `${TSX} ${SELF} on ${dir}`, off: `${TSX} ${SELF} off ${dir}` },
    network: { down: `${TSX} ${SELF} link-down ${dir}`, up: `${TSX} ${SELF} link-up ${dir}` },
    // The SD mux: switching the card to the host makes it appear; the driver writes it with dd.
    flash: { sdMux: { toHost: `touch ${sd}`, toDevice: 'true', hostDevice: sd } },
    tags: ['qemu-stand-in'],
  };
}

export async function writeQemuRack(rack: string, count: number, profile = 'generic-amd64'): Promise<string> {
  const boards = [];
  for (let i = 1; i <= count; i++) boards.push(await qemuBoardEntry(rack, `qemu-board-${i}`, profile));
  const file = path.join(path.resolve(rack), 'inventory.json');
  fs.writeFileSync(file, JSON.stringify({ lab: `stand-in rack ${path.basename(rack)}`, boards }, null, 2));
  return file;
}

async function setLink(dir: string, up: boolean): Promise<string> {
  await withQmp(devicePaths(path.join(dir, 'vm')).qmpSock, (q) => q.setLink('n0', up), { timeoutMs: 5000 });
  return `link ${up ? 'up' : 'down'}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [what, dir, n, profile] = process.argv.slice(2);
  const actions: Record<string, () => Promise<string>> = {
    on: () => qemuBoardOn(dir!),
    off: () => qemuBoardOff(dir!),
    'link-down': () => setLink(dir!, false),
    'link-up': () => setLink(dir!, true),
    rack: async () => `inventory: ${await writeQemuRack(dir!, Number(n ?? 2), profile)}`,
  };
  if (!what || !actions[what] || !dir) {
    process.stderr.write('usage: stand-in-board.ts on|off|link-down|link-up DIR | rack DIR N [PROFILE]\n');
    process.exit(2);
  }
  actions[what]!().then(
    (m) => process.stdout.write(`${m}\n`),
    (err: Error) => {
      process.stderr.write(`stand-in-board: ${err.message}\n`);
      process.exit(1);
    },
  );
}
