import t from 'tap';
import { holdings, type Held } from '../harness/holdings.ts';

function held(what: string, log: string[], extra: Partial<Held> = {}): Held {
  return {
    what,
    release: async () => {
      log.push(what);
      return 'released';
    },
    force: () => log.push(`force ${what}`),
    ...extra,
  };
}

t.afterEach(() => holdings.forceAll());

t.test('releases newest first, so a device goes before the servers it was started against', async (t) => {
  const log: string[] = [];
  const backend = {};
  const device = {};
  holdings.hold(backend, held('backend', log));
  holdings.hold(device, held('device a1', log, { keepable: true }));
  const report = await holdings.releaseAll();
  t.same(log, ['device a1', 'backend']);
  t.same(report.released, ['device a1 released', 'backend released']);
  t.same(report.kept, []);
  t.same(holdings.list(), [], 'nothing is held afterwards');
});

t.test('keepDevices keeps what can run on alone, and releases the rest', async (t) => {
  const log: string[] = [];
  holdings.hold({}, held('backend', log));
  holdings.hold({}, held('device kept', log, { keepable: true }));
  holdings.hold({}, held('device on a served disk', log, { keepable: false }));
  const report = await holdings.releaseAll({ keepDevices: true });
  t.same(log, ['device on a served disk', 'backend']);
  t.same(report.kept, ['device kept']);
});

t.test('a dropped holding is not released; a failing release is reported and the rest still go', async (t) => {
  const log: string[] = [];
  const stopped = {};
  holdings.hold(stopped, held('device stopped', log, { keepable: true }));
  holdings.drop(stopped);
  holdings.hold({}, held('backend', log));
  holdings.hold(
    {},
    held('device stuck', log, {
      release: async () => {
        throw new Error('QEMU survived SIGKILL');
      },
    }),
  );
  const report = await holdings.releaseAll();
  t.same(log, ['backend']);
  t.same(report.released, ['device stuck could not be released: QEMU survived SIGKILL', 'backend released']);
});

t.test('forceAll forces every holding at once and forgets them', async (t) => {
  const log: string[] = [];
  holdings.hold({}, held('a', log));
  holdings.hold({}, held('b', log));
  holdings.forceAll();
  t.same(log, ['force b', 'force a']);
  t.same(holdings.list(), []);
});

t.test('holding the same key again replaces it and moves it to the newest place', async (t) => {
  const log: string[] = [];
  const key = {};
  holdings.hold(key, held('first', log));
  holdings.hold({}, held('other', log));
  holdings.hold(key, held('second', log));
  await holdings.releaseAll();
  t.same(log, ['second', 'other']);
});
