/**
 * Interactive console: the user's terminal wired to the device's serial socket, like `screen` on
 * a USB-serial adapter. Detaching (ctrl-]) only closes our connection; the VM keeps running and
 * its log keeps growing.
 */
import net from 'node:net';
import path from 'node:path';
import { HuplabError } from '../../lib/errors.ts';

const DETACH = 0x1d; // ctrl-], as in telnet

export interface AttachOptions {
  /** Shown in the banner; default: the socket's folder (the device). */
  name?: string;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WritableStream;
  /** Where the banner goes; stderr so that `> file` captures only console output. */
  stderr?: NodeJS.WritableStream;
}

/** Resolves when the user detaches or the device goes away. */
export async function attachTerminal(sockPath: string, opts: AttachOptions = {}): Promise<'detached' | 'closed'> {
  const stdin = opts.stdin ?? process.stdin;
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const name = opts.name ?? path.basename(path.dirname(path.resolve(sockPath)));

  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(sockPath);
    s.once('connect', () => resolve(s));
    s.once('error', (err) =>
      reject(
        new HuplabError('console-connect', `cannot attach to the console of ${name} (${sockPath}): ${err.message}`, {
          hint: 'is the device running? start it with `huplab device start`',
          cause: err,
        }),
      ),
    );
  });

  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  // In raw mode ctrl-c goes to the guest (where it belongs), so the only way out is ctrl-].
  if (stdin.isTTY) stdin.setRawMode(true);
  // Raw mode turns off the terminal's \n -> \r\n, hence the explicit \r.
  stderr.write(`[huplab] attached to ${name} console; ctrl-] to detach\r\n`);

  const restore = () => {
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
  };
  // Even if something throws or the process exits mid-session, never leave the tty raw.
  process.once('exit', restore);

  return new Promise((resolve) => {
    let finished = false;
    const finish = (how: 'detached' | 'closed') => {
      if (finished) return;
      finished = true;
      stdin.off('data', onInput);
      stdin.pause();
      sock.unpipe();
      sock.destroy();
      restore();
      process.off('exit', restore);
      stderr.write(
        how === 'detached'
          ? `\r\n[huplab] detached from ${name}; it keeps running\r\n`
          : `\r\n[huplab] console of ${name} closed\r\n`,
      );
      resolve(how);
    };
    const onInput = (chunk: Buffer | string) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const at = data.indexOf(DETACH);
      if (at < 0) {
        sock.write(data);
        return;
      }
      if (at > 0) sock.write(data.subarray(0, at)); // keystrokes typed before ctrl-] still count
      finish('detached');
    };
    sock.pipe(stdout, { end: false });
    sock.on('close', () => finish('closed'));
    sock.on('error', () => finish('closed'));
    stdin.on('data', onInput);
    stdin.resume();
  });
}
