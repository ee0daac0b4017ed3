/**
 * An emulated device: a daemonized QEMU process with its serial console logged to a file, its
 * monitor on a QMP socket and its SSH port forwarded to 127.0.0.1. Everything lives in the
 * device folder, so another process can pick the device up again with QemuDevice.attach(dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { HuplabError } from '../../lib/errors.ts';
import { holdings } from '../holdings.ts';
import { escapeRegExp, MARKERS, TAKEOVER_REBOOTING } from '../../lib/contract/index.ts';
import type { Capabilities, PowerCutOptions } from '../driver/capabilities.ts';
import type { DeviceDriver, PowerOffOptions, WaitForOsOptions } from '../driver/driver.ts';
import { BoardStateMachine, type BoardState, type TransitionListener } from '../driver/state.ts';
import { followBoot } from '../driver/follow-boot.ts';
import { SerialConsole } from '../console/log-console.ts';
import { labDir as defaultLabDir } from '../../lib/paths.ts';
import { DeviceSsh } from '../ssh/client.ts';
import { ensureLabKey, readPrivateKey } from '../ssh/keys.ts';
import { buildQemuArgs, GUEST_FORWARDER, shellQuote } from './args.ts';
import { readLabHost } from '../../lib/contract/lab-host.ts';
import { VolatileDisk, type CutResult } from './volatile-disk.ts';
import { readDeviceRecord, writeDeviceRecord, type DeviceRecord } from './device-record.ts';
import { onPath, probeAccelerator, qemuMissing, type Accel } from './kvm-probe.ts';
import { BootPartition } from '../disk/boot-partition.ts';
import { devicePaths, MAX_SOCKET_PATH, type DevicePaths } from './paths.ts';
import { freePort } from './ports.ts';
import { isOurProcess, waitPidExit } from './process.ts';
import type { QemuProfile } from './profile.ts';
import type { Profile } from '../../lib/profile.ts';
import { withQmp, type QmpClient } from './qmp.ts';

export interface QemuDeviceOptions {
  name: string;
  /** Device state folder (console log, sockets, firmware vars, device.json). */
  dir: string;
  profile: QemuProfile;
  /** Raw disk image; the VM writes to it in place. */
  diskPath: string;
  /** Host port forwarded to the guest's SSH; default: a free one at each power-on. */
  sshPort?: number;
  /** Default: probed (KVM only if a guest really runs under it). */
  accel?: Accel;
  /** Where the lab SSH key and the probe cache live; default: lib/paths.ts labDir(). */
  labDir?: string;
  /** Use this private key instead of the lab key. */
  sshKeyPath?: string;
  onTransition?: TransitionListener;
  /**
   * Serve the disk through a volatile write cache (harness/qemu/volatile-disk.ts), so that a
   * power cut loses the writes the guest never flushed, as on a real device. The disk then lives
   * with this process: close() cuts the power of a VM still running.
   */
  volatileCache?: { cacheBytes?: number };
  /**
   * Start from a folder written by saveState instead of a cold boot (the first power-on only;
   * after a power cut the device boots cold, as a board would): QEMU loads its machine
   * state at start (`-incoming exec:cat FILE`) and runs on from where the saved VM stopped. The
   * disk must be a copy of the one saved with it; the command line may differ only in files,
   * sockets and ports (the SSH forward is this instance's own).
   */
  incoming?: string;
}

/** In a folder written by saveState: the machine state and the disk saved with it. */
export const SAVED_STATE = 'machine.state';
export const SAVED_DISK = 'disk.img';
/** The saved boot's id (the kernel's boot_id): a copy that boots anew instead of resuming differs. */
export const SAVED_BOOT_ID = 'boot-id';
const BOOT_ID = '/proc/sys/kernel/random/boot_id';

const DEFAULT_OS_TIMEOUT_MS = 180_000; // TCG: OVMF alone takes about 8 s, a full boot 15-60 s
const START_ATTEMPTS_WITH_FREE_PORT = 3;

export class QemuDevice implements DeviceDriver {
  readonly name: string;
  readonly kind = 'qemu';
  /** Every emulated board can drop its link and reload its flash; a volatile disk only when asked for. */
  readonly capabilities: Partial<Capabilities>;
  readonly state: BoardStateMachine;
  readonly console: SerialConsole;
  readonly paths: DevicePaths;
  private readonly opts: QemuDeviceOptions;
  private record: DeviceRecord | undefined;
  private sshClient: DeviceSsh | undefined;
  /** Console offset where the current boot began: markers before it belong to older boots. */
  private bootOffset = 0;
  private vdisk: VolatileDisk | undefined;
  private firmwareReloadPending = false;
  /** Powered on once already: a saved state (opts.incoming) is not loaded again. */
  private restored = false;

