/**
 * report.html: one self-contained page (inline CSS, no script, no external URL) rendered from
 * summary.json and the attachment files it names. Long content sits in <details>, open where a
 * failure is, so the page reads without any script and prints.
 */
import { badge, renderAttempt, type RenderContext } from './html-attempt.ts';
import type { RunErrorRecord, Summary, TestRecord } from './model.ts';
import { STYLES } from './styles.ts';
import { escapeHtml as h, formatDuration } from './text.ts';

export const REPORT_FILE = 'report.html';
export const DEFAULT_MAX_LOG_BYTES = 1_000_000;

export function renderReport(summary: Summary, ctx: RenderContext): string {
  const title = `huplab report: ${summary.device ?? summary.projects.join(', ')}${summary.release ? ` ${summary.from ?? '?'} → ${summary.release}` : ''}`;
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${h(title)}</title><style>${STYLES}</style></head><body>` +
    renderHeader(summary, title) +
    renderRunErrors(summary.errors) +
    renderIndex(summary.tests) +
    `<main>${summary.tests.map((t) => renderTest(t, ctx)).join('\n')}</main>` +
    '</body></html>\n'
  );
}

function renderHeader(s: Summary, title: string): string {
  const t = s.totals;
  const cell = (n: number, label: string, kind: string) =>
    `<li class="total-${kind}"><b>${n}</b>${badge(kind, label)}</li>`;
  return (
    `<header><h1>${h(title)}</h1>` +
    `<p class="meta">device ${h(s.device ?? '-')} · projects ${h(s.projects.join(', ') || '-')} · from ${h(s.from ?? '(suite default)')} to ${h(s.release ?? '(suite default)')}</p>` +
    `<p class="meta">${h(s.startTime)} → ${h(s.endTime)} · wall time ${h(formatDuration(s.wallSeconds * 1000))} · ${s.workers} worker${s.workers === 1 ? '' : 's'}` +
    `${s.shard ? ` · shard ${s.shard.current}/${s.shard.total}` : ''} · run ${badge(s.status === 'passed' ? 'passed' : 'failed', s.status)}</p>` +
    `<ul class="totals">${cell(t.tests, 'tests', 'skipped')}${cell(t.passed, 'passed', 'passed')}${cell(t.flaky, 'flaky', 'flaky')}` +
    `${cell(t.failed, 'product failures', 'product')}${cell(t.infrastructure, 'infrastructure', 'infrastructure')}${cell(t.skipped, 'skipped', 'skipped')}` +
    `${cell(t.attempts, 'attempts', 'skipped')}</ul>` +
    '<p class="meta">product: the release did not do what it must · infrastructure: the lab failed (QEMU, ports, accelerator, backend, downloads, host disk), not the release · flaky: passed after a retry</p></header>'
  );
}

function renderRunErrors(errors: RunErrorRecord[]): string {
  if (errors.length === 0) return '';
  return `<section class="run-errors"><h2>errors outside tests</h2>${errors.map((e) => `<div>${badge(e.classification)}<pre class="error">${h(e.message)}${e.location ? `\n    at ${h(e.location)}` : ''}</pre></div>`).join('')}</section>`;
}

const anchor = (t: TestRecord) => `t-${t.id.replace(/[^\w-]/g, '_')}`;

function renderIndex(tests: TestRecord[]): string {
  const rows = tests.map((t) => {
    const ms = t.attempts.reduce((s, a) => s + a.durationMs, 0);
    return (
      `<tr><td>${badge(t.outcome)}</td><td><a href="#${anchor(t)}">${h(t.titlePath.slice(1).join(' › '))}</a></td>` +
      `<td>${t.fault ? `<code>${h(t.fault)}</code>` : ''}</td><td>${t.attempts.length}</td><td>${h(formatDuration(ms))}</td></tr>`
    );
  });
  return `<h2>tests</h2><table class="index"><thead><tr><th>outcome</th><th>test</th><th>fault</th><th>attempts</th><th>time</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function renderTest(t: TestRecord, ctx: RenderContext): string {
  // A test that did not pass cleanly opens by itself; passing ones stay folded.
  const open = t.outcome === 'passed' || t.outcome === 'skipped' ? '' : ' open';
  return (
    `<details class="test o-${h(t.outcome)}" id="${anchor(t)}"${open}><summary>${badge(t.outcome)} ${h(t.titlePath.slice(1).join(' › '))}</summary>` +
    `<p class="meta">${h(t.file)}:${t.line} · project ${h(t.project)}${t.fault ? ` · fault <code>${h(t.fault)}</code>` : ''}` +
    `${t.expectedStatus !== 'passed' ? ` · expected to end ${h(t.expectedStatus)}` : ''} · ${t.attempts.length} attempt${t.attempts.length === 1 ? '' : 's'}</p>` +
    t.attempts.map((a) => renderAttempt(a, ctx)).join('') +
    '</details>'
  );
}
