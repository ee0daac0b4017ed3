/**
 * The update log where the field looks (updater/common/log.ts): in /mnt/data/balenahup, and in
 * the legacy /mnt/data/resinhup too when that folder exists; a copy that cannot be written costs
 * nothing but the copy. Run on temporary folders standing in for both.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  LEGACY_UPDATE_LOG_DIR,
  UPDATE_LOG_DIR,
  parseUpdateFailedReason,
  updateFailedReason,
} from '../lib/contract/index.ts';
import { legacyLogDirs, UpdateLog } from '../updater/common/log.ts';

async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'huplab-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `fn` with stdout captured (the log echoes every line there). */
function quietly<T>(fn: () => T): { value: T; out: string } {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    return { value: fn(), out };
  } finally {
    process.stdout.write = write;
  }
}

t.test('the folders are the documented ones', async (t) => {
  t.equal(UPDATE_LOG_DIR, '/mnt/data/balenahup');
  t.equal(LEGACY_UPDATE_LOG_DIR, '/mnt/data/resinhup');
});

t.test('the legacy folder counts only when it exists, as a folder', async (t) => {
  const root = await scratch(t);
  const legacy = join(root, 'resinhup');
  t.same(legacyLogDirs(legacy), [], 'absent');
  writeFileSync(legacy, 'a file, not a folder');
  t.same(legacyLogDirs(legacy), [], 'a file');
  rmSync(legacy);
  mkdirSync(legacy);
  t.same(legacyLogDirs(legacy), [legacy], 'a folder');
});

t.test('with the legacy folder: the same file name and the same lines in both', async (t) => {
  const root = await scratch(t);
  const main = join(root, 'balenahup');
  const legacy = join(root, 'resinhup');
  mkdirSync(legacy);
  const now = new Date(Date.UTC(2026, 11, 4, 6, 7, 8));
  const { value: log } = quietly(() => {
    const l = new UpdateLog(main, 'upgrade-2.x.sh', { now, alsoIn: legacyLogDirs(legacy) });
    l.line('first line');
    l.marker('checks', 'start');
    l.line('OS update failed: registry http://10.0.2.2:1 has no x@sha256:0: 404 MANIFEST_UNKNOWN');
    return l;
  });
  t.equal(log.path, join(main, 'upgrade-2.x.sh.20261204_060708.log'));
  t.same(log.copies, [join(legacy, 'upgrade-2.x.sh.20261204_060708.log')]);
  const text = readFileSync(log.path, 'utf8');
  t.equal(readFileSync(log.copies[0]!, 'utf8'), text, 'the copy is the log');
  t.equal(text.trim().split('\n').length, 3);
  t.match(text, /OS update failed: registry .* 404 MANIFEST_UNKNOWN/);
});

t.test('without it: one log, no legacy folder made', async (t) => {
  const root = await scratch(t);
  const legacy = join(root, 'resinhup');
  const { value: log } = quietly(() => {
    const l = new UpdateLog(join(root, 'balenahup'), 'upgrade-2.x.sh', { alsoIn: legacyLogDirs(legacy) });
    l.line('only here');
    return l;
  });
  t.same(log.copies, []);
  t.ok(existsSync(log.path));
  t.notOk(existsSync(legacy), 'the legacy folder is not created');
});

t.test('a copy that cannot be written: the log goes on, the complaint is made once', async (t) => {
  const root = await scratch(t);
  const legacy = join(root, 'resinhup');
  mkdirSync(legacy);
  const { value: log, out } = quietly(() => {
    const l = new UpdateLog(join(root, 'balenahup'), 'upgrade-2.x.sh', { alsoIn: [legacy] });
    l.line('before');
    rmSync(legacy, { recursive: true });
    l.line('after the legacy folder went');
    l.line('and again');
    return l;
  });
  t.equal(readFileSync(log.path, 'utf8').trim().split('\n').length, 3, 'every line in the log');
  t.equal(out.match(/cannot write the log copy/g)?.length, 1, 'said once');
});

t.test("a failure's reason for the API: one line, bounded, parsed back", async (t) => {
  t.equal(updateFailedReason('registry x has no y:\n404'), 'OS update failed: registry x has no y: 404');
  t.equal(parseUpdateFailedReason(updateFailedReason('why')), 'why');
  t.equal(parseUpdateFailedReason('OS update failed'), undefined);
  t.equal(updateFailedReason('x'.repeat(5000)).length, 1000);
});
