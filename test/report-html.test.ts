import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderTimeline } from '../harness/report/timeline.ts';
import { clipMiddle, escapeHtml, stripAnsi } from '../harness/report/text.ts';
import { TESTS, runReporter } from './helpers/report-run.ts';

const { dir, summary } = runReporter(TESTS, { maxLogBytes: 8192 });
const html = readFileSync(join(dir, 'report.html'), 'utf8');
/** The <details class="test"> element of one test, by its title. */
function section(title: string): string {
  const id = summary.tests.find((x) => x.title === title)!.id;
  const start = html.indexOf(`<details class="test`, html.indexOf(`id="t-${id}"`) - 200);
  return html.slice(start, html.indexOf('<details class="test', start + 10) >>> 0 || undefined);
}

t.test('one self-contained file: no external resource, no script', async (t) => {
  t.match(html, /^<!doctype html>\n<html lang="en"><head><meta charset="utf-8">/);
  t.notMatch(html, /\b(src|href)\s*=\s*["']?\s*(https?:|\/\/)/i, 'no src= or href= to the network');
  t.notMatch(html, /\bsrc\s*=/i, 'nothing loaded at all');
  t.notMatch(html, /<script|<link|<iframe|@import|url\(/i, 'no script, stylesheet link or CSS url()');
  t.match(html, /<style>[^<]*\.timeline[^<]*<\/style>/, 'CSS inline');
  for (const href of html.match(/href="[^"]*"/g) ?? [])
    t.match(href, /^href="#t-[\w-]+"$/, 'only links inside the page');
  t.equal((html.match(/<details/g) ?? []).length, (html.match(/<\/details>/g) ?? []).length, 'details balanced');
});

t.test('logs are inlined, escaped and free of terminal escapes', async (t) => {
  t.notMatch(html, /<script>alert/);
  t.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; more/);
  t.match(html, /boot OK\n/, 'ANSI colour codes removed');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test looks for escape characters
  t.notMatch(html, /\x1b/);
  t.match(html, /2026-11-23 10:00:00 \[hup\] step checks start/, 'the updater log too');
  t.match(html, /<summary>upgrade-2\.x\.sh\.20261123_100000\.log \(\d+ B\)<\/summary>/);
});

t.test('an over-long log keeps its head and tail and says what was cut', async (t) => {
  const s = section('qemu never starts');
  t.match(s, /<summary>long-serial\.log \(61 kB, middle cut\)<\/summary>/);
  t.match(s, /line 000 &lt;tag&gt;/, 'head kept');
  t.match(s, /line 059 &lt;tag&gt;/, 'tail kept');
  t.notMatch(s, /line 030 /, 'middle cut');
  t.match(
    s,
    /<span class="cut">\[… \d+ kB \(\d+ lines\) cut from the middle of this 61 kB log; the whole log: \/[^<]*long-serial\.log …\]<\/span>/,
  );
  t.ok(s.length < 20_000, 'the section stays small');
});

t.test('a failed test opens with its failed attempts; a passed one stays folded', async (t) => {
  t.match(section('data-full is refused'), /^<details class="test o-product" id="t-[\w-]+" open>/);
  t.match(section('qemu never starts'), /^<details class="test o-infrastructure" id="t-[\w-]+" open>/);
  t.match(section('boots to os ready'), /^<details class="test o-passed" id="t-[\w-]+">/);
  const flaky = section('passes on retry');
  t.match(
    flaky,
    /<details class="attempt" open data-retry="0"><summary>attempt 1: <span class="badge b-timedOut">timedOut<\/span> <span class="badge b-product">product<\/span>/,
  );
  t.match(
    flaky,
    /<details class="attempt" data-retry="1"><summary>attempt 2 \(retry 1\): <span class="badge b-passed">passed<\/span>/,
  );
  t.match(section('qemu never starts'), /<pre class="error">HuplabError: infrastructure: QEMU failed to start/);
});

t.test('badges and totals', async (t) => {
  t.match(html, /<li class="total-product"><b>2<\/b><span class="badge b-product">product failures<\/span><\/li>/);
  t.match(html, /<li class="total-infrastructure"><b>1<\/b>/);
  t.match(html, /<li class="total-flaky"><b>1<\/b>/);
  t.match(html, /<title>huplab report: generic-amd64 2\.101\.0 → 2\.102\.0<\/title>/);
});

t.test('updates: verdict checks and a timeline proportional to the steps', async (t) => {
  const s = section('delta update commits');
  t.equal((s.match(/<div class="timeline"/g) ?? []).length, 2, 'one timeline per update');
  t.match(s, /with fault <code>registry-down<\/code>/);
  // write-root took 12.4 s of 15.7 s, after 1.9 s of earlier steps
  t.match(
    s,
    /data-step="write-root" data-seconds="12.4"><span class="tl-name">write-root<\/span><span class="tl-track"><span class="tl-bar" style="left:12\.10%;width:78\.98%"/,
  );
  t.match(s, /<span class="tl-detail">write-root &lt;done&gt; &amp; fine<\/span>/, 'details escaped');
  t.match(s, /updater steps: 15\.7 s in all/);
  t.match(
    s,
    /<summary>console markers \(3\), seconds since the update began<\/summary><table><tbody><tr><td class="tl-sec">0\.4 s<\/td><td><code>\[hup\] step checks start<\/code><\/td><\/tr><tr><td class="tl-sec">21\.2 s<\/td><td><code>\[huplab\] shutting down &lt;reboot&gt;<\/code>/,
  );
  t.match(
    s,
    /<summary>updater output \(\d+ B\)<\/summary><p class="muted">attachments\/[^<]*hup-outcome\.json<\/p><pre>\[hup\] step checks start\n\[hup\] step checks done \(0\.7s\) &lt;ok&gt;\n<\/pre>/,
    "the updater's own output",
  );
  const failed = section('data-full is refused');
  t.match(failed, /<td class="check-fail">FAIL<\/td><td>device rebooted into the new OS<\/td>/);
  t.match(failed, /<div class="tl-row tl-failed" data-step="checks"/, 'the failed step stands out');
  t.match(failed, /checks: no space left &lt;on&gt; \/mnt\/data/);
});

t.test('timeline widths add up to the whole update', async (t) => {
  const out = renderTimeline([
    { step: 'a', seconds: 1, detail: '' },
    { step: 'b', seconds: 3, detail: '' },
  ]);
  t.match(out, /left:0\.00%;width:25\.00%/);
  t.match(out, /left:25\.00%;width:75\.00%/);
  t.match(renderTimeline([]), /no updater steps/);
  t.match(renderTimeline([{ step: 'z', seconds: 0, detail: '' }]), /width:0\.00%/, 'no division by zero');
});

t.test('text helpers', async (t) => {
  t.equal(escapeHtml(`<a href="x">&'`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
  t.equal(stripAnsi('\x1b[0;32mok\x1b[0m\r\n\x1b]0;title\x07next\rredraw\x00\x07'), 'ok\nnext\nredraw');
  const c = clipMiddle('aaaa\nbbbb\ncccc\ndddd\neeee\n', 12);
  t.same(c, { head: 'aaaa\n', tail: 'eeee\n', cut: { bytes: 15, lines: 3 } });
  t.same(clipMiddle('short', 100), { head: 'short', tail: '', cut: null });
  const multi = clipMiddle('é'.repeat(100), 21);
  t.notMatch(multi.head + multi.tail, /\uFFFD/, 'no broken characters at a cut without newlines');
});
