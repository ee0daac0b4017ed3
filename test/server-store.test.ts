import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sqlite from 'node-sqlite3-wasm';
import { isHuplabError } from '../lib/errors.ts';
import { MIGRATIONS, Store } from '../harness/server/store.ts';

// The lab server's database: the schema and its migrations, every table, data kept across a
// close, and one process at a time.

const AT = '2026-01-02T03:04:05.000Z';
const ALL = MIGRATIONS.map((m) => m.version);
const LATEST = ALL.at(-1)!;
const sha = (s: string) => createHash('sha256').update(s).digest();
const device = (uuid: string, name: string) => ({
  uuid,
  name,
  deviceType: 'generic-amd64',
  arch: 'amd64',
  osVersion: '2.101.0',
  supervisorVersion: '14.0.0',
});

/** The database's tables and schema version, read past the store with a connection of its own. */
function schemaOf(file: string): { tables: string[]; versions: number[] } {
  const db = new sqlite.Database(file, { readOnly: true });
  try {
    const tables = db
      .all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .map((r) => r.name as string);
    const versions = db.all('SELECT version FROM schema_version ORDER BY version').map((r) => Number(r.version));
    return { tables, versions };
  } finally {
    db.close();
  }
}

t.test('a new database gets every migration, recorded once each', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  const store = Store.open(file);
  t.equal(store.version, MIGRATIONS.at(-1)!.version);
  store.close();
  t.same(schemaOf(file), {
    tables: ['device_keys', 'devices', 'progress', 'schema_version', 'server_ports', 'targets', 'update_logs'],
    versions: MIGRATIONS.map((m) => m.version),
  });
  Store.open(file).close();
  t.same(schemaOf(file).versions, ALL, 'opening again applies nothing twice');
  t.notOk(existsSync(`${file}.owner`), 'close gives the database up');
});

t.test('an older database is migrated with its data kept', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  const v1 = Store.open(file, { migrations: MIGRATIONS.slice(0, 1) });
  t.equal(v1.version, 1);
  v1.putDevice(device('u1', 'one'), AT);
  v1.addProgress('u1', { percent: 10, message: 'Preparing OS update', at: AT });
  v1.close();
  t.same(schemaOf(file).tables, ['device_keys', 'devices', 'progress', 'schema_version']);

  const v2 = Store.open(file);
  t.teardown(() => v2.close());
  t.equal(v2.version, LATEST);
  t.equal(v2.device('u1')?.name, 'one', 'the device is still there');
  t.same(
    v2.progress('u1').map((p) => p.message),
    ['Preparing OS update'],
  );
  v2.setTarget('u1', { osVersion: '2.102.0', setAt: AT });
  t.equal(v2.target('u1')?.osVersion, '2.102.0', "the new version's tables work");
});

t.test('a failing migration changes nothing; a newer database is refused', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  Store.open(file).close();
  const broken = [
    ...MIGRATIONS,
    { version: LATEST + 1, what: 'broken', sql: 'CREATE TABLE half (a); SELEC nonsense;' },
  ];
  t.throws(() => Store.open(file, { migrations: broken }), { code: 'store-failed' });
  t.same(schemaOf(file), {
    tables: ['device_keys', 'devices', 'progress', 'schema_version', 'server_ports', 'targets', 'update_logs'],
    versions: ALL,
  });
  t.notOk(existsSync(`${file}.owner`), 'a failed open gives the database up');

  const newer = [...MIGRATIONS, { version: LATEST + 1, what: 'a later huplab', sql: 'CREATE TABLE later (a);' }];
  Store.open(file, { migrations: newer }).close();
  try {
    Store.open(file).close();
    t.fail('a database of a newer schema must be refused');
  } catch (err) {
    t.ok(isHuplabError(err, 'store-too-new'));
    t.match((err as Error).message, `schema version ${LATEST + 1}, newer than this huplab knows (${LATEST})`);
  }
});