  /** `initial`: where an attached device already is (not a transition, so not logged). */
  constructor(opts: QemuDeviceOptions, initial: BoardState = 'off') {
    this.opts = opts;
    this.name = opts.name;
    this.paths = devicePaths(opts.dir);
    this.capabilities = {
      networkLink: { setLink: (up) => this.setNetworkLink(up) },
      firmwareFlash: { expectFirmwareReload: () => this.expectFirmwareReload() },
      profileChange: { adoptProfile: (profile) => this.adoptProfile(profile) },
      ...(opts.volatileCache
        ? { volatileDisk: { powerCut: async (o) => (await this.cutPower(o)) ?? { lostBlocks: 0, keptBlocks: 0 } } }
        : {}),
    };
    const stateOpts: ConstructorParameters<typeof BoardStateMachine>[1] = { logFile: this.paths.stateLog, initial };
    if (opts.onTransition) stateOpts.listener = opts.onTransition;
    this.state = new BoardStateMachine(opts.name, stateOpts);
    this.console = new SerialConsole(this.paths.serialLog, this.paths.serialSock, {
      name: `${opts.name}/${opts.profile.console.device}`,
    });
  }

  /** Rebuild a handle for a device started by another process, from its folder. */
  static attach(dir: string, opts: { onTransition?: TransitionListener } = {}): QemuDevice {
    const paths = devicePaths(dir);
    const rec = readDeviceRecord(paths.deviceJson);
    const devOpts: QemuDeviceOptions = {
      name: rec.name,
      dir: paths.dir,
      profile: rec.profile,
      diskPath: rec.diskPath,
      sshPort: rec.sshPort,
      accel: rec.accel,
      sshKeyPath: rec.sshKeyPath,
    };
    if (opts.onTransition) devOpts.onTransition = opts.onTransition;
    const running = isOurProcess(rec.pid, paths.dir);
    const con = new SerialConsole(paths.serialLog, paths.serialSock);
    const dev = new QemuDevice(devOpts, running ? stateFromConsole(con.text(rec.bootOffset)) : 'off');
    dev.record = rec;
    dev.bootOffset = rec.bootOffset;
    return dev;
  }

  /** Pid of the running VM, if any. */
  get pid(): number | undefined {
    return this.isRunning() ? this.record?.pid : undefined;
  }

  get sshPort(): number | undefined {
    return this.record?.sshPort ?? this.opts.sshPort;
  }

  /** The board this device emulates (its profile's QEMU and console sections). */
  get profileOfBoard(): QemuProfile {
    return this.opts.profile;
  }

  get accel(): Accel | undefined {
    return this.record?.accel;
  }

  /** True if this device's QEMU process is alive (a reused pid does not count). */
  isRunning(): boolean {
    return this.record !== undefined && isOurProcess(this.record.pid, this.paths.dir);
  }

  // --- power ------------------------------------------------------------------------------

