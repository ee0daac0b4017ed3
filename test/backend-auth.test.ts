import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { credentialOf, keyDigest, LabAuth } from '../harness/backend/auth.ts';
import { ensureOperatorToken } from '../harness/lab.ts';

t.test('credentials: Bearer, or the password of Basic; nothing else', async (t) => {
  t.equal(credentialOf('Bearer abc'), 'abc');
  t.equal(credentialOf(`Basic ${Buffer.from('user:p:w').toString('base64')}`), 'p:w');
  t.equal(credentialOf(`Basic ${Buffer.from('nopassword').toString('base64')}`), undefined);
  t.equal(credentialOf('abc'), undefined);
  t.equal(credentialOf(undefined), undefined);
  t.equal(credentialOf(['Bearer a', 'Bearer b']), undefined, 'two headers are refused');
});

t.test('a key authenticates its own principal only', async (t) => {
  const auth = new LabAuth('op-token');
  const a = auth.registerDevice('a');
  const b = auth.registerDevice('b');
  t.not(a, b, 'keys are fresh per device');
  t.match(a, /^[0-9a-f]{64}$/);
  t.same(auth.authenticate(`Bearer ${a}`), { kind: 'device', uuid: 'a' });
  t.same(auth.authenticate(`Bearer ${b}`), { kind: 'device', uuid: 'b' });
  t.same(auth.authenticate('Bearer op-token'), { kind: 'operator' });
  t.equal(auth.authenticate('Bearer op-toke'), undefined);
  t.equal(auth.authenticate(`Bearer ${a}0`), undefined);
  t.equal(auth.authenticate(''), undefined);
});

t.test("the lab's operator token: made once, random, mode 0600", async (t) => {
  const dir = t.testdir({});
  const first = ensureOperatorToken(dir);
  t.match(first, /^[0-9a-f]{64}$/);
  t.equal(ensureOperatorToken(dir), first, 'the same token on the next open');
  t.equal(statSync(join(dir, 'operator-token')).mode & 0o777, 0o600);
  t.not(ensureOperatorToken(t.testdir({})), first, 'another lab, another token');
});

t.test('a key store gets digests, never keys, and a new LabAuth over it knows the keys', async (t) => {
  const saved = new Map<string, Buffer>();
  const store = {
    load: () => [...saved].map(([uuid, sha256]) => ({ uuid, sha256 })),
    save: (uuid: string, sha256: Buffer) => void saved.set(uuid, sha256),
  };
  const first = new LabAuth('op-token', store);
  const key = first.registerDevice('dev-a');
  t.same([...saved.keys()], ['dev-a']);
  t.equal(saved.get('dev-a')?.length, 32, 'a sha256');
  t.same(saved.get('dev-a'), keyDigest(key));
  t.notOk(saved.get('dev-a')?.toString('latin1').includes(key), 'not the key');

  const restarted = new LabAuth('op-token', store);
  t.same(restarted.authenticate(`Bearer ${key}`), { kind: 'device', uuid: 'dev-a' }, 'the key survives a restart');
  t.equal(restarted.authenticate(`Bearer ${key.slice(0, -1)}`), undefined);
  t.equal(new LabAuth('op-token').authenticate(`Bearer ${key}`), undefined, 'without the store it is unknown');
});
