import t from 'tap';
import { chooseUpdateMethod, type OsIdentity } from '../lib/update-method.ts';

const os = (version: string, deviceType: string, layout: string, arch: string): OsIdentity => ({
  version,
  deviceType,
  layout,
  arch,
});
const amd = (v: string) => os(v, 'generic-amd64', 'balena-ab-v1', 'amd64');
const pi32 = (v: string) => os(v, 'raspberrypi3', 'balena-ab-v1', 'armhf');
const pi64 = (v: string) => os(v, 'raspberrypi3-64', 'balena-ab-v1', 'arm64');
const jp4 = (v: string) => os(v, 'jetson-xavier', 'jetson-l4t32', 'arm64');
const jp5 = (v: string) => os(v, 'jetson-xavier', 'jetson-l4t35', 'arm64');

t.test('within a line: standard; same version and downgrades refused unless allowed', async (t) => {
  t.equal(chooseUpdateMethod(amd('2.101.0'), amd('2.102.0')).method, 'standard');
  t.equal(chooseUpdateMethod(jp5('5.1.0'), jp5('5.2.1')).method, 'standard');
  t.match(chooseUpdateMethod(amd('2.102.0'), amd('2.102.0')), { method: 'refused', reason: /already runs 2\.102\.0/ });
  t.match(chooseUpdateMethod(amd('2.102.0'), amd('2.101.0')), { method: 'refused', reason: /downgrades are refused/ });
  t.equal(chooseUpdateMethod(amd('2.102.0'), amd('2.101.0'), { allowDowngrade: true }).method, 'standard');
});

t.test('the two jumps the standard path cannot make: advanced, with what they cross', async (t) => {
  const pi = chooseUpdateMethod(pi32('2.102.0'), pi64('2.102.1'));
  t.match(pi, { method: 'advanced', reason: /32-bit OS to a 64-bit one/ });
  t.equal(
    chooseUpdateMethod(pi32('2.102.1'), pi64('2.102.1')).method,
    'advanced',
    'the same version on the other architecture is a move, not a downgrade',
  );
  t.match(chooseUpdateMethod(jp4('2.114.1'), jp5('5.1.0')), { method: 'advanced', reason: /JetPack 4 to JetPack 5/ });
  t.match(chooseUpdateMethod(jp4('2.114.1'), jp5('2.101.0')), { method: 'refused', reason: /never goes back/ });
});

t.test('no way back, and no way to another board', async (t) => {
  t.match(chooseUpdateMethod(pi64('2.102.1'), pi32('2.102.1')), { method: 'refused', reason: /no way back/ });
  t.match(chooseUpdateMethod(jp5('5.2.0'), jp4('2.114.1')), { method: 'refused', reason: /no way back/ });
  const other = chooseUpdateMethod(amd('2.101.0'), jp4('2.113.0'));
  t.match(other, {
    method: 'refused',
    reason: /built for jetson-xavier, this device is generic-amd64/,
    hint: /release of generic-amd64/,
  });
  t.match(chooseUpdateMethod(amd('2.101.0'), os('2.102.0', 'generic-amd64', 'balena-ab-v2', 'amd64')), {
    method: 'refused',
    reason: /no advanced path covers it/,
  });
});

t.test('the 1.x line: 1.x within it, 1.x-to-2.x out of it, with the field limits', async (t) => {
  const onex = (v: string) => os(v, 'generic-amd64', 'resin-1x', 'amd64');
  const pi1x = (v: string) => os(v, 'raspberrypi3', 'resin-1x', 'armhf');
  t.match(chooseUpdateMethod(onex('1.24.0'), onex('1.26.1')), { method: '1.x', reason: /fingerprint/ });
  t.match(chooseUpdateMethod(pi1x('1.24.0'), pi1x('1.26.1')), { method: '1.x' });
  t.match(chooseUpdateMethod(onex('1.24.0'), amd('2.102.1')), { method: '1.x-to-2.x', reason: /\/data backed up/ });
  t.match(chooseUpdateMethod(pi1x('1.26.1'), pi32('2.101.0')), { method: '1.x-to-2.x' });
  // The limits: source 1.8.0, 1.x target 1.26.0, 2.x target 2.2.0+rev1.
  t.match(chooseUpdateMethod(onex('1.7.9'), onex('1.26.1')), {
    method: 'refused',
    reason: /too low for a host OS update, need 1\.8\.0/,
  });
  t.match(chooseUpdateMethod(onex('1.8.0'), onex('1.25.9')), {
    method: 'refused',
    reason: /1\.x target 1\.25\.9 is too low/,
  });
  t.equal(chooseUpdateMethod(onex('1.8.0'), onex('1.26.0')).method, '1.x');
  t.match(chooseUpdateMethod(onex('1.24.0'), amd('2.1.0')), {
    method: 'refused',
    reason: /2\.x target 2\.1\.0 is too low/,
  });
  t.equal(chooseUpdateMethod(onex('1.24.0'), amd('2.2.0+rev1')).method, '1.x-to-2.x');
  // Never back, never elsewhere.
  t.match(chooseUpdateMethod(onex('1.26.1'), onex('1.24.0')), { method: 'refused', reason: /never go back/ });
  t.match(chooseUpdateMethod(onex('1.26.1'), onex('1.26.1')), { method: 'refused', reason: /already runs/ });
  t.match(chooseUpdateMethod(amd('2.102.1'), onex('1.26.1')), {
    method: 'refused',
    reason: /only left, never entered/,
  });
  t.match(chooseUpdateMethod(onex('1.24.0'), pi1x('1.26.1')), { method: 'refused', reason: /same device type/ });
  t.match(chooseUpdateMethod(onex('1.24.0'), os('5.1.0', 'generic-amd64', 'jetson-l4t35', 'amd64')), {
    method: 'refused',
    reason: /nowhere else/,
  });
  // The 2.x paths are unchanged by the 1.x ones.
  t.equal(chooseUpdateMethod(amd('2.101.0'), amd('2.102.0')).method, 'standard');
});