  async powerOn(): Promise<void> {
    this.state.assertUsable('power on');
    if (this.isRunning()) {
      throw new HuplabError('device-running', `${this.name} is already running (pid ${this.record!.pid})`, {
        hint: `stop it first (\`huplab device stop ${this.name}\`)`,
      });
    }
    if (this.state.current !== 'off') this.state.transition('off', 'QEMU process is gone');
    const q = this.opts.profile.qemu;
    const diskPath = path.resolve(this.opts.diskPath);
    // The saved state is this device's first power-on only: after a power cut it boots cold.
    const incoming = this.restored ? undefined : this.opts.incoming;
    this.restored = true;
    if (incoming) {
      // The firmware flash as it was saved (the machine state holds its contents too).
      fs.mkdirSync(this.paths.dir, { recursive: true });
      for (const f of [this.paths.varsFile, this.paths.flashFile]) {
        const saved = path.join(incoming, path.basename(f));
        if (fs.existsSync(saved)) fs.copyFileSync(saved, f);
      }
    }
    this.prepareFolder(diskPath);
    const accel = this.opts.accel ?? (await this.pickAccel());
    // Read once for both: the partition table is probed at each open.
    const boot = BootPartition.open(diskPath);
    if (q.dtb) await this.readDeviceTree(boot, q.dtb);
    const labHostPorts = await this.readLabHostPorts(boot);
    const sshKeyPath = this.sshKeyPath();
    if (this.opts.volatileCache && !this.vdisk) {
      const vdisk = new VolatileDisk({
        imagePath: diskPath,
        socketPath: path.join(this.paths.dir, 'nbd.sock'),
        ...this.opts.volatileCache,
      });
      await vdisk.listen();
      this.vdisk = vdisk;
    }
    const diskSocket = this.vdisk ? path.join(this.paths.dir, 'nbd.sock') : undefined;

    const attempts = this.opts.sshPort === undefined ? START_ATTEMPTS_WITH_FREE_PORT : 1;
    for (let attempt = 1; ; attempt++) {
      const sshPort = this.opts.sshPort ?? (await freePort());
      const args = buildQemuArgs({
        name: this.name,
        profile: this.opts.profile,
        diskPath,
        ...(diskSocket ? { diskSocket } : {}),
        sshPort,
        accel,
        paths: this.paths,
        network: { kind: 'restricted', labHostPorts },
        ...(incoming ? { incoming: path.join(incoming, SAVED_STATE) } : {}),
      });
      fs.rmSync(this.paths.pidFile, { force: true });
      const bootOffset = this.console.mark();
      // With -daemonize the parent returns once the VM is set up; its stderr has any setup error.
      const res = await execa(q.binary, args, { reject: false, timeout: 60_000, stdin: 'ignore' });
      if (res.code === 'ENOENT') throw qemuMissing(q.binary);
      if (res.exitCode !== 0 || res.failed) {
        const stderr = `${res.stderr ?? ''}`.trim();
        fs.writeFileSync(this.paths.startLog, `${q.binary} ${args.join(' ')}\n\n${stderr}\n`);
        if (/Could not set up host forwarding rule/i.test(stderr)) {
          if (attempt < attempts) continue; // our free port was taken meanwhile: pick another
          throw new HuplabError(
            'port-in-use',
            `cannot forward SSH of ${this.name}: port ${sshPort} on 127.0.0.1 is in use`,
            {
              hint: `choose another sshPort or leave it unset to get a free one; \`ss -ltnp 'sport = :${sshPort}'\` shows who holds it`,
              infrastructure: true,
            },
          );
        }
        const first = stderr.split('\n').find((l) => l.trim() !== '') ?? res.shortMessage ?? 'no output';
        throw new HuplabError('qemu-start-failed', `QEMU failed to start ${this.name}: ${first}`, {
          hint: `full command and output in ${this.paths.startLog}`,
          infrastructure: true,
        });
      }
      const pid = Number(fs.readFileSync(this.paths.pidFile, 'utf8').trim());
      this.record = {
        name: this.name,
        pid,
        sshPort,
        accel,
        startedAt: new Date().toISOString(),
        bootOffset,
        diskPath,
        sshKeyPath,
        profile: this.opts.profile,
        qemuBinary: q.binary,
        qemuArgs: args,
      };
      this.bootOffset = bootOffset;
      writeDeviceRecord(this.paths.deviceJson, this.record);
      this.holdUntilOff(pid);
      this.dropSsh();
      this.state.transition('firmware', `power on: pid ${pid}, ${accel}, ssh on 127.0.0.1:${sshPort}`);
      return;
    }
  }

  async powerOff(opts: PowerOffOptions = {}): Promise<void> {
    this.state.assertUsable('power off');
    const clean = opts.clean ?? true;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    if (!this.isRunning()) {
      this.markOff('already off');
      return;
    }
    const pid = this.record!.pid;
    if (clean) {
      // ACPI power button: the guest must handle it (busybox acpid / kernel poweroff), like a board.
      await this.qmp((q) => q.systemPowerdown()).catch(() => undefined);
      if (await waitPidExit(pid, timeoutMs)) {
        this.markOff('powered off by the OS');
        return;
      }
    }
    await this.stopNow(pid);
    this.markOff(
      clean ? `the OS did not power off within ${Math.round(timeoutMs / 1000)}s: QEMU stopped` : 'QEMU stopped',
    );
  }

  /**
   * SIGKILL of QEMU: the guest's RAM is gone; with a volatile-cache disk, so are the writes it
   * never flushed (all of them, or a seeded random part with `keep: 'random'`).
   */
  async powerCut(): Promise<void> {
    await this.cutPower();
  }