t.test('devices: registered, replaced, reported on, listed', async (t) => {
  const store = Store.open(join(t.testdir({}), 'lab.db'));
  t.teardown(() => store.close());
  const a = store.putDevice(device('ua', 'alpha'), AT);
  t.same(a, { ...device('ua', 'alpha'), registeredAt: AT });
  store.putDevice({ ...device('ub', 'beta'), arch: 'arm64', deviceType: 'raspberrypi3-64' }, AT);
  t.same(
    store.devices().map((d) => [d.name, d.arch]),
    [
      ['alpha', 'amd64'],
      ['beta', 'arm64'],
    ],
  );

  const later = '2026-01-02T03:05:00.000Z';
  t.equal(store.reportState('nope', { status: 'Idle' }, later), undefined, 'a device not registered');
  const beat = store.reportState('ua', { supervisorVersion: '14.1.0', status: 'Idle' }, later);
  t.match(beat, { osVersion: '2.101.0', supervisorVersion: '14.1.0', status: 'Idle', lastSeen: later });
  store.reportState('ua', {}, '2026-01-02T03:06:00.000Z');
  t.match(store.device('ua'), { supervisorVersion: '14.1.0', status: 'Idle', lastSeen: '2026-01-02T03:06:00.000Z' });

  store.putDevice({ ...device('ua', 'alpha'), osVersion: '2.102.0' }, later);
  t.match(store.device('ua'), { osVersion: '2.102.0', registeredAt: AT }, 'same uuid: updated, registered when it was');

  store.setDeviceKey('ua', sha('key-a'), AT);
  store.addProgress('ua', { percent: 100, message: 'done', at: AT });
  store.putDevice(device('ua2', 'alpha'), later);
  t.equal(store.device('ua'), undefined, 'the same name again: the device was flashed anew, its old record goes');
  t.same(
    store.deviceKeys().map((k) => k.uuid),
    [],
    'and its old key with it',
  );
  t.equal(store.progress('ua').length, 1, 'its history stays under its uuid');
});

t.test('keys: digests only, 32 bytes', async (t) => {
  const store = Store.open(join(t.testdir({}), 'lab.db'));
  t.teardown(() => store.close());
  store.setDeviceKey('ua', sha('first'), AT);
  store.setDeviceKey('ua', sha('second'), AT);
  store.setDeviceKey('ub', sha('third'), AT);
  t.same(store.deviceKeys(), [
    { uuid: 'ua', sha256: sha('second') },
    { uuid: 'ub', sha256: sha('third') },
  ]);
  t.throws(() => store.setDeviceKey('uc', Buffer.from('the key itself'), AT), /32 bytes/);
});

t.test('targets, progress and update logs', async (t) => {
  const store = Store.open(join(t.testdir({}), 'lab.db'));
  t.teardown(() => store.close());
  t.throws(() => store.setTarget('ghost', { osVersion: '2.102.0', setAt: AT }), { code: 'device-unknown' });
  store.putDevice(device('ua', 'alpha'), AT);
  t.same(store.setTarget('ua', { osVersion: '2.102.0', setAt: AT }), { uuid: 'ua', osVersion: '2.102.0', setAt: AT });
  const later = '2026-01-02T04:00:00.000Z';
  store.setTarget('ua', { supervisorVersion: '15.0.0', setAt: later });
  t.same(store.target('ua'), { uuid: 'ua', supervisorVersion: '15.0.0', setAt: later }, 'a new target replaces');
  t.equal(store.target('ub'), undefined);

  store.addProgress('ua', { percent: 25, message: 'Preparing OS update', status: 'updating', at: AT });
  store.addProgress('ua', { percent: 50.5, message: 'Running OS update', at: later });
  store.addProgress('ub', { percent: 5, message: 'other', at: AT });
  t.same(store.progress('ua'), [
    { percent: 25, message: 'Preparing OS update', status: 'updating', at: AT },
    { percent: 50.5, message: 'Running OS update', at: later },
  ]);
  t.throws(() => store.addProgress('ua', { percent: 101, message: 'too far', at: AT }), /CHECK/);
  t.equal(store.progress('ua').length, 2, 'an out-of-range percent is not stored');
  t.same(store.lastProgress('ua'), { percent: 50.5, message: 'Running OS update', at: later }, 'nor read as the last');

  store.addLog('ua', { name: 'hup.log', text: 'line 1\nline 2\n', at: AT });
  store.addLog('ua', { name: 'hup.log', text: 'line 3\n', at: later });
  t.same(store.logs('ua'), [
    { name: 'hup.log', text: 'line 1\nline 2\n', at: AT },
    { name: 'hup.log', text: 'line 3\n', at: later },
  ]);
  t.same(store.logs('ub'), []);
});

