import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import { ensureLabKey, readPrivateKey } from '../harness/ssh/keys.ts';

t.test('a fresh ed25519 key per lab, 0600, reused within the lab', async (t) => {
  const dir = t.testdir({ labA: {}, labB: {} });
  const a = ensureLabKey(path.join(dir, 'labA'));
  const b = ensureLabKey(path.join(dir, 'labB'));
  t.not(a.publicKey, b.publicKey, 'distinct per lab');
  t.match(a.publicKey, /^ssh-ed25519 AAAA\S+ huplab-lab-[0-9a-f]{12}$/);
  t.equal(fs.statSync(a.privateKeyPath).mode & 0o777, 0o600, 'private key 0600');
  t.equal(fs.statSync(`${a.privateKeyPath}.pub`).mode & 0o777, 0o600, 'public key 0600');
  t.equal(fs.readFileSync(`${a.privateKeyPath}.pub`, 'utf8').trim(), a.publicKey);
  t.match(fs.readFileSync(a.privateKeyPath, 'utf8'), /^-----BEGIN OPENSSH PRIVATE KEY-----/);

  const parsed = ssh2.utils.parseKey(fs.readFileSync(a.privateKeyPath));
  t.notOk(parsed instanceof Error, 'private key parsable by ssh2');
  if (!(parsed instanceof Error)) {
    t.equal(parsed.type, 'ssh-ed25519');
    t.ok(parsed.isPrivateKey());
    const pub = ssh2.utils.parseKey(a.publicKey);
    t.ok(!(pub instanceof Error) && pub.equals(parsed.getPublicSSH()), 'public key matches the private key');
  }

  const again = ensureLabKey(path.join(dir, 'labA'));
  t.same(again, a, 'second call returns the same key');
  fs.chmodSync(a.privateKeyPath, 0o644);
  ensureLabKey(path.join(dir, 'labA'));
  t.equal(fs.statSync(a.privateKeyPath).mode & 0o777, 0o600, 'loose permissions repaired');
  t.ok(readPrivateKey(a.privateKeyPath).length > 0);
});

t.test('an unusable key file is a clear error', async (t) => {
  const dir = t.testdir({ key: 'not a key' });
  t.throws(() => readPrivateKey(path.join(dir, 'key')), { code: 'ssh-key-invalid' });
});

t.test('every generated lab key parses back and signs (ssh2 sometimes emits one that does not)', async (t) => {
  const { generateUsableKeyPair } = await import('../harness/ssh/keys.ts');
  const ssh2 = (await import('ssh2')).default;
  for (let i = 0; i < 600; i++) {
    const pair = generateUsableKeyPair(`huplab-lab-test${i}`);
    if (ssh2.utils.parseKey(pair.private) instanceof Error) {
      t.fail(`key ${i} does not parse`);
      return;
    }
  }
  t.pass('600 keys parse');
});