  private async cutPower(opts: PowerCutOptions = {}): Promise<CutResult | undefined> {
    this.state.assertUsable('cut power');
    this.kill();
    const dead = !this.record || (await waitPidExit(this.record.pid, 10_000));
    const lost = dead ? this.vdisk?.cut(opts) : undefined;
    if (!dead && this.record) {
      throw new HuplabError('qemu-unkillable', `QEMU of ${this.name} (pid ${this.record.pid}) survived SIGKILL`, {
        hint: 'the process is stuck in the kernel (D state?); check `ps -o stat,wchan -p <pid>`',
        infrastructure: true,
      });
    }
    this.markOff(
      lost ? `power cut: ${lost.lostBlocks} unflushed 4 KiB blocks lost, ${lost.keptBlocks} kept` : 'power cut',
    );
    return lost;
  }

  /**
   * Saves the running VM into the folder `into`: its machine state (RAM, CPU, devices) through
   * QEMU's migration (`machine.state`), then its disk as the guest left it (`disk.img`), every
   * write it handed over made durable (the migration ends with a flush), and its firmware flash
   * files; then the VM is off. A device started with `incoming: into` on a copy of that disk
   * runs on from that moment. SSH sessions are closed first, so no copy inherits a half-open one.
   */
  async saveState(into: string, timeoutMs = 120_000): Promise<void> {
    const stateFile = path.join(into, SAVED_STATE);
    this.state.assertUsable('save the machine state');
    this.requireRunning('save the machine state');
    // The boot the state belongs to: a copy must resume this one, not boot anew.
    const bootId = (await (await this.ssh()).execOk(`cat ${BOOT_ID}`)).trim();
    fs.writeFileSync(path.join(into, SAVED_BOOT_ID), `${bootId}\n`);
    this.dropSsh();
    await new Promise((r) => setTimeout(r, 1_000));
    const deadline = Date.now() + timeoutMs;
    await this.qmp(async (q) => {
      // Stopped first, so the state is one consistent pass: a live migration of a busy TCG guest
      // produced a state whose copies all panicked in the kernel's timer tree on resuming.
      await q.execute('stop');
      await q.execute('migrate', { uri: `exec:cat > ${shellQuote(stateFile)}` });
      for (;;) {
        const m = await q.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (m.status === 'completed') return;
        if (m.status === 'failed' || m.status === 'cancelled')
          throw new HuplabError(
            'save-failed',
            `saving ${this.name}'s machine state failed: ${m['error-desc'] ?? m.status}`,
            {
              infrastructure: true,
            },
          );
        if (Date.now() > deadline)
          throw new HuplabError('save-failed', `saving ${this.name}'s machine state took over ${timeoutMs / 1000} s`, {
            infrastructure: true,
          });
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    this.kill();
    await waitPidExit(this.record!.pid, 10_000);
    const vdisk = this.vdisk;
    this.vdisk = undefined;
    // Whatever the migration's flush made durable is in the image; the cache is empty by then.
    await vdisk?.close({ flush: true });
    await execa('cp', [
      '--reflink=auto',
      '--sparse=always',
      path.resolve(this.opts.diskPath),
      path.join(into, SAVED_DISK),
    ]);
    for (const f of [this.paths.varsFile, this.paths.flashFile])
      if (fs.existsSync(f)) fs.copyFileSync(f, path.join(into, path.basename(f)));
    this.markOff(`machine state saved to ${stateFile}`);
  }

  /**
   * After powerOn of a device started from a saved state: waits until the state is loaded and the
   * VM runs, then until SSH answers through this instance's own forwarded port.
   */
  async waitForRestore(timeoutMs = 120_000): Promise<void> {
    this.requireRunning('wait for the restored machine');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.isRunning())
        throw new HuplabError('restore-failed', `QEMU of ${this.name} exited while loading its saved state`, {
          hint: `see ${this.paths.startLog} and the saved state's size`,
          infrastructure: true,
        });
      const st = await this.qmp((q) => q.queryStatus()).catch(() => undefined);
      if (st?.status === 'running') break;
      // The saved machine was stopped: once its state is loaded, the copy waits to be let go.
      if (st?.status === 'paused') await this.qmp((q) => q.execute('cont')).catch(() => undefined);
      if (Date.now() > deadline)
        throw new HuplabError(
          'restore-failed',
          `${this.name} did not run its saved state within ${timeoutMs / 1000} s`,
          {
            infrastructure: true,
          },
        );
      await new Promise((r) => setTimeout(r, 200));
    }
    for (;;) {
      try {
        const r = await (await this.ssh()).exec('true', { timeoutMs: 10_000, connectTimeoutMs: 10_000 });
        if (r.code === 0) break;
      } catch {
        // the guest's network catches up with its new forwarder
      }
      if (Date.now() > deadline)
        throw new HuplabError('restore-failed', `${this.name} runs its saved state but SSH does not answer`, {
          infrastructure: true,
        });
      this.dropSsh();
      await new Promise((r) => setTimeout(r, 500));
    }
    const saved = fs.readFileSync(path.join(this.opts.incoming!, SAVED_BOOT_ID), 'utf8').trim();
    const now = (await (await this.ssh()).execOk(`cat ${BOOT_ID}`)).trim();
    if (now !== saved)
      throw new HuplabError(
        'restore-failed',
        `${this.name} booted anew instead of resuming its saved state (boot ${now}, saved ${saved})`,
        { hint: `see its console, ${this.paths.serialLog}`, infrastructure: true },
      );
    this.state.force('os-ready', 'restored from a saved machine state: SSH answered');
  }

  async reset(): Promise<void> {
    this.state.assertUsable('reset');
    this.requireRunning('reset');
    const offset = this.console.mark();
    await this.qmp((q) => q.systemReset());
    this.setBootOffset(offset);
    this.dropSsh();
    this.state.transition('firmware', 'reset');
  }

  /** Plug or unplug the virtual network cable (fault injection: network drop). */
  private async setNetworkLink(up: boolean): Promise<void> {
    this.state.assertUsable(`${up ? 'connect' : 'disconnect'} the network`);
    this.requireRunning('change the network link');
    await this.qmp((q) => q.setLink('n0', up));
  }

  /** Run QMP commands on this VM (one short connection; QMP serves one client at a time). */
  qmp<T>(fn: (q: QmpClient) => Promise<T>): Promise<T> {
    return withQmp(this.paths.qmpSock, fn, { timeoutMs: 5000 });
  }

  // --- boot -------------------------------------------------------------------------------

  private expectFirmwareReload(): void {
    this.firmwareReloadPending = true;
  }

  /**
   * QEMU keeps the translated code of the firmware it ran across a warm reset, so after the guest
   * rewrote its boot flash the reset hangs in stale code. The board's boot ROM would read the
   * flash afresh: the driver plays that part by starting QEMU again (same command line, the
   * flash files as the guest left them) as soon as the guest's reset is on the console (after
   * the console offset `since`). A run following its own update gets here through
   * expectFirmwareReload and waitForOs; the lab server calls it for its devices' fleet updates.
   */
  async reloadFirmware(since: number, deadline: number): Promise<void> {
    this.firmwareReloadPending = false;
    const reset = new RegExp(`reboot: Restarting system|${escapeRegExp(TAKEOVER_REBOOTING)}`);
    while (!reset.test(this.console.text(since))) {
      if (Date.now() > deadline)
        throw new HuplabError('reset-missing', `${this.name} never reset after its boot flash was rewritten`, {
          hint: `see ${this.paths.serialLog}`,
        });
      await new Promise((res) => setTimeout(res, 200));
    }
    // The kernel prints its restart line just before the reset: let it happen, then restart.
    await new Promise((res) => setTimeout(res, 1_000));
    await this.powerOff({ clean: false });
    await this.powerOn();
  }

  async waitForOs(opts: WaitForOsOptions = {}): Promise<void> {
    this.state.assertUsable('wait for the OS');
    this.requireRunning('wait for the OS');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_OS_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    if (this.firmwareReloadPending) {
      await this.reloadFirmware(opts.since ?? this.bootOffset, deadline);
    } else if (opts.since !== undefined) {
      this.setBootOffset(opts.since);
      this.dropSsh();
      if (this.state.current !== 'firmware') this.state.transition('firmware', 'reboot: waiting for the next boot');
    }

    // Fail fast if the VM dies instead of waiting out the whole timeout.
    const abort = new AbortController();
    const watch = setInterval(() => {
      if (!this.isRunning()) {
        abort.abort(
          new HuplabError('qemu-exited', `QEMU of ${this.name} exited while waiting for the OS`, {
            hint: `see the console log ${this.paths.serialLog}`,
          }),
        );
      }
    }, 500);
    try {
      await followBoot(this, { offset: this.bootOffset, timeoutMs: left(), signal: abort.signal });
    } finally {
      clearInterval(watch);
    }
  }

  async ssh(): Promise<DeviceSsh> {
    if (!this.record) {
      throw new HuplabError('device-not-running', `${this.name} has never been started here`, {
        hint: 'power it on first',
      });
    }
    this.sshClient ??= new DeviceSsh({
      host: '127.0.0.1',
      port: this.record.sshPort,
      privateKey: readPrivateKey(this.record.sshKeyPath),
      knownHostsFile: this.paths.knownHosts,
      // The forwarded port changes from boot to boot; the device's identity does not.
      hostKeyAlias: this.name,
    });
    return this.sshClient;
  }

  /** Forget the device's SSH host key (after writing a new image to its disk). */
  forgetHostKey(): void {
    fs.rmSync(this.paths.knownHosts, { force: true });
  }

  async force(state: 'off' | 'os-ready'): Promise<void> {
    if (state === 'off') {
      this.kill();
      if (this.record) await waitPidExit(this.record.pid, 10_000);
      holdings.drop(this);
      this.state.force('off', 'force off');
      return;
    }
    if (this.isRunning()) {
      // Already up and reachable: nothing to do but record it.
      try {
        const ssh = await this.ssh();
        const r = await ssh.exec('true', { timeoutMs: 10_000, connectTimeoutMs: 10_000 });
        if (r.code === 0) {
          this.state.force('os-ready', 'force os-ready: SSH answered');
          return;
        }
      } catch {
        // fall through to a fresh boot
      }
      this.kill();
      await waitPidExit(this.record!.pid, 10_000);
    }
    this.state.force('off', 'force os-ready: fresh boot');
    await this.powerOn();
    await this.waitForOs();
  }

  /** Release sockets held by this handle; the VM keeps running (unless its disk is served from here). */
  close(): void {
    this.dropSsh();
    this.console.close();
    if (this.vdisk) {
      // The disk cannot outlive this process: a VM still running loses its power with it.
      if (this.isRunning()) {
        this.kill();
        this.vdisk.cut();
      }
      const vdisk = this.vdisk;
      this.vdisk = undefined;
      void vdisk.close({ flush: false }).catch(() => {});
    }
  }

  private async adoptProfile(profile: Profile): Promise<void> {
    if (!profile.qemu)
      throw new HuplabError(
        'not-emulated',
        `profile ${profile.name} has no QEMU section, so ${this.name} cannot run it`,
      );
    const mismatch = boardMismatch(this.opts.profile, { qemu: profile.qemu, console: profile.console });
    if (mismatch) {
      throw new HuplabError('profile-mismatch', `${this.name} cannot become ${profile.name}: ${mismatch}`, {
        hint: 'an advanced update changes the OS, not the board: the two profiles must describe the same machine',
      });
    }
    this.opts.profile = { qemu: profile.qemu, console: profile.console };
    if (this.record) {
      this.record.profile = this.opts.profile;
      writeDeviceRecord(this.paths.deviceJson, this.record);
    }
  }

  // --- internals --------------------------------------------------------------------------

  private prepareFolder(diskPath: string): void {
    fs.mkdirSync(this.paths.dir, { recursive: true });
    for (const sock of [this.paths.serialSock, this.paths.qmpSock]) {
      if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) {
        throw new HuplabError(
          'socket-path-too-long',
          `socket path ${sock} is longer than the ${MAX_SOCKET_PATH} bytes unix sockets allow`,
          {
            hint: 'use a shorter lab directory (HUPLAB_LAB_DIR) or device name',
            infrastructure: true,
          },
        );
      }
    }
    if (!fs.existsSync(diskPath)) {
      throw new HuplabError('disk-missing', `disk image ${diskPath} of ${this.name} does not exist`, {
        hint: 'build and flash an image first (`huplab image build`)',
      });
    }
    const fw = this.opts.profile.qemu.firmware;
    // Copied once and kept: firmware variables (boot entries) persist across power cycles, and a
    // writable flash keeps what the guest wrote to it, as on the real board.
    if (fw?.vars) copyOnce(fw.vars, this.paths.varsFile, this.name);
    else if (fw?.writableFlash && fw.loadAs !== 'kernel') blankOnce(this.paths.varsFile, PFLASH_BANK_BYTES);
    if (fw?.writableFlash)
      copyOnce(fw.code, this.paths.flashFile, this.name, fw.loadAs === 'kernel' ? 0 : PFLASH_BANK_BYTES);
  }