t.test('everything is still there after a close and a new open', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  const first = Store.open(file);
  first.putDevice(device('ua', 'alpha'), AT);
  first.reportState('ua', { status: 'Idle', bootedAt: '2026-01-02T02:00:00.000Z' }, AT);
  first.setDeviceKey('ua', sha('key'), AT);
  first.setTarget('ua', { osVersion: '2.102.0', supervisorVersion: '14.1.0', confirmMajor: true, setAt: AT });
  first.addProgress('ua', { percent: 100, message: 'Update successful, rebooting', status: 'rebooting', at: AT });
  first.addLog('ua', { name: 'hup.log', text: 'ok\n', at: AT });
  const before = {
    device: first.device('ua'),
    keys: first.deviceKeys(),
    target: first.target('ua'),
    progress: first.progress('ua'),
    logs: first.logs('ua'),
  };
  first.close();
  t.ok(readFileSync(file).subarray(0, 16).toString().startsWith('SQLite format 3'), 'a real SQLite file');

  const second = Store.open(file);
  t.teardown(() => second.close());
  t.same(
    {
      device: second.device('ua'),
      keys: second.deviceKeys(),
      target: second.target('ua'),
      progress: second.progress('ua'),
      logs: second.logs('ua'),
    },
    before,
  );
  t.equal(before.progress.length, 1);
  t.equal(before.device?.bootedAt, '2026-01-02T02:00:00.000Z');
});

t.test('what the API reads is read back at open as the file says: each device, target and last report', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  const first = Store.open(file);
  const later = (s: number) => new Date(Date.parse(AT) + s * 1000).toISOString();
  for (const [uuid, name] of [
    ['ub', 'bravo'],
    ['ua', 'alpha'],
    ['uc', 'charlie'],
  ] as const)
    first.putDevice(device(uuid, name), AT);
  first.addProgress('ua', { percent: 10, message: 'a1', at: later(1) });
  first.addProgress('ub', { percent: 20, message: 'b1', at: later(2) });
  first.addProgress('ua', { percent: 30, message: 'a2', status: 'updating', at: later(3) });
  first.reportState('ub', { osVersion: '2.102.0', status: 'Idle' }, later(4));
  first.touch('ua', later(5));
  first.setTarget('uc', { supervisorVersion: '16.8.0', setAt: later(6) });
  first.putDevice(device('ud', 'alpha'), later(7)); // alpha flashed again: a new uuid, the old record goes
  const view = (s: Store) => ({
    names: s.devices().map((d) => `${d.name}:${d.uuid}`),
    devices: s.devices(),
    last: ['ua', 'ub', 'uc', 'ud'].map((u) => s.lastProgress(u)),
    targets: ['ua', 'uc'].map((u) => s.target(u)),
  });
  const before = view(first);
  t.same(before.names, ['alpha:ud', 'bravo:ub', 'charlie:uc'], 'by name, the replaced record gone');
  t.same(before.last, [
    { percent: 30, message: 'a2', status: 'updating', at: later(3) },
    { percent: 20, message: 'b1', at: later(2) },
    undefined,
    undefined,
  ]);
  t.equal(first.device('ub')?.osVersion, '2.102.0');
  t.equal(first.device('ua'), undefined);
  first.close();
  const second = Store.open(file);
  t.teardown(() => second.close());
  t.same(view(second), before);
});

