import t from 'tap';
import {
  HuplabError,
  INFRASTRUCTURE_CODES,
  INFRASTRUCTURE_PREFIX,
  hasInfrastructurePrefix,
  isHuplabError,
  isInfrastructureError,
} from '../lib/errors.ts';

t.test('oneLine appends the hint in parentheses', async (t) => {
  const e = new HuplabError('profile-invalid', 'devices/x.json: /arch must be one of amd64', {
    hint: 'fix the profile',
  });
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

t.test('an infrastructure error says so at the start of its message', async (t) => {
  const e = new HuplabError('port-in-use', 'port 2222 on 127.0.0.1 is in use', {
    hint: 'pick another',
    infrastructure: true,
  });
  t.equal(INFRASTRUCTURE_PREFIX, 'infrastructure: ', 'the documented prefix');
  t.equal(e.message, 'infrastructure: port 2222 on 127.0.0.1 is in use');
  t.equal(e.oneLine(), 'infrastructure: port 2222 on 127.0.0.1 is in use (pick another)');
  t.equal(e.infrastructure, true);
  t.ok(isInfrastructureError(e));
  t.equal(
    new HuplabError('x', 'infrastructure: already', { infrastructure: true }).message,
    'infrastructure: already',
    'not doubled',
  );
});

t.test('other errors are not infrastructure', async (t) => {
  const e = new HuplabError('update-failed', 'OS update failed');
  t.equal(e.infrastructure, false);
  t.equal(e.message, 'OS update failed');
  t.notOk(isInfrastructureError(e));
  t.notOk(isInfrastructureError(new Error('plain')));
  t.notOk(isInfrastructureError('infrastructure: a string is not an error'));
  t.equal(
    new HuplabError('npm-download-failed', 'm', { infrastructure: false }).infrastructure,
    false,
    'a call site may opt out',
  );
});

t.test('codes thrown by unmarked code (the image builder) are infrastructure by code', async (t) => {
  for (const code of [
    'debian-download-failed',
    'npm-download-failed',
    'debian-package-missing',
    'grub-failed',
    'flash-failed',
  ]) {
    t.ok(INFRASTRUCTURE_CODES.has(code), code);
    const e = new HuplabError(code, 'could not download x');
    t.ok(e.infrastructure, code);
    t.equal(e.message, 'infrastructure: could not download x');
  }
  t.notOk(INFRASTRUCTURE_CODES.has('digest-mismatch'), 'the updater uses digest-mismatch for a product failure');
  const alt = new HuplabError('could not download y', { code: 'npm-download-failed' });
  t.equal(alt.message, 'infrastructure: could not download y', 'both call shapes');
});

t.test('the prefix is recognised in message text as reports show it', async (t) => {
  t.ok(hasInfrastructurePrefix('infrastructure: QEMU failed to start'));
  t.ok(hasInfrastructurePrefix('HuplabError: infrastructure: QEMU failed to start'));
  t.ok(hasInfrastructurePrefix('Error: infrastructure: x\nmore lines'));
  t.notOk(hasInfrastructurePrefix('expect(received).toEqual(expected)\ninfrastructure: on a later line'));
  t.notOk(hasInfrastructurePrefix('HuplabError: OS update failed: infrastructure: quoted'));
  t.notOk(hasInfrastructurePrefix('Error: the infrastructure: x'));
});

t.test('an error caused by an infrastructure error is one', async (t) => {
  const root = new HuplabError('qemu-start-failed', 'QEMU failed to start', { infrastructure: true });
  t.ok(isInfrastructureError(new Error('device fixture failed', { cause: root })));
  t.ok(isInfrastructureError(new Error('wrapped', { cause: new Error('again', { cause: root }) })));
});
