/**
 * A real board in the lab, driven through the same interface as an emulated one (DeviceDriver):
 * its console over a serial port or a TCP serial server (logged, expect-able, writable), SSH to
 * its address, and power, network and flashing through the commands of the lab inventory.
 * Suites do not know which driver they have.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import path from 'node:path';
import { execa } from 'execa';
import { escapeRegExp, MARKERS } from '../../lib/contract/index.ts';
import { HuplabError, isHuplabError } from '../../lib/errors.ts';
import { holdings } from '../holdings.ts';
import type { Profile } from '../../lib/profile.ts';
import { SerialConsole } from '../console/log-console.ts';
import { DeviceSsh, shq } from '../ssh/client.ts';
import { readPrivateKey } from '../ssh/keys.ts';
import type { Capabilities } from '../driver/capabilities.ts';
import type { DeviceDriver, PowerOffOptions, WaitForOsOptions } from '../driver/driver.ts';
import { followBoot } from '../driver/follow-boot.ts';
import type { InventoryBoard } from './inventory.ts';
import { boardCommandLog, runBoardCommand } from './board-command.ts';
import { SerialBridge } from './serial-bridge.ts';

/** The kernel's power-down line, or the OS's shutdown marker followed by the kernel's halt. */
const POWERED_DOWN = new RegExp(
  `reboot: (Power down|System halted)|${escapeRegExp(MARKERS.shuttingDown)}[\\s\\S]*\\n.*(Power down|halted)`,
);
import { BoardStateMachine, type TransitionListener } from '../driver/state.ts';

export interface BoardPaths {
  dir: string;
  serialLog: string;
  serialSock: string;
  stateLog: string;
  knownHosts: string;
  commandLog: string;
}

export interface BoardDeviceOptions {
  board: InventoryBoard;
  /** The board's state folder (console log, known_hosts, command log). */
  dir: string;
  /** The lab's private key (the image authorises its public half through config.json). */
  sshKeyPath: string;
  onTransition?: TransitionListener;
  /** Longest a power/flash command may run. */
  commandTimeoutMs?: number;
}

const DEFAULT_OS_TIMEOUT_MS = 300_000; // real boards: firmware, U-Boot from SD, first-boot work

export class BoardDevice implements DeviceDriver {
  readonly name: string;
  readonly kind = 'board';
  /** A network link only where the inventory has the switch's commands. */
  readonly capabilities: Partial<Capabilities>;
  readonly state: BoardStateMachine;
  readonly console: SerialConsole;
  readonly paths: BoardPaths;
  readonly board: InventoryBoard;
  private readonly bridge: SerialBridge;
  private readonly opts: BoardDeviceOptions;
  private sshClient: DeviceSsh | undefined;
  private bootOffset = 0;
  /** The profile whose OS the board runs: the inventory's, until an advanced update changes it. */
  osLine: string;

  constructor(opts: BoardDeviceOptions) {
    this.opts = opts;
    this.board = opts.board;
    this.name = opts.board.name;
    this.osLine = opts.board.profile;
    this.capabilities = {
      ...(opts.board.network ? { networkLink: { setLink: (up: boolean) => this.setNetworkLink(up) } } : {}),
      // A real board's boot ROM reads the flash at every reset: nothing to do.
      firmwareFlash: { expectFirmwareReload: () => {} },
      profileChange: { adoptProfile: (profile) => this.adoptProfile(profile) },
    };
    const dir = path.resolve(opts.dir);
    fs.mkdirSync(dir, { recursive: true });
    this.paths = {
      dir,
      serialLog: path.join(dir, 'serial.log'),
      serialSock: path.join(dir, 'serial.sock'),
      stateLog: path.join(dir, 'state.log'),
      knownHosts: path.join(dir, 'known_hosts'),
      commandLog: boardCommandLog(dir),
    };
    this.state = new BoardStateMachine(this.name, {
      logFile: this.paths.stateLog,
      initial: 'off',
      ...(opts.onTransition ? { listener: opts.onTransition } : {}),
    });
    this.bridge = new SerialBridge({
      name: this.name,
      source: opts.board.serial,
      logPath: this.paths.serialLog,
      socketPath: this.paths.serialSock,
    });
    this.console = new SerialConsole(this.paths.serialLog, this.paths.serialSock, {
      name: `${this.name}/${this.bridge.describe}`,
    });
  }

  /** Opens the console without touching the power (to watch a board that is already on). */
  async openConsole(): Promise<void> {
    await this.bridge.start();
  }

