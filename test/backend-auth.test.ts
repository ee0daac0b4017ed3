import t from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { credentialOf, LabAuth } from '../harness/backend/auth.ts';
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