t.test('one process at a time: a second opener is refused, a dead owner taken over', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'lab.db');
  const store = Store.open(file);
  t.throws(() => Store.open(file), { code: 'store-busy', message: /pid \d+, this one/ }, 'the same process twice');

  // Another process opening it while this one has it.
  const other = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${join(import.meta.dirname, '..', 'harness', 'server', 'store.ts')}').then(({ Store }) => { try { Store.open(${JSON.stringify(file)}); console.log('opened'); } catch (e) { console.log(e.code, e.message); } })`,
    ],
    { encoding: 'utf8', cwd: join(import.meta.dirname, '..') },
  );
  t.match(other.stdout, new RegExp(`^store-busy .*open in another process \\(pid ${process.pid}\\)`));
  store.putDevice(device('ua', 'alpha'), AT);
  store.close();

  // A live owner that is not this process (a sleeping child) refuses too.
  const sleeper = spawn('sleep', ['30']);
  t.teardown(() => sleeper.kill('SIGKILL'));
  writeFileSync(`${file}.owner`, `${sleeper.pid}\n`);
  t.throws(() => Store.open(file), { code: 'store-busy', message: new RegExp(`pid ${sleeper.pid}\\)`) });

  // An owner that died mid-transaction: its owner file and SQLite's lock directory are left.
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(`${file}.owner`, dead.stdout);
  mkdirSync(`${file}.lock`);
  const taken = Store.open(file);
  t.teardown(() => taken.close());
  taken.putDevice(device('ub', 'beta'), AT);
  t.same(
    taken.devices().map((d) => d.name),
    ['alpha', 'beta'],
    'taken over, and writable',
  );
  t.equal(readFileSync(`${file}.owner`, 'utf8').trim(), String(process.pid));
});

t.test('a server killed in its session loses nothing it committed; a closed file is a plain one', async (t) => {
  const file = join(t.testdir({}), 'lab.db');
  // A process that opens the store, commits, says so, and waits to be killed (no close).
  const store = join(import.meta.dirname, '..', 'harness', 'server', 'store.ts');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${store}').then(({ Store }) => { const s = Store.open(${JSON.stringify(file)}); s.putDevice(${JSON.stringify(device('uk', 'killed'))}, '${AT}'); s.addProgress('uk', { percent: 40, message: 'half', status: 'updating', at: '${AT}' }); console.log('committed'); setInterval(() => {}, 1000); })`,
    ],
    { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('committed') && res());
    child.once('exit', (code) => rej(new Error(`the child exited ${code} before committing`)));
  });
  t.ok(existsSync(`${file}-wal`), 'in session: commits go to the write-ahead log');
  child.kill('SIGKILL');
  await new Promise((res) => child.once('exit', res));

  const after = Store.open(file);
  t.same(
    after.devices().map((d) => d.name),
    ['killed'],
  );
  t.same(
    after.progress('uk').map((p) => p.message),
    ['half'],
  );
  after.close();
  t.notOk(existsSync(`${file}-wal`), 'closed: the log is folded into the file');
  t.same(schemaOf(file).versions, ALL, 'and any SQLite opens it');
});

t.test('writes of two connections are serialized by the lock, not interleaved', async (t) => {
  // Past the owner file (a raw connection): SQLite's own lock keeps a second writer out of an
  // open transaction instead of letting it write into it.
  const file = join(t.testdir({}), 'lab.db');
  Store.open(file).close();
  const a = new sqlite.Database(file);
  const b = new sqlite.Database(file);
  t.teardown(() => {
    a.close();
    b.close();
  });
  a.exec('BEGIN IMMEDIATE');
  a.run("INSERT INTO progress (uuid, percent, message, at) VALUES ('u', 1, 'a', 'x')");
  t.throws(() => b.run("INSERT INTO progress (uuid, percent, message, at) VALUES ('u', 2, 'b', 'x')"), /locked/);
  a.exec('COMMIT');
  b.run("INSERT INTO progress (uuid, percent, message, at) VALUES ('u', 2, 'b', 'x')");
  t.same(
    a.all('SELECT message FROM progress ORDER BY id').map((r) => r.message),
    ['a', 'b'],
  );
});
