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