  /**
   * A Raspberry Pi's GPU firmware loads the device tree from the boot partition before the
   * bootloader runs; QEMU plays that part with -dtb, so the file is read off the disk at every
   * power-on and an update that ships a new device tree is booted with it, as on the board.
   */
  private async readDeviceTree(bootPartition: Promise<BootPartition>, dtb: string): Promise<void> {
    const boot = await bootPartition;
    const data = await boot.read(`/${dtb}`).catch((err: unknown) => {
      throw new HuplabError(
        'dtb-missing',
        `${this.name}: the boot partition has no device tree /${dtb} (${err instanceof HuplabError ? err.message : String(err)})`,
        {
          hint: 'the board would not boot either: re-flash the device, or fix qemu.dtb / kernel.dtb in the profile',
        },
      );
    });
    fs.writeFileSync(this.paths.dtbFile, data);
  }

  /**
   * The lab host ports the device may reach: those its config.json lists (lib/contract/lab-host.ts),
   * as the backend that provisioned it wrote them. Read at each power-on, like the device tree, so
   * the command line follows the disk. None (a device started without a backend, a disk whose
   * config.json cannot be read): the guest reaches nothing of the host.
   */
  private async readLabHostPorts(bootPartition: Promise<BootPartition>): Promise<number[]> {
    let config: Record<string, unknown>;
    try {
      const boot = await bootPartition;
      config = JSON.parse((await boot.read('/config.json')).toString('utf8')) as Record<string, unknown>;
    } catch {
      return [];
    }
    const ports = readLabHost(config)?.ports ?? [];
    if (ports.length > 0) await requireForwarder();
    return ports;
  }

