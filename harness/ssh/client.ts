/**
 * SSH to a device (dropbear on the device, port forwarded by QEMU or direct on a real board).
 *
 * One connection is kept and reused; it is re-opened on demand after the device rebooted.
 * File transfer uses `cat` over exec by default, because the devices run dropbear without an
 * sftp-server; SFTP is used only when asked for.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import ssh2 from 'ssh2';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { HuplabError } from '../../lib/errors.ts';
import { verifyHostKey } from './known-hosts.ts';

export interface DeviceSshOptions {
  host: string;
  port: number;
  privateKey: string | Buffer;
  /** TOFU store of host key fingerprints. */
  knownHostsFile: string;
  user?: string;
  /** Key of the device in knownHostsFile; default `[host]:port`. Use a stable device name when
   *  the forwarded port changes from boot to boot. */
  hostKeyAlias?: string;
  /** 'exec' (cat, the default), 'sftp', or 'auto' (sftp, falling back to cat). */
  transfer?: 'exec' | 'sftp' | 'auto';
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command was killed by a signal. */
  code: number | null;
  signal?: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Fed to the command's stdin, then EOF; a stream is piped (large files, e.g. a disk image). */
  stdin?: string | Buffer | NodeJS.ReadableStream;
}

type Conn = InstanceType<typeof ssh2.Client>;

interface ExitStatus {
  code: number | null;
  signal?: string;
  seen: boolean;
}

const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

