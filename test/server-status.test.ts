import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processStart, type ServerRecord, serverStatus } from '../harness/server/lab-server.ts';

// What `huplab serve --status` (and --stop, and device start) believe: a server runs only when
// its lock and its record name a live process that is the one that wrote them.

function lab(t: Test, pid: number | undefined, pidStart?: number): string {
  const dir = t.testdir({});
  if (pid === undefined) return dir;
  const record: ServerRecord = {
    pid,
    ...(pidStart !== undefined ? { pidStart } : {}),
    startedAt: '2026-01-01T00:00:00.000Z',
    urls: { api: 'http://127.0.0.1:1', primaryRegistry: 'x', fallbackRegistry: 'x', delta: 'x' },
    guestUrls: { api: 'http://10.0.2.100:1', primaryRegistry: 'x', fallbackRegistry: 'x', delta: 'x' },
    labHost: { address: '10.0.2.100', ports: [1] },
    store: 'lab.db',
  };
  writeFileSync(join(dir, 'server.json'), JSON.stringify(record));
  writeFileSync(join(dir, 'server.lock'), `${pid}\n`);
  return dir;
}

t.test('no record, no server', async (t) => {
  t.same(serverStatus(lab(t, undefined)), { running: false, lab: t.testdirName });
});

t.test('a record of a live process that wrote it: running', async (t) => {
  const start = processStart(process.pid);
  t.type(start, 'number', 'procfs gives the start time');
  t.match(serverStatus(lab(t, process.pid, start)), { running: true, server: { pid: process.pid } });
});

t.test('a record whose process is gone, or whose pid another process got: stale, not running', async (t) => {
  const dead = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout);
  t.same(serverStatus(lab(t, dead)), {
    running: false,
    lab: t.testdirName,
    stale: { pid: dead, startedAt: '2026-01-01T00:00:00.000Z' },
  });
  const reused = serverStatus(lab(t, process.pid, (processStart(process.pid) ?? 0) + 1));
  t.match(reused, { running: false, stale: { pid: process.pid } }, 'same pid, another start time');
});
