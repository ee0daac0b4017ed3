/**
 * The resinOS 1.x line as data: its profiles' partitions, its recipes' `onex` part, and the plan
 * that a 1.x device's updates take (the method itself: test/update-method.test.ts).
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEVICES_DIR, loadProfile, partitionLayout, ProfileError, validateProfile } from '../lib/profile.ts';
import { LAYOUT_1X, RESIN_1X_PARTITIONS, configJsonPlace1x } from '../lib/partition/resin-1x.ts';
import { loadRelease, releasesDirForTest } from './helpers/onex.ts';
import { planUpdate } from '../harness/update/plan.ts';

const profileJson = async (name: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(path.join(DEVICES_DIR, `${name}.json`), 'utf8'));

t.test(
  'the 1.x profiles: the 1.x labels in order on MBR, resin-root p2, resin-updt p3, logical p5 and p6',
  async (t) => {
    for (const name of ['generic-amd64-1x', 'raspberrypi3-1x']) {
      const p = await loadProfile(name);
      t.equal(p.layout, LAYOUT_1X);
      t.equal(p.partitionTable, 'mbr');
      const slots = partitionLayout(p).map((s) => `${s.index}:${s.label}`);
      t.same(slots, ['1:resin-boot', '2:resin-root', '3:resin-updt', '5:resin-conf', '6:resin-data'], name);
      t.equal(p.partitions[1]?.sizeMiB, 176, 'the field root size');
    }
  },
);

t.test('a 1.x profile with the 2.x labels, and a 2.x profile with the 1.x ones, are refused', async (t) => {
  const onex = await profileJson('generic-amd64-1x');
  const withAb = structuredClone(onex) as { partitions: Array<{ label: string }> };
  withAb.partitions[1]!.label = 'resin-rootA';
  const e1 = t.throws(() => validateProfile(withAb, 'generic-amd64-1x.json')) as unknown;
  t.ok(e1 instanceof ProfileError);
  t.match((e1 as ProfileError).message, /must contain a partition labelled "resin-root"/);
  const two = structuredClone(onex) as Record<string, unknown>;
  delete two.layout;
  const e2 = t.throws(() => validateProfile(two, 'generic-amd64-1x.json')) as unknown;
  t.match((e2 as ProfileError).message, /must contain a partition labelled "resin-rootA"/);
  t.same(
    RESIN_1X_PARTITIONS.map((p) => p.label),
    ['resin-boot', 'resin-root', 'resin-updt', 'resin-conf', 'resin-data'],
  );
});

t.test('1.x recipes carry their data-partition state, and only they may', async (t) => {
  const r = await loadRelease('1.26.1');
  t.equal(r.layout, LAYOUT_1X);
  t.match(r.onex, { application: { appId: Number, name: 'demo' }, wifiConnect: { ssid: String } });
  const dir = await releasesDirForTest(t);
  const noOnex = { ...JSON.parse(await readFile(path.join(dir, '1.24.0.json'), 'utf8')) };
  delete noOnex.onex;
  await writeFile(path.join(dir, '1.24.0.json'), JSON.stringify(noOnex));
  await t.rejects(loadRelease('1.24.0', dir), { code: 'release-invalid', message: /onex/ });
  const two = JSON.parse(await readFile(path.join(dir, '2.88.0.json'), 'utf8'));
  two.onex = { application: { appId: 1, name: 'demo', imageKiB: 1 } };
  await writeFile(path.join(dir, '2.88.0.json'), JSON.stringify(two));
  await t.rejects(loadRelease('2.88.0', dir), { code: 'release-invalid' });
});

t.test('config.json: on resin-conf up to 1.11, on resin-boot from 1.12', async (t) => {
  t.same(configJsonPlace1x('1.11.2'), { partition: 'resin-conf', mount: '/mnt/conf' });
  t.same(configJsonPlace1x('1.12.0'), { partition: 'resin-boot', mount: '/mnt/boot' });
  t.same(configJsonPlace1x('1.26.1'), { partition: 'resin-boot', mount: '/mnt/boot' });
});

t.test('the plan of a 1.x device: 1.x within the line, 1.x-to-2.x onto the 2.x profile of the board', async (t) => {
  const within = await planUpdate({ device: 'generic-amd64-1x', from: '1.24.0', to: '1.26.1' });
  t.equal(within.decision.method, '1.x');
  t.equal(within.target.name, 'generic-amd64-1x');
  const out = await planUpdate({ device: 'raspberrypi3-1x', from: '1.24.0', to: '2.102.1' });
  t.equal(out.decision.method, '1.x-to-2.x');
  t.equal(out.target.name, 'raspberrypi3', 'not raspberrypi3-64: the 32-to-64 path starts on the 2.x line');
  const back = await planUpdate({ device: 'generic-amd64', from: '2.102.0', to: '2.102.1' });
  t.equal(back.decision.method, 'standard');
  await t.rejects(planUpdate({ device: 'generic-amd64', from: '2.102.0', to: '1.26.1' }), {
    code: 'release-not-for-device',
  });
});