  private async pickAccel(): Promise<Accel> {
    const binary = this.opts.profile.qemu.binary;
    // KVM only accelerates guests of the host's own architecture, and the probe guest is x86
    // OVMF: other combinations run TCG unless HUPLAB_ACCEL insists.
    if (process.arch === 'x64' && /x86_64/.test(binary)) {
      return probeAccelerator({ labDir: this.opts.labDir ?? defaultLabDir(), qemuBinary: binary });
    }
    if (process.arch === 'arm64' && /aarch64/.test(binary) && process.env.HUPLAB_ACCEL === 'kvm') return 'kvm';
    return 'tcg';
  }

  private sshKeyPath(): string {
    if (this.opts.sshKeyPath) return path.resolve(this.opts.sshKeyPath);
    return ensureLabKey(this.opts.labDir ?? defaultLabDir()).privateKeyPath;
  }

  private requireRunning(what: string): void {
    if (!this.isRunning()) {
      throw new HuplabError('device-not-running', `cannot ${what}: ${this.name} is not running`, {
        hint: 'power it on first',
      });
    }
  }

  private kill(): void {
    if (!this.isRunning()) return;
    try {
      process.kill(this.record!.pid, 'SIGKILL');
    } catch {
      // exited on its own meanwhile
    }
  }

