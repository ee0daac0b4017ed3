/**
 * Logs in over SSH the ways a production device must refuse: no credentials at all (the `none`
 * method, which dropbear's blank-password mode answers), a password (empty or guessed), a key the
 * device was never given. Each attempt is a connection of its own; the result says whether the
 * device let it in. The harness's own SSH (client.ts) uses the lab's key, which config.json
 * authorises.
 */
import ssh2 from 'ssh2';

export type SshAttempt =
  | { kind: 'none' }
  | { kind: 'password'; password: string }
  | { kind: 'key'; privateKey: string | Buffer; what: string };

export interface SshAttemptResult {
  attempt: string;
  /** The device let this login in. */
  accepted: boolean;
  /** Why not, as the client saw it. */
  error?: string;
}

export function describeAttempt(a: SshAttempt): string {
  if (a.kind === 'none') return 'no credentials';
  if (a.kind === 'password') return a.password === '' ? 'an empty password' : `the password "${a.password}"`;
  return a.what;
}

/** A fresh ed25519 key pair no device knows. */
export function throwawayKey(): { privateKey: string; publicKey: string } {
  const k = ssh2.utils.generateKeyPairSync('ed25519');
  return { privateKey: k.private, publicKey: k.public };
}

export async function trySshLogin(
  target: { host: string; port: number; user?: string },
  attempt: SshAttempt,
  timeoutMs = 20_000,
): Promise<SshAttemptResult> {
  const username = target.user ?? 'root';
  const method =
    attempt.kind === 'none'
      ? { type: 'none' as const, username }
      : attempt.kind === 'password'
        ? { type: 'password' as const, username, password: attempt.password }
        : { type: 'publickey' as const, username, key: attempt.privateKey };
  const conn = new ssh2.Client();
  return new Promise<SshAttemptResult>((resolve) => {
    const done = (r: Omit<SshAttemptResult, 'attempt'>) => {
      conn.removeAllListeners();
      conn.on('error', () => {});
      conn.end();
      resolve({ attempt: describeAttempt(attempt), ...r });
    };
    conn.on('ready', () => done({ accepted: true }));
    conn.on('error', (err) => done({ accepted: false, error: err.message }));
    conn.connect({
      host: target.host,
      port: target.port,
      username,
      readyTimeout: timeoutMs,
      // Only this one method, once: nothing of the lab's (agent, key) is offered on the side.
      authHandler: [method] as unknown as ssh2.ConnectConfig['authHandler'],
      hostVerifier: () => true,
    });
  });
}
