/**
 * A small client for QEMU's machine protocol (QMP) over a unix socket.
 *
 * QMP is line-delimited JSON: the server greets, the client must send `qmp_capabilities` before
 * anything else, then every command gets exactly one `return` or `error` reply and the server may
 * interleave asynchronous events. Replies are matched to commands through the `id` field, which
 * QMP echoes back, so a late reply can never be handed to the wrong caller.
 *
 * A QEMU monitor serves one client at a time, so callers should connect for an operation and
 * close afterwards rather than hold the socket (another process, e.g. the CLI, may need it).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { HuplabError } from '../../lib/errors.ts';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpStatus {
  status: string;
  running: boolean;
  singlestep?: boolean;
}

/** A command QEMU refused; `qmpClass` is QMP's error class (e.g. 'GenericError'). */
export class QmpError extends HuplabError {
  readonly qmpClass: string;
  constructor(command: string, qmpClass: string, desc: string) {
    super('qmp-error', `QMP ${command} failed: ${desc}`);
    this.qmpClass = qmpClass;
  }
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export interface QmpConnectOptions {
  /** How long to keep retrying while the socket does not accept yet. Default 5 s. */
  timeoutMs?: number;
}

export class QmpClient extends EventEmitter {
  private readonly socket: net.Socket;
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  private greetingWaiter: { resolve: (g: unknown) => void; reject: (e: Error) => void } | undefined;
  /** The server's greeting (`{ QMP: { version, capabilities } }`). */
  greeting: unknown;

  private constructor(
    socket: net.Socket,
    readonly sockPath: string,
  ) {
    super();
    this.socket = socket;
    socket.setEncoding('utf8'); // the decoder keeps multi-byte characters split across chunks whole
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.onClose(err));
    socket.on('close', () => this.onClose());
  }

  /** Connect, read the greeting and negotiate capabilities. */
  static async connect(sockPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let lastErr: Error | undefined;
    // QEMU creates the socket while it starts; a caller racing it gets ENOENT/ECONNREFUSED.
    while (true) {
      try {
        const socket = await connectOnce(sockPath);
        const client = new QmpClient(socket, sockPath);
        await client.handshake(Math.max(1000, deadline - Date.now()));
        return client;
      } catch (err) {
        lastErr = err as Error;
        if (Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new HuplabError('qmp-connect', `could not connect to QMP at ${sockPath}: ${lastErr?.message}`, {
      hint: 'is the VM running? `huplab device list` shows running devices',
      cause: lastErr,
      infrastructure: true,
    });
  }

  private async handshake(timeoutMs: number): Promise<void> {
    const greeting = new Promise<unknown>((resolve, reject) => {
      this.greetingWaiter = { resolve, reject };
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      this.greeting = await Promise.race([greeting, timeout]);
      await Promise.race([this.execute('qmp_capabilities'), timeout]);
    } catch (err) {
      this.socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.emit('protocol-error', new Error(`unparsable QMP line: ${line.slice(0, 200)}`));
      return;
    }
    if ('QMP' in msg) {
      this.greetingWaiter?.resolve(msg);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      const ev = msg as unknown as QmpEvent;
      this.emit('event', ev);
      this.emit(ev.event, ev.data ?? {}, ev);
      return;
    }
    if ('return' in msg || 'error' in msg) {
      const id = msg.id === undefined ? undefined : String(msg.id);
      // A reply without id can only answer the oldest command (QMP answers in order).
      const key = id !== undefined && this.pending.has(id) ? id : this.pending.keys().next().value;
      if (key === undefined) return;
      const p = this.pending.get(key)!;
      this.pending.delete(key);
      if ('error' in msg) {
        const e = (msg.error ?? {}) as { class?: string; desc?: string };
        p.reject(new QmpError(p.command, e.class ?? 'GenericError', e.desc ?? 'unknown error'));
      } else {
        p.resolve(msg.return);
      }
    }
  }

  private onClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const reason = new HuplabError(
      'qmp-closed',
      `QMP connection to ${this.sockPath} closed${err ? `: ${err.message}` : ''}`,
    );
    this.greetingWaiter?.reject(reason);
    this.greetingWaiter = undefined;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    this.emit('close', err);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Run a QMP command; resolves with its `return` value, rejects with QmpError on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) {
      return Promise.reject(new HuplabError('qmp-closed', `QMP connection to ${this.sockPath} is closed`));
    }
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      const msg: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) msg.arguments = args;
      this.socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Resolves with the next event of that name (with a timeout so a missed event cannot hang). */
  waitEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const onEvent = (ev: QmpEvent) => {
        if (ev.event !== name) return;
        cleanup();
        resolve(ev);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new HuplabError('qmp-event-timeout', `no QMP ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('event', onEvent);
      };
      this.on('event', onEvent);
    });
  }

  systemReset(): Promise<void> {
    return this.execute<void>('system_reset');
  }

  /** ACPI power button: the guest decides whether and how to shut down. */
  systemPowerdown(): Promise<void> {
    return this.execute<void>('system_powerdown');
  }

  /** Ask QEMU to exit now. QEMU may close the socket before its reply arrives; that is success. */
  async quit(): Promise<void> {
    try {
      await this.execute('quit');
    } catch (err) {
      if (!(err instanceof HuplabError && err.code === 'qmp-closed')) throw err;
    }
  }

  queryStatus(): Promise<QmpStatus> {
    return this.execute<QmpStatus>('query-status');
  }

  /** Plug or unplug the virtual cable of a NIC (by netdev or device id). */
  setLink(id: string, up: boolean): Promise<void> {
    return this.execute<void>('set_link', { name: id, up });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

function connectOnce(sockPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sockPath);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connect, run `fn`, always disconnect: keeps the monitor free for other processes. */
export async function withQmp<T>(
  sockPath: string,
  fn: (qmp: QmpClient) => Promise<T>,
  opts?: QmpConnectOptions,
): Promise<T> {
  const qmp = await QmpClient.connect(sockPath, opts);
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}
