import t from 'tap';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleTimeline } from '../harness/console/timeline.ts';

t.test('marker lines are time stamped as they appear; partial lines wait for their end', async (t) => {
  const log = join(mkdtempSync(join(tmpdir(), 'huplab-tl-')), 'serial.log');
  writeFileSync(log, '[huplab] os ready: before the mark\n');
  const tl = new ConsoleTimeline(log, 35, /\[(huplab|hup)\] /, 10_000).start();
  appendFileSync(log, 'noise\r\n\x1b[0m[hup] step checks start\n[hup] step che');
  tl.poll();
  t.same(
    tl.entries.map((e) => e.line),
    ['[hup] step checks start'],
    'ANSI stripped, noise and the partial line left out',
  );
  await new Promise((r) => setTimeout(r, 120));
  appendFileSync(log, 'cks done (1.0s)\nlogin: [huplab] os ready: version 2\n');
  const all = tl.stop();
  t.same(
    all.map((e) => e.line),
    ['[hup] step checks start', '[hup] step checks done (1.0s)', '[huplab] os ready: version 2'],
    'text before a marker on its line is dropped',
  );
  t.ok(all[1]!.at >= 0.1 && all[0]!.at < 0.1, 'later lines have later times');
  t.equal(ConsoleTimeline.find(all, /os ready/)?.line, '[huplab] os ready: version 2');
  t.equal(ConsoleTimeline.find(all, /checks start/, 0.05), undefined);
});
