import t from 'tap';
import { HuplabError, isHuplabError } from '../lib/errors.ts';

t.test('oneLine appends the hint in parentheses', async (t) => {
  const e = new HuplabError('profile-invalid', 'devices/x.json: /arch must be one of amd64', { hint: 'fix the profile' });
  t.equal(e.oneLine(), 'devices/x.json: /arch must be one of amd64 (fix the profile)');
  t.equal(e.code, 'profile-invalid');
  t.equal(e.hint, 'fix the profile');
  t.ok(e instanceof Error);
  t.equal(e.name, 'HuplabError');
});

t.test('oneLine without a hint is the message alone', async (t) => {
  const e = new HuplabError('x-y', 'plain message');
  t.equal(e.oneLine(), 'plain message');
  t.equal(e.hint, undefined);
});

t.test('oneLine folds newlines from embedded text', async (t) => {
  const e = new HuplabError('tool-failed', 'sfdisk said:\n  bad thing\nmore', { hint: 'try\nagain' });
  t.equal(e.oneLine(), 'sfdisk said: bad thing more (try again)');
});

t.test('cause is kept', async (t) => {
  const cause = new Error('root');
  t.equal(new HuplabError('a', 'b', { cause }).cause, cause);
});

t.test('isHuplabError narrows by code', async (t) => {
  const e = new HuplabError('unknown-device', 'm');
  t.ok(isHuplabError(e));
  t.ok(isHuplabError(e, 'unknown-device'));
  t.notOk(isHuplabError(e, 'other'));
  t.notOk(isHuplabError(new Error('m')));
});