  private async stopNow(pid: number): Promise<void> {
    // quit lets QEMU flush its own buffers; SIGKILL only if it does not go.
    await this.qmp((q) => q.quit()).catch(() => undefined);
    if (await waitPidExit(pid, 5000)) return;
    this.kill();
    await waitPidExit(pid, 5000);
  }

  /**
   * The VM is daemonized: it would outlive this process. Until it is powered off, an interrupted
   * or failed command powers it off (harness/cli/run.ts) unless told to keep it.
   */
  private holdUntilOff(pid: number): void {
    holdings.hold(this, {
      what: `device ${this.name}`,
      // Its disk server lives in this process: such a VM cannot be kept running without it.
      keepable: !this.vdisk,
      release: async () => {
        const was = this.state.current;
        await this.force('off');
        this.close();
        return `powered off (it was ${was === 'os-ready' ? 'up' : was === 'off' ? 'off' : `booting: ${was}`})`;
      },
      force: () => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      },
    });
  }

  private markOff(reason: string): void {
    holdings.drop(this);
    this.dropSsh();
    if (this.record && !this.record.stoppedAt) {
      this.record.stoppedAt = new Date().toISOString();
      writeDeviceRecord(this.paths.deviceJson, this.record);
    }
    if (this.state.current !== 'off') this.state.transition('off', reason);
  }

  private setBootOffset(offset: number): void {
    this.bootOffset = offset;
    if (this.record) {
      this.record.bootOffset = offset;
      writeDeviceRecord(this.paths.deviceJson, this.record);
    }
  }

  private dropSsh(): void {
    this.sshClient?.close();
    this.sshClient = undefined;
  }
}

