/**
 * The agent's upload of the update logs (updater/supervisor/log-upload.ts): each file from where
 * its last upload ended, in parts of whole lines, a few parts a beat, again after a refusal, from
 * the start for a new file of the same name, and only names the API takes.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LOG_PART_BYTES, uploadLogs } from '../updater/supervisor/log-upload.ts';

function setup(t: Test) {
  const root = t.testdir({ logs: {}, agent: {} });
  const dir = join(root, 'logs');
  const sentFile = join(root, 'agent', 'logs-sent.json');
  const got: Array<{ name: string; text: string }> = [];
  let refuse = false;
  const deps = {
    dir,
    sentFile,
    send: async (name: string, text: string) => {
      if (refuse) return false;
      got.push({ name, text });
      return true;
    },
    log: () => {},
  };
  return { dir, sentFile, got, deps, refuse: (on: boolean) => (refuse = on) };
}

t.test('each log once, then only what was appended; the bytes sent are kept', async (t) => {
  const s = setup(t);
  t.equal(await uploadLogs({ ...s.deps, dir: join(s.dir, 'none') }), 0, 'no folder: no update ran yet');
  writeFileSync(join(s.dir, 'upgrade-2.x.sh.20261204_101500.log'), 'step checks start\nstep checks done\n');
  writeFileSync(join(s.dir, 'rollback-health.20261204_102000.log'), 'committed\n');
  writeFileSync(join(s.dir, 'not a name.log'), 'skipped: the API takes no such name\n');
  t.equal(await uploadLogs(s.deps), 2);
  t.same(
    s.got.map((g) => g.name),
    ['rollback-health.20261204_102000.log', 'upgrade-2.x.sh.20261204_101500.log'],
  );
  t.equal(await uploadLogs(s.deps), 0, 'nothing new');
  appendFileSync(join(s.dir, 'upgrade-2.x.sh.20261204_101500.log'), 'step fetch start\n');
  t.equal(await uploadLogs(s.deps), 1);
  t.same(s.got.at(-1), { name: 'upgrade-2.x.sh.20261204_101500.log', text: 'step fetch start\n' });
  t.same(JSON.parse(readFileSync(s.sentFile, 'utf8')), {
    'rollback-health.20261204_102000.log': 10,
    'upgrade-2.x.sh.20261204_101500.log': 52,
  });
});

t.test('a part the API did not take is sent again; a shorter file of the same name from its start', async (t) => {
  const s = setup(t);
  const file = join(s.dir, 'upgrade-2.x.sh.1.log');
  writeFileSync(file, 'one\n');
  s.refuse(true);
  t.equal(await uploadLogs(s.deps), 0);
  s.refuse(false);
  t.equal(await uploadLogs(s.deps), 1);
  t.same(
    s.got.map((g) => g.text),
    ['one\n'],
  );
  writeFileSync(file, 'x\n');
  t.equal(await uploadLogs(s.deps), 1);
  t.equal(s.got.at(-1)!.text, 'x\n');
});

t.test('a long log goes in parts of whole lines, a few parts a beat, until it is all there', async (t) => {
  const s = setup(t);
  const line = `${'a'.repeat(99)}\n`;
  const text = line.repeat(Math.ceil((LOG_PART_BYTES * 5) / line.length) + 7);
  writeFileSync(join(s.dir, 'big.log'), text);
  t.equal(await uploadLogs(s.deps), 4, 'four parts in one beat');
  for (const g of s.got) t.ok(g.text.endsWith('\n') && g.text.length <= LOG_PART_BYTES, 'whole lines, bounded');
  t.equal(await uploadLogs(s.deps), 2, 'the rest next beat');
  t.equal(s.got.map((g) => g.text).join(''), text, 'the parts make the file, byte for byte');
});
