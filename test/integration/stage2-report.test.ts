/**
 * Stage 2's progress reports, run as the device runs them: the report() function out of
 * updater/takeover/stage2.sh, in the busybox sh of the OS (Debian's busybox-static, digest-checked
 * from the archive), with busybox's wget, against the real backend API. Stage 2 once lost every
 * live report to a wget that segfaulted with -T; this catches anything of the kind.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startBackend } from '../../harness/backend/index.ts';
import { extractPackage, fetchPackage, hostArch, resolvePackage } from '../../images/builder/apt.ts';
import { cacheDir } from '../../lib/paths.ts';

const run = promisify(execFile);

/** The OS's static busybox with its applets linked in bin/, as stage 1 lays it out in RAM. */
async function deviceBusybox(dir: string): Promise<string> {
  const deb = await fetchPackage(await resolvePackage('busybox-static', hostArch()), cacheDir());
  await extractPackage(deb, join(dir, 'pkg'));
  const bin = join(dir, 'bin');
  await run('mkdir', ['-p', bin]);
  await run('cp', [join(dir, 'pkg', 'bin', 'busybox'), join(bin, 'busybox')]);
  await run(join(bin, 'busybox'), ['--install', '-s', bin]);
  return bin;
}

/** report() as stage2.sh defines it; say() only logs here (the real one also writes /dev/console). */
function reportFunction(): string {
  const script = readFileSync('updater/takeover/stage2.sh', 'utf8');
  const fn = /^report\(\) \{[\s\S]*?^\}$/m.exec(script)?.[0];
  if (!fn) throw new Error('report() not found in updater/takeover/stage2.sh');
  return fn;
}

async function report(bin: string, dir: string, env: Record<string, string>, args: string[]) {
  const body = `say() { echo "$*" >> "$LOG"; }\n${reportFunction()}\nreport "$@"\n`;
  const r = await run(join(bin, 'sh'), ['-c', body, 'stage2', ...args], {
    env: { PATH: bin, T: dir, LOG: join(dir, 'advanced.log'), ...env },
  }).then(
    () => 0,
    (e: { code?: number }) => e.code ?? -1,
  );
  return r;
}

t.test("stage 2's reports reach the API through the OS's busybox wget", async (t) => {
  const dir = t.testdir({});
  const bin = await deviceBusybox(dir);
  const backend = await startBackend({});
  t.teardown(() => backend.stop());
  const env = { API: backend.urls.api, UUID: 'c0ffee', API_KEY: backend.registerDevice('c0ffee') };
  t.equal(await report(bin, dir, env, ['60', 'Flashing the new OS', 'updating']), 0, 'report() says it was sent');
  t.equal(backend.api.device('c0ffee')?.message, 'Flashing the new OS', 'the API has it');
  t.equal(backend.api.device('c0ffee')?.percent, 60);
  await report(bin, dir, { ...env, API_KEY: '' }, ['90', 'forged without a key', 'updating']);
  t.equal(
    await report(bin, dir, env, ['100', 'Update successful, rebooting', 'rebooting']),
    0,
    'the next keyed report is sent',
  );
  t.same(
    backend.api.device('c0ffee')?.history.map((h) => h.message),
    ['Flashing the new OS', 'Update successful, rebooting'],
    'the API refused the report without a key',
  );
});

t.test('a silent API is given up on in REPORT_TIMEOUT seconds, and the log says so', async (t) => {
  const dir = t.testdir({});
  const bin = await deviceBusybox(dir);
  const held: Socket[] = [];
  const silent = createServer((s) => held.push(s)); // accepts, never answers
  await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const port = (silent.address() as { port: number }).port;
  const started = Date.now();
  const rc = await report(bin, dir, { API: `http://127.0.0.1:${port}`, UUID: 'c0ffee', REPORT_TIMEOUT: '2' }, [
    '60',
    'Flashing the new OS',
    'updating',
  ]);
  const seconds = (Date.now() - started) / 1000;
  t.equal(rc, 1, 'report() fails, so stage 2 keeps the last word for the next boot');
  t.ok(seconds >= 1.5 && seconds < 8, `gave up after ${seconds.toFixed(1)} s`);
  t.match(
    readFileSync(join(dir, 'advanced.log'), 'utf8'),
    /progress report failed: Flashing the new OS \(no answer in 2 s\)/,
  );
});
