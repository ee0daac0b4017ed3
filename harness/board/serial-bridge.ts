/**
 * A real board's console, made to look like a QEMU chardev: everything the board prints is
 * appended to a log file (what SerialConsole reads and expects on), and a unix socket takes what
 * is typed and sends it to the board, and echoes the board's output to its clients (so that
 * `huplab device console`-style attaching works the same way).
 *
 * The console is a serial port on this host (through `serialport`: a USB-serial adapter, or any
 * tty) or a TCP serial server (ser2net and the like: raw bytes). A TCP server that drops the
 * connection is reconnected; a serial port that vanishes (adapter unplugged) is reopened when it
 * comes back; meanwhile the log simply has a gap, as a person watching would see.
 */
import fs from 'node:fs';
import net from 'node:net';
import { SerialPort } from 'serialport';
import { HuplabError } from '../../lib/errors.ts';
import type { BoardSerial } from './inventory.ts';

export interface SerialBridgeOptions {
  /** Board name, for messages. */
  name: string;
  source: BoardSerial;
  logPath: string;
  socketPath: string;
  /** Delay before reconnecting a dropped source (ms). */
  reconnectMs?: number;
}

interface Source {
  write(data: Buffer): void;
  close(): Promise<void>;
}

export class SerialBridge {
  private source: Source | undefined;
  private server: net.Server | undefined;
  private readonly clients = new Set<net.Socket>();
  private log: fs.WriteStream | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Bytes received from the board since start (for `lab list` and tests). */
  bytesIn = 0;

  constructor(private readonly opts: SerialBridgeOptions) {}

  get describe(): string {
    const s = this.opts.source;
    return 'tcp' in s ? `tcp ${s.tcp}` : `${s.path} at ${s.baud} baud`;
  }

  /** Opens the console (failing with a named error if it cannot) and starts logging. */
  async start(): Promise<void> {
    if (this.source) return;
    this.closed = false;
    clearTimeout(this.reconnectTimer);
    this.log ??= fs.createWriteStream(this.opts.logPath, { flags: 'a' });
    await this.listen();
    this.source = await this.open();
  }

  /** Sends bytes to the board. */
  write(data: Buffer | string): void {
    if (!this.source)
      throw new HuplabError('console-closed', `the console of ${this.opts.name} is not open`, {
        hint: 'power the board on first',
      });
    this.source.write(Buffer.isBuffer(data) ? data : Buffer.from(data));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const src = this.source;
    this.source = undefined;
    await src?.close().catch(() => undefined);
    for (const c of this.clients) c.destroy();
    this.clients.clear();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
    fs.rmSync(this.opts.socketPath, { force: true });
    await new Promise<void>((r) => (this.log ? this.log.end(() => r()) : r()));
    this.log = undefined;
  }

  private received(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.log?.write(chunk);
    for (const c of this.clients) c.write(chunk);
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    fs.rmSync(this.opts.socketPath, { force: true });
    const server = net.createServer((c) => {
      this.clients.add(c);
      c.on('data', (d) => this.source?.write(d));
      c.on('error', () => c.destroy());
      c.on('close', () => this.clients.delete(c));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.socketPath, () => resolve());
    });
    this.server = server;
  }

  private open(): Promise<Source> {
    return 'tcp' in this.opts.source
      ? this.openTcp(this.opts.source.tcp)
      : this.openPort(this.opts.source.path, this.opts.source.baud);
  }

  private lost(why: string): void {
    if (this.closed) return;
    this.source = undefined;
    // Keep trying: a board being power-cycled may take its USB-serial adapter with it.
    this.reconnectTimer = setTimeout(() => {
      this.open().then(
        (s) => {
          if (this.closed || this.source) void s.close();
          else this.source = s;
        },
        () => this.lost(why),
      );
    }, this.opts.reconnectMs ?? 1000);
  }

  private async openPort(path: string, baudRate: number): Promise<Source> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve()))).catch(
      (err: Error) => {
        const code = /ENOENT|No such file/i.test(err.message)
          ? 'serial-missing'
          : /EACCES|Permission/i.test(err.message)
            ? 'serial-denied'
            : 'serial-failed';
        const hint =
          code === 'serial-missing'
            ? 'is the adapter plugged in? `ls -l /dev/serial/by-id/` lists them; fix serial.path in the inventory'
            : code === 'serial-denied'
              ? 'run as root or add this user to the dialout group'
              : 'is another program (minicom, screen) holding the port?';
        throw new HuplabError(code, `cannot open the console ${path} of ${this.opts.name}: ${err.message}`, {
          hint,
          infrastructure: true,
        });
      },
    );
    port.on('data', (d: Buffer) => this.received(d));
    port.on('close', () => this.lost('port closed'));
    port.on('error', () => undefined);
    return {
      write: (d) => {
        port.write(d);
      },
      close: () =>
        new Promise<void>((r) => {
          port.removeAllListeners('close');
          if (port.isOpen) port.close(() => r());
          else r();
        }),
    };
  }

  private async openTcp(hostPort: string): Promise<Source> {
    const i = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, i);
    const port = Number(hostPort.slice(i + 1));
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => s.destroy(new Error('connect timed out after 5 s')), 5000);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    }).catch((err: Error) => {
      throw new HuplabError(
        'serial-server-unreachable',
        `cannot reach the console server ${hostPort} of ${this.opts.name}: ${err.message}`,
        {
          hint: 'is the serial server (ser2net) running and the port right? fix serial.tcp in the inventory',
          infrastructure: true,
        },
      );
    });
    sock.setNoDelay(true);
    sock.on('data', (d) => this.received(d));
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.lost('connection closed'));
    return {
      write: (d) => {
        sock.write(d);
      },
      close: () =>
        new Promise<void>((r) => {
          sock.removeAllListeners('close');
          sock.end(() => r());
          sock.destroy();
          r();
        }),
    };
  }
}