/** What makes two profiles different machines (undefined when they describe the same board). */
export function boardMismatch(a: QemuProfile, b: QemuProfile): string | undefined {
  const fields: Array<[string, unknown, unknown]> = [
    ['qemu.binary', a.qemu.binary, b.qemu.binary],
    ['qemu.machine', a.qemu.machine, b.qemu.machine],
    ['qemu.cpu', a.qemu.cpu, b.qemu.cpu],
    ['qemu.memoryMiB', a.qemu.memoryMiB, b.qemu.memoryMiB],
    ['qemu.disk.interface', a.qemu.disk.interface, b.qemu.disk.interface],
    ['qemu.serialIndex', a.qemu.serialIndex, b.qemu.serialIndex],
    ['console.device', a.console.device, b.console.device],
    ['qemu.firmware.loadAs', a.qemu.firmware?.loadAs ?? 'pflash', b.qemu.firmware?.loadAs ?? 'pflash'],
    ['qemu.firmware.writableFlash', !!a.qemu.firmware?.writableFlash, !!b.qemu.firmware?.writableFlash],
  ];
  const diff = fields.filter(([, x, y]) => x !== y);
  return diff.length ? diff.map(([k, x, y]) => `${k} ${String(x)} vs ${String(y)}`).join(', ') : undefined;
}

/** Best guess of where a running device is, from the console text of its current boot. */
function stateFromConsole(text: string): Exclude<BoardState, 'failed'> {
  const boot = text.lastIndexOf(MARKERS.bootloaderBooting);
  const ready = text.lastIndexOf(MARKERS.osReady);
  const down = text.lastIndexOf(MARKERS.shuttingDown);
  if (down > Math.max(boot, ready)) return 'firmware'; // going down or rebooting
  if (ready > boot) return 'os-ready';
  if (boot >= 0) return 'kernel';
  return 'firmware';
}

/**
 * QEMU's arm `virt` maps each flash bank as exactly 64 MiB and refuses a smaller file; firmware
 * such as U-Boot's u-boot.bin is much smaller, so the device's copy is padded, as the rest of a
 * board's boot flash is.
 */
const PFLASH_BANK_BYTES = 64 * 1024 * 1024;

/** A blank flash bank (sparse zeros), made once and then kept like the board's flash. */
function blankOnce(dest: string, bytes: number): void {
  if (fs.existsSync(dest)) return;
  fs.writeFileSync(`${dest}.tmp`, '');
  fs.truncateSync(`${dest}.tmp`, bytes);
  fs.renameSync(`${dest}.tmp`, dest);
}

function copyOnce(src: string, dest: string, name: string, padTo = 0): void {
  if (fs.existsSync(dest)) return;
  try {
    fs.copyFileSync(src, `${dest}.tmp`);
    if (padTo > 0 && fs.statSync(`${dest}.tmp`).size < padTo) fs.truncateSync(`${dest}.tmp`, padTo);
  } catch (err) {
    throw new HuplabError('firmware-missing', `firmware file ${src} for ${name} cannot be read`, {
      hint: 'install the firmware package (ovmf, qemu-efi-aarch64, u-boot-qemu) or fix the profile',
      cause: err,
      infrastructure: true,
    });
  }
  fs.renameSync(`${dest}.tmp`, dest);
}

/**
 * QEMU starts the forwarder per guest connection and says nothing if it is missing: the device
 * would only see its connections to the lab host closed. Refuse before powering on instead.
 */
async function requireForwarder(): Promise<void> {
  if (!(await onPath(GUEST_FORWARDER))) {
    throw new HuplabError(
      'forwarder-missing',
      `${GUEST_FORWARDER} is not installed: an emulated device could not reach the lab backend`,
      { hint: `run \`sh scripts/bootstrap.sh\` (or \`apt-get install ${GUEST_FORWARDER}\`)`, infrastructure: true },
    );
  }
}
