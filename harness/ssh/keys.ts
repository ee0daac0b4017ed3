/**
 * The lab's SSH identity. Each lab directory gets its own freshly generated ed25519 key, which the
 * image builder puts into `config.json` (`os.sshKeys`) of the devices it builds for that lab.
 * Never a key shipped in the repository: a device image built here must not open to anyone else.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { HuplabError } from '../../lib/errors.ts';

export interface LabKey {
  privateKeyPath: string;
  /** OpenSSH one-line public key: `ssh-ed25519 AAAA... huplab-lab-<id>`. */
  publicKey: string;
}

export function labKeyPaths(labDir: string): { privateKeyPath: string; publicKeyPath: string } {
  const privateKeyPath = path.join(path.resolve(labDir), 'ssh', 'id_ed25519');
  return { privateKeyPath, publicKeyPath: `${privateKeyPath}.pub` };
}

export function ensureLabKey(labDir: string): LabKey {
  const { privateKeyPath, publicKeyPath } = labKeyPaths(labDir);
  if (fs.existsSync(privateKeyPath) && fs.existsSync(publicKeyPath)) {
    // ssh and dropbear clients refuse private keys others can read; repair rather than fail later.
    if ((fs.statSync(privateKeyPath).mode & 0o077) !== 0) fs.chmodSync(privateKeyPath, 0o600);
    return { privateKeyPath, publicKey: fs.readFileSync(publicKeyPath, 'utf8').trim() };
  }
  fs.mkdirSync(path.dirname(privateKeyPath), { recursive: true, mode: 0o700 });
  const id = crypto.randomBytes(6).toString('hex');
  const pair = generateUsableKeyPair(`huplab-lab-${id}`);
  const publicKey = pair.public.trim();
  // Write both through temp files and rename: a lab never sees half a key after a crash.
  writeAtomic(privateKeyPath, pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`);
  writeAtomic(publicKeyPath, `${publicKey}\n`);
  return { privateKeyPath, publicKey };
}

/**
 * ssh2's generator emits, a few times in a thousand, an ed25519 private key that its own parser
 * then rejects ("Malformed OpenSSH private key"), which would leave a lab unable to reach any
 * device. Every pair is therefore parsed back, and checked to sign and verify, before use.
 */
export function generateUsableKeyPair(comment: string, attempts = 20): { private: string; public: string } {
  for (let i = 0; i < attempts; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (priv instanceof Error || pub instanceof Error) continue;
    const k = Array.isArray(priv) ? priv[0] : priv;
    const p = Array.isArray(pub) ? pub[0] : pub;
    if (!k || !p) continue;
    const data = crypto.randomBytes(32);
    const sig = k.sign(data);
    if (sig instanceof Error || p.verify(data, sig) !== true) continue;
    return pair;
  }
  throw new HuplabError('ssh-keygen-failed', `could not generate a usable ed25519 key in ${attempts} attempts`, {
    hint: 'check the ssh2 package installation',
  });
}

/** The private key of a lab key file, checked to be parsable. */
export function readPrivateKey(privateKeyPath: string): Buffer {
  const key = fs.readFileSync(privateKeyPath);
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) {
    throw new HuplabError(
      'ssh-key-invalid',
      `SSH key ${privateKeyPath} is not a usable private key: ${parsed.message}`,
      {
        hint: `delete ${privateKeyPath} (and its .pub) to generate a new lab key, then rebuild the device images`,
      },
    );
  }
  return key;
}

function writeAtomic(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600); // mode is masked by umask only on creation; make it exact
  fs.renameSync(tmp, file);
}