/** Quote for a POSIX shell (busybox ash included). */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export class DeviceSsh {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  private readonly opts: DeviceSshOptions;
  private conn: Conn | undefined;
  private connecting: Promise<Conn> | undefined;
  private sftpUnsupported = false;

  constructor(opts: DeviceSshOptions) {
    this.opts = opts;
    this.host = opts.host;
    this.port = opts.port;
    this.user = opts.user ?? 'root';
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * Retry until a command runs. A forwarded port accepts TCP long before the guest's sshd is up
   * (QEMU's slirp answers, then drops the connection), so "connected" means nothing; `true` exiting
   * 0 does.
   */
  async waitReady(opts: { timeoutMs: number; what?: string }): Promise<void> {
    const started = Date.now();
    const deadline = started + opts.timeoutMs;
    let lastErr: unknown;
    while (true) {
      const left = deadline - Date.now();
      try {
        const r = await this.exec('true', {
          timeoutMs: Math.max(1000, Math.min(left, 15_000)),
          connectTimeoutMs: Math.max(1000, Math.min(left, 15_000)),
        });
        if (r.code === 0) return;
        lastErr = new Error(`\`true\` exited with ${r.code}: ${r.stderr.trim()}`);
      } catch (err) {
        if (err instanceof HuplabError && err.code === 'ssh-hostkey-changed') throw err;
        lastErr = err;
        this.dropConnection();
      }
      if (Date.now() >= deadline) break;
      // one last attempt right at the deadline rather than giving up a second early
      await new Promise((r) => setTimeout(r, Math.min(1000, deadline - Date.now())));
    }
    const secs = Math.round((Date.now() - started) / 100) / 10;
    const why = lastErr instanceof Error ? lastErr.message : String(lastErr);
    throw new HuplabError(
      'ssh-timeout',
      `timed out after ${secs}s waiting for ${opts.what ?? 'SSH'} on ${this.address}; last error: ${why}`,
      {
        hint: 'check the console log: did the device boot and start dropbear? is the lab key in config.json os.sshKeys?',
        cause: lastErr,
      },
    );
  }

  async exec(cmd: string, opts: ExecOptions & { connectTimeoutMs?: number } = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const stream = await this.openExecRetrying(cmd, opts.connectTimeoutMs);
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let code: number | null = null;
      let signal: string | undefined;
      const timer = setTimeout(() => {
        stream.close();
        reject(
          new HuplabError(
            'ssh-exec-timeout',
            `command timed out after ${Math.round(timeoutMs / 1000)}s on ${this.address}: ${cmd}`,
            {
              hint: 'the device may be hung or rebooting; see its console log',
            },
          ),
        );
      }, timeoutMs);
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      stream.on('close', () => {
        clearTimeout(timer);
        code = stream.exitStatus.code;
        signal = stream.exitStatus.signal;
        const res: ExecResult = {
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code,
        };
        if (signal !== undefined) res.signal = signal;
        resolve(res);
      });
      if (opts.stdin === undefined) stream.end();
      else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) stream.end(opts.stdin);
      else opts.stdin.pipe(stream);
    });
  }

  /** Like exec, but a non-zero exit is an error carrying stderr. Returns stdout. */
  async execOk(cmd: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(cmd, opts);
    if (r.code !== 0) throw commandFailed(cmd, r, this.address);
    return r.stdout;
  }

  /** Copy a local file (path) or bytes to the device; written to a temp name then renamed. */
  async putFile(src: string | Buffer, remotePath: string, opts: { mode?: number } = {}): Promise<void> {
    if (await this.useSftp()) {
      try {
        await this.sftpPut(src, remotePath, opts.mode);
        return;
      } catch (err) {
        if (!this.fallBackFromSftp(err)) throw err;
      }
    }
    const tmp = `${remotePath}.huplab-tmp`;
    const chmod = opts.mode === undefined ? '' : `chmod ${opts.mode.toString(8)} ${shq(tmp)} && `;
    const cmd = `cat > ${shq(tmp)} && ${chmod}mv -f ${shq(tmp)} ${shq(remotePath)}`;
    const conn = await this.connection();
    const stream = await this.openExec(conn, cmd);
    const done = this.collectExit(stream);
    if (typeof src === 'string') await pipeline(fs.createReadStream(src), stream);
    else stream.end(src);
    const r = await done;
    if (r.code !== 0) throw commandFailed(`putFile ${remotePath}`, r, this.address);
  }

  /** Copy a file from the device; the local file appears only when the copy is complete. */
  async getFile(remotePath: string, localPath: string): Promise<void> {
    if (await this.useSftp()) {
      try {
        await this.withSftp(
          (sftp) => new Promise<void>((res, rej) => sftp.fastGet(remotePath, localPath, (e) => (e ? rej(e) : res()))),
        );
        return;
      } catch (err) {
        if (!this.fallBackFromSftp(err)) throw err;
      }
    }
    const part = `${localPath}.part`;
    const conn = await this.connection();
    const stream = await this.openExec(conn, `cat ${shq(remotePath)}`);
    stream.end();
    const done = this.collectExit(stream, true);
    try {
      await pipeline(stream, fs.createWriteStream(part));
      const r = await done;
      if (r.code !== 0) throw commandFailed(`getFile ${remotePath}`, r, this.address);
      await fsp.rename(part, localPath);
    } catch (err) {
      await fsp.rm(part, { force: true });
      throw err;
    }
  }

  close(): void {
    this.dropConnection();
  }

  // --- connection -------------------------------------------------------------------------

  private connection(timeoutMs = 20_000): Promise<Conn> {
    if (this.conn) return Promise.resolve(this.conn);
    this.connecting ??= this.connect(timeoutMs).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private connect(timeoutMs: number): Promise<Conn> {
    const alias = this.opts.hostKeyAlias ?? `[${this.host}]:${this.port}`;
    return new Promise<Conn>((resolve, reject) => {
      const conn = new ssh2.Client();
      let hostKeyError: HuplabError | undefined;
      let settled = false;
      conn.on('ready', () => {
        settled = true;
        this.conn = conn;
        conn.on('close', () => {
          if (this.conn === conn) this.conn = undefined;
        });
        resolve(conn);
      });
      conn.on('error', (err) => {
        if (settled) {
          if (this.conn === conn) this.conn = undefined;
          return;
        }
        settled = true;
        conn.end();
        reject(hostKeyError ?? this.connectError(err.message, err));
      });
      conn.on('close', () => {
        if (!settled) {
          settled = true;
          reject(hostKeyError ?? this.connectError('connection closed before SSH was ready'));
        }
      });
      conn.connect({
        host: this.host,
        port: this.port,
        username: this.user,
        privateKey: this.opts.privateKey,
        readyTimeout: timeoutMs,
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          try {
            verifyHostKey(this.opts.knownHostsFile, alias, key);
            return true;
          } catch (err) {
            hostKeyError = err as HuplabError;
            return false;
          }
        },
      });
    });
  }

  private connectError(why: string, cause?: unknown): HuplabError {
    return new HuplabError('ssh-connect', `cannot connect to ${this.user}@${this.address}: ${why}`, {
      hint: 'is the device up (see its console)? does its config.json carry the lab key?',
      cause,
    });
  }

  private dropConnection(): void {
    this.conn?.end();
    this.conn = undefined;
  }

  /**
   * Opens an exec channel and starts listening for its exit status at once. ssh2 emits 'exit' as
   * a plain event while it parses a packet; a fast command's status can arrive in the same packet
   * as the channel confirmation, before any awaiting caller could attach a listener, and would be
   * lost (the command would look killed). So the status is captured synchronously here.
   */
  /**
   * A busy device's sshd may refuse a session now and then ("Unable to exec": it could not fork
   * a session just then): the command never started, so it is safe to ask again, twice at most.
   * The connection stays: other commands may be running on it.
   */
  private async openExecRetrying(
    cmd: string,
    connectTimeoutMs?: number,
  ): Promise<ClientChannel & { exitStatus: ExitStatus }> {
    for (let attempt = 1; ; attempt++) {
      const conn = await this.connection(connectTimeoutMs);
      try {
        return await this.openExec(conn, cmd);
      } catch (err) {
        if (attempt >= 3 || !/Unable to exec|Channel open failure/i.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  private openExec(conn: Conn, cmd: string): Promise<ClientChannel & { exitStatus: ExitStatus }> {
    return new Promise((resolve, reject) => {
      conn.exec(cmd, (err, stream) => {
        if (err) return reject(err);
        const status: ExitStatus = { code: null, seen: false };
        stream.on('exit', (c: number | null, sig?: string) => {
          status.code = c;
          status.seen = true;
          if (sig) status.signal = sig;
        });
        resolve(Object.assign(stream, { exitStatus: status }));
      });
    });
  }

  /** Exit status of a channel; stdout is collected unless something else consumes it. */
  private collectExit(stream: ClientChannel & { exitStatus: ExitStatus }, stdoutConsumed = false): Promise<ExecResult> {
    return new Promise((resolve) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      if (!stdoutConsumed) stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => err.push(d));
      stream.on('close', () =>
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code: stream.exitStatus.code,
        }),
      );
    });
  }

  // --- sftp -------------------------------------------------------------------------------

  private async useSftp(): Promise<boolean> {
    const mode = this.opts.transfer ?? 'exec';
    return mode === 'sftp' || (mode === 'auto' && !this.sftpUnsupported);
  }

  private fallBackFromSftp(err: unknown): boolean {
    if ((this.opts.transfer ?? 'exec') !== 'auto' || !(err instanceof SftpUnavailable)) return false;
    this.sftpUnsupported = true;
    return true;
  }

  private async withSftp<T>(fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const conn = await this.connection();
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) => {
      conn.sftp((err, s) => (err ? reject(new SftpUnavailable(err.message)) : resolve(s)));
    });
    try {
      return await fn(sftp);
    } finally {
      sftp.end();
    }
  }

  private sftpPut(src: string | Buffer, remotePath: string, mode?: number): Promise<void> {
    return this.withSftp(
      (sftp) =>
        new Promise<void>((resolve, reject) => {
          const cb = (e?: Error | null) => (e ? reject(e) : resolve());
          const options = mode === undefined ? {} : { mode };
          if (typeof src === 'string') sftp.fastPut(src, remotePath, options, cb);
          else sftp.writeFile(remotePath, src, options, cb);
        }),
    );
  }
}

class SftpUnavailable extends Error {}

function commandFailed(what: string, r: ExecResult, address: string): HuplabError {
  const stderr = r.stderr.trim().split('\n').slice(-5).join('; ');
  const status = r.code === null ? `was killed${r.signal ? ` by SIG${r.signal}` : ''}` : `exited with ${r.code}`;
  return new HuplabError('ssh-command-failed', `${what} ${status} on ${address}${stderr ? `: ${stderr}` : ''}`);
}