  private async openConsoleWithin(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        await this.bridge.start();
        return;
      } catch (err) {
        if (!consoleNotThereYet(err) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Bytes the console has received since it was opened. */
  get consoleBytes(): number {
    return this.bridge.bytesIn;
  }

  // --- power ------------------------------------------------------------------------------

  async powerOn(): Promise<void> {
    this.state.assertUsable('power on');
    // The console first: a board prints its firmware banner in its first second. Some boards
    // power their own USB-serial bridge (Jetson devkits), some consoles are served by the board's
    // own controller: then the console appears with the power.
    const early = await this.bridge.start().then(
      () => true,
      (err: unknown) => {
        if (consoleNotThereYet(err)) return false;
        throw err;
      },
    );
    this.bootOffset = this.console.mark();
    this.dropSsh();
    await this.command('power on', this.board.power.on);
    // A board left powered by an interrupted run would keep running an update nobody follows.
    holdings.hold(this, {
      what: `board ${this.name}`,
      keepable: true,
      release: async () => {
        const was = this.state.current;
        await this.force('off');
        await this.close();
        return `switched off (it was ${was})`;
      },
    });
    if (!early) await this.openConsoleWithin(15_000);
    if (this.state.current !== 'firmware') this.state.transition('firmware', 'power on');
  }

  async powerOff(opts: PowerOffOptions = {}): Promise<void> {
    this.state.assertUsable('power off');
    if (opts.clean ?? true) {
      // As a person would: ask the OS to power off, wait until it says so, then switch off.
      const mark = this.console.mark();
      const ssh = await this.ssh();
      const asked = await ssh
        .exec('(sleep 1; poweroff) >/dev/null 2>&1 &', { timeoutMs: 10_000, connectTimeoutMs: 10_000 })
        .then(
          () => true,
          () => false,
        );
      if (asked) {
        await this.console
          .expect(POWERED_DOWN, {
            since: mark,
            timeoutMs: opts.timeoutMs ?? 60_000,
            what: `${this.name} to power down`,
          })
          .catch(() => undefined);
      }
    }
    await this.command('power off', this.board.power.off);
    this.markOff('power off');
  }

  /** The power switched off with no warning. What a board's storage loses is up to the board. */
  async powerCut(): Promise<void> {
    this.state.assertUsable('cut power');
    await this.command('power off', this.board.power.off);
    this.markOff('power cut');
  }

  async reset(): Promise<void> {
    this.state.assertUsable('reset');
    const offset = this.console.mark();
    if (this.board.power.cycle) {
      await this.command('power cycle', this.board.power.cycle);
    } else {
      await this.command('power off', this.board.power.off);
      await new Promise((r) => setTimeout(r, 1000));
      await this.command('power on', this.board.power.on);
    }
    this.bootOffset = offset;
    this.dropSsh();
    this.state.transition('firmware', 'reset (power cycle)');
  }

  /** Unplug or replug the board's network (the inventory's network commands). */
  private async setNetworkLink(up: boolean): Promise<void> {
    if (!this.board.network) throw new HuplabError('board-no-network-switch', `${this.name} has no network commands`);
    await this.command(up ? 'network up' : 'network down', up ? this.board.network.up : this.board.network.down);
  }

  // --- boot -------------------------------------------------------------------------------

  async waitForOs(opts: WaitForOsOptions = {}): Promise<void> {
    this.state.assertUsable('wait for the OS');
    if (opts.since !== undefined) {
      this.bootOffset = opts.since;
      this.dropSsh();
      if (this.state.current !== 'firmware') this.state.transition('firmware', 'reboot: waiting for the next boot');
    }
    await followBoot(this, { offset: this.bootOffset, timeoutMs: opts.timeoutMs ?? DEFAULT_OS_TIMEOUT_MS });
  }

  async ssh(): Promise<DeviceSsh> {
    this.sshClient ??= new DeviceSsh({
      host: this.board.ssh.host,
      port: this.board.ssh.port,
      user: this.board.ssh.user,
      privateKey: readPrivateKey(this.opts.sshKeyPath),
      knownHostsFile: this.paths.knownHosts,
      hostKeyAlias: this.name,
    });
    return this.sshClient;
  }

  async force(state: 'off' | 'os-ready'): Promise<void> {
    if (state === 'off') {
      await this.command('power off', this.board.power.off).catch(() => undefined);
      holdings.drop(this);
      this.state.force('off', 'force off');
      return;
    }
    try {
      await this.bridge.start();
      const r = await (await this.ssh()).exec('true', { timeoutMs: 10_000, connectTimeoutMs: 10_000 });
      if (r.code === 0) {
        this.state.force('os-ready', 'force os-ready: SSH answered');
        return;
      }
    } catch {
      // fall through to a power cycle
    }
    await this.command('power off', this.board.power.off).catch(() => undefined);
    this.state.force('off', 'force os-ready: power cycle');
    await new Promise((r) => setTimeout(r, 1000));
    await this.powerOn();
    await this.waitForOs();
  }

  // --- flashing ---------------------------------------------------------------------------

  /**
   * Writes a disk image to the board, as the inventory says: through its SD mux (switch the card
   * to this host, write it, switch it back), or from its running OS over SSH (the image streamed
   * into its disk, then a forced reboot). The board is off afterwards (SD mux) or rebooting.
   */
  async flash(image: string): Promise<void> {
    this.state.assertUsable('flash');
    const how = this.board.flash;
    if (!how)
      throw new HuplabError('board-no-flash', `${this.name} has no flash method in the inventory`, {
        hint: 'add flash.sdMux or flash.fromRunningOs',
      });
    if (!fs.existsSync(image))
      throw new HuplabError('image-missing', `image ${image} does not exist`, {
        hint: 'build it first (`huplab images build`)',
      });
    if ('sdMux' in how) {
      await this.command('power off', this.board.power.off);
      this.markOff('flash: powered off');
      await this.command('SD mux to host', how.sdMux.toHost, { HUPLAB_IMAGE: image });
      await waitFor(
        () => fs.existsSync(how.sdMux.hostDevice),
        30_000,
        `the SD card of ${this.name} to appear as ${how.sdMux.hostDevice}`,
      );
      await this.run(
        'write the image',
        'dd',
        [`if=${image}`, `of=${how.sdMux.hostDevice}`, 'bs=4M', 'conv=fsync,notrunc', 'status=none'],
        30 * 60_000,
      );
      await this.command('SD mux to board', how.sdMux.toDevice, { HUPLAB_IMAGE: image });
      return;
    }
    // From the running OS: the image streams into its own disk; nothing on it may be used after,
    // so the reboot is forced through sysrq, not a shutdown that would touch the disk.
    const ssh = await this.ssh();
    const disk = how.fromRunningOs.disk;
    await ssh.execOk(`test -b ${shq(disk)}`);
    const mark = this.console.mark();
    // Compressed on the way (an image is mostly empty space; the link is the slow part), written
    // by the board's own gunzip. Only the reboot goes to the background: the copy and its sync
    // must be over before this returns.
    await ssh.execOk(
      `gunzip -c > ${shq(disk)} && sync && echo 1 > /proc/sys/kernel/sysrq && { (sleep 1; echo b > /proc/sysrq-trigger) >/dev/null 2>&1 & }`,
      {
        stdin: fs.createReadStream(image).pipe(zlib.createGzip({ level: 1 })),
        timeoutMs: 60 * 60_000,
      },
    );
    this.bootOffset = mark;
    this.dropSsh();
    this.state.transition('firmware', 'flashed from the running OS: rebooting');
  }

  /** Forget the board's SSH host key (a new image has a new one). */
  forgetHostKey(): void {
    fs.rmSync(this.paths.knownHosts, { force: true });
  }

  /**
   * A real board's hardware is what the inventory says; after an advanced update its OS is the
   * new profile's line. The run goes on with it; the inventory is the lab's to update.
   */
  private async adoptProfile(profile: Profile): Promise<void> {
    fs.appendFileSync(
      this.paths.commandLog,
      `${new Date().toISOString()} OS line is now ${profile.name} (was ${this.osLine}): list the board under it in the lab inventory\n`,
    );
    this.osLine = profile.name;
  }

  async close(): Promise<void> {
    this.dropSsh();
    this.console.close();
    await this.bridge.close();
  }

  // --- internals --------------------------------------------------------------------------

  /** Runs one inventory command with the board's environment; its output goes to commands.log. */
  private command(what: string, cmd: string, env: Record<string, string> = {}): Promise<void> {
    return runBoardCommand(
      {
        name: this.name,
        dir: this.paths.dir,
        ...(this.opts.commandTimeoutMs !== undefined ? { timeoutMs: this.opts.commandTimeoutMs } : {}),
      },
      what,
      cmd,
      env,
    );
  }

  private async run(what: string, file: string, args: string[], timeoutMs: number): Promise<void> {
    const r = await execa(file, args, { reject: false, timeout: timeoutMs, stdin: 'ignore' });
    if (r.exitCode !== 0 || r.timedOut) {
      throw new HuplabError(
        'board-flash-failed',
        `${what} on ${this.name} failed: ${String(r.stderr).trim().split('\n').at(-1) || `exit ${r.exitCode}`}`,
        { hint: 'is the SD mux switched to this host and the device right?', infrastructure: true },
      );
    }
  }

  private markOff(reason: string): void {
    holdings.drop(this);
    this.dropSsh();
    if (this.state.current !== 'off') this.state.transition('off', reason);
  }

  private dropSsh(): void {
    this.sshClient?.close();
    this.sshClient = undefined;
  }
}

function consoleNotThereYet(err: unknown): boolean {
  return isHuplabError(err, 'serial-missing') || isHuplabError(err, 'serial-server-unreachable');
}

async function waitFor(probe: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline)
      throw new HuplabError(
        'board-flash-failed',
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`,
        { hint: 'check the SD mux command and hostDevice in the inventory', infrastructure: true },
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}
