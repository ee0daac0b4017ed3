/**
 * The boot ROM of the lab's emulated boards whose boot flash an update rewrites (the Jetsons'
 * JetPack 4 -> 5 takeover). QEMU keeps the translated firmware across the guest's reset, so such
 * a board must be started again to read its new flash (QemuDevice.reloadFirmware). A `huplab hup`
 * run does that for the device it follows; a fleet update has no run following it, so the lab
 * server does it for its own devices: it reads their consoles and, when takeover reboots after
 * rewriting the flash, starts QEMU again. Devices of other runs (not registered with the server)
 * are left to those runs.
 */
import fs from 'node:fs';
import { join } from 'node:path';
import { TAKEOVER_PREFIX, takeoverReboot } from '../../lib/contract/takeover.ts';
import type { Narrator } from '../../lib/narrator.ts';
import { cleanConsoleText } from '../console/clean.ts';
import { readDeviceRecord } from '../qemu/device-record.ts';
import { QemuDevice } from '../qemu/driver.ts';
import { devicePaths } from '../qemu/paths.ts';
import { isOurProcess } from '../qemu/process.ts';

/** How long the keeper gives the guest's reset to show after takeover's reboot line. */
const RESET_WAIT_MS = 60_000;
/** Kept when no takeover is under way, so that a line split across two reads is still seen whole. */
const OVERLAP_BYTES = 4096;
/** A takeover's console text is a few hundred KiB; past this the watch starts afresh. */
const EPISODE_LIMIT_BYTES = 8 * 1024 * 1024;

export interface FirmwareKeeperOptions {
  labDir: string;
  /** Whether the device with this uuid is registered with the server. */
  isLabDevice(uuid: string): boolean;
  narrator: Narrator;
  intervalMs?: number;
  /**
   * Starts the board in `dir` again once its reset after console offset `since` shows (default:
   * QemuDevice.reloadFirmware). Unit tests give one that records the call.
   */
  reload?: (dir: string, since: number) => Promise<void>;
}

/** Where the keeper is in one device's console (raw byte offsets of serial.log). */
interface Watch {
  /** Read from here next time while no takeover is under way. */
  scanFrom: number;
  /** Where the takeover under way began to print. */
  takeoverFrom?: number;
}

export class FirmwareKeeper {
  /** By device folder. */
  private readonly watches = new Map<string, Watch>();
  private timer: NodeJS.Timeout | undefined;
  private tick: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly opts: FirmwareKeeperOptions) {
    this.intervalMs = opts.intervalMs ?? 1_000;
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.tick = this.scanAll().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.intervalMs);
      });
    };
    loop();
  }

  /** Stops watching; a restart under way is finished first, so that no board is left powered off. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.tick;
  }

  /** One look at every device of the lab's folder. */
  async scanAll(): Promise<void> {
    const root = join(this.opts.labDir, 'devices');
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      return;
    }
    for (const name of names) {
      const dir = join(root, name);
      try {
        await this.scan(dir);
      } catch (err) {
        this.watches.delete(dir);
        this.opts.narrator.info(`boot flash watch of ${name}: ${(err as Error).message}`);
      }
    }
  }

  private async scan(dir: string): Promise<void> {
    const paths = devicePaths(dir);
    if (!fs.existsSync(paths.deviceJson)) return;
    const rec = readDeviceRecord(paths.deviceJson);
    if (!rec.profile.qemu.firmware?.writableFlash || !isOurProcess(rec.pid, paths.dir) || !this.isLabDevice(dir)) {
      this.watches.delete(dir);
      return;
    }
    const size = logSize(paths.serialLog);
    const w = this.watches.get(dir);
    // First sight (or a log started afresh): what was printed before is not ours to act on.
    if (!w || size < w.scanFrom) {
      this.watches.set(dir, { scanFrom: size });
      return;
    }
    if (w.takeoverFrom === undefined) {
      const raw = readRange(paths.serialLog, w.scanFrom, size);
      const at = raw.indexOf(TAKEOVER_PREFIX);
      if (at < 0) {
        w.scanFrom = Math.max(w.scanFrom, size - OVERLAP_BYTES);
        return;
      }
      w.takeoverFrom = w.scanFrom + at;
    }
    if (size - w.takeoverFrom > EPISODE_LIMIT_BYTES) {
      this.watches.set(dir, { scanFrom: size });
      return;
    }
    const reboot = takeoverReboot(cleanConsoleText(readRange(paths.serialLog, w.takeoverFrom, size)));
    if (!reboot) return;
    if (reboot.bootFlashRewritten) {
      this.opts.narrator.info(`${rec.name}: takeover rewrote the boot flash and reboots; starting its QEMU again`);
      await (this.opts.reload ?? reloadBoard)(dir, w.takeoverFrom);
    }
    this.watches.set(dir, { scanFrom: logSize(paths.serialLog) });
  }

  private isLabDevice(dir: string): boolean {
    try {
      const { uuid } = JSON.parse(fs.readFileSync(join(dir, 'provision.json'), 'utf8')) as { uuid?: string };
      return typeof uuid === 'string' && this.opts.isLabDevice(uuid);
    } catch {
      return false;
    }
  }
}

async function reloadBoard(dir: string, since: number): Promise<void> {
  const device = QemuDevice.attach(dir);
  try {
    await device.reloadFirmware(since, Date.now() + RESET_WAIT_MS);
  } finally {
    device.close();
  }
}

function logSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function readRange(file: string, start: number, end: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(Math.max(0, end - start));
    const n = fs.readSync(fd, buf, 0, buf.length, start);
    return buf.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}
