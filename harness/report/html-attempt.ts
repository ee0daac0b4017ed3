/** One attempt of a test in report.html: its errors, its updates (verdict, timeline), its logs. */
import { statSync } from 'node:fs';
import { isHupOutcome, isTextLog, openPath, readAttachment } from './attachments.ts';
import { parseHupOutcome, type HupOutcomeDoc } from './hup-outcome.ts';
import type { AttachmentRecord, AttemptRecord } from './model.ts';
import { renderTimeline } from './timeline.ts';
import { clipMiddle, escapeHtml as h, formatBytes, formatDuration, stripAnsi } from './text.ts';

export interface RenderContext {
  reportDir: string;
  /** Logs longer than this keep their head and tail only. */
  maxLogBytes: number;
}

export const badge = (kind: string, text = kind) => `<span class="badge b-${h(kind)}">${h(text)}</span>`;

export function renderAttempt(a: AttemptRecord, ctx: RenderContext): string {
  // Failed attempts open by themselves: they are what a reader of the report came for.
  const open = a.classification === 'product' || a.classification === 'infrastructure' ? ' open' : '';
  return (
    `<details class="attempt"${open} data-retry="${a.retry}"><summary>attempt ${a.retry + 1}${a.retry ? ` (retry ${a.retry})` : ''}: ` +
    `${badge(a.status)} ${a.status === 'passed' || a.status === 'skipped' ? '' : badge(a.classification)} ${h(formatDuration(a.durationMs))}, worker ${a.workerIndex}, started ${h(a.startTime)}</summary>` +
    renderErrors(a) +
    a.attachments
      .filter(isHupOutcome)
      .map((att) => renderUpdate(att, ctx))
      .join('') +
    renderLogs(
      a.attachments.filter((x) => isTextLog(x)),
      ctx,
    ) +
    renderOtherAttachments(a.attachments.filter((x) => !isTextLog(x) && !isHupOutcome(x))) +
    '</details>'
  );
}

function renderErrors(a: AttemptRecord): string {
  if (a.errors.length === 0) return '';
  return a.errors
    .map((e) => `<pre class="error">${h(e.message)}${e.location ? `\n    at ${h(e.location)}` : ''}</pre>`)
    .join('');
}

function renderUpdate(att: AttachmentRecord, ctx: RenderContext): string {
  const read = readAttachment(ctx.reportDir, att);
  const parsed = 'problem' in read ? read : parseHupOutcome(read.text);
  if ('problem' in parsed)
    return `<div class="update"><h4>update: unreadable ${h(att.name)}</h4><p class="check-fail">${h(parsed.problem)}</p></div>`;
  const { doc } = parsed;
  const o = doc.outcome;
  return (
    `<div class="update"><h4>update ${h(o.before?.version ?? '?')} → ${h(o.to ?? '?')}${doc.fault ? ` with fault <code>${h(doc.fault)}</code>` : ''}: ` +
    `${doc.verdict.ok ? badge('ok', 'verdict ok') : badge('fail', 'verdict FAILED')}</h4>` +
    renderChecks(doc) +
    renderFacts(doc) +
    renderTimeline(o.steps, o.failedStep) +
    renderConsoleMarkers(o.timeline) +
    // What the updater printed over SSH (its [hup] step lines), carried in the outcome itself.
    (typeof o.updaterOutput === 'string' && o.updaterOutput !== ''
      ? logBlock('updater output', o.updaterOutput, Buffer.byteLength(o.updaterOutput), att.path, ctx)
      : '') +
    '</div>'
  );
}

function renderChecks(doc: HupOutcomeDoc): string {
  const rows = doc.verdict.checks.map(
    (c) =>
      `<tr><td class="${c.ok ? 'check-ok' : 'check-fail'}">${c.ok ? 'ok' : 'FAIL'}</td><td>${h(c.what)}</td><td>${h(c.detail ?? '')}</td></tr>`,
  );
  return `<table class="checks"><thead><tr><th></th><th>check</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Before and after, and how the update went: what a reader asks right after the verdict. */
function renderFacts(doc: HupOutcomeDoc): string {
  const o = doc.outcome;
  const env = (e: Record<string, string> | undefined) =>
    e
      ? Object.entries(e)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')
      : '';
  const rows: Array<[string, string]> = [
    ['version', `${o.before?.version ?? '?'} → ${o.after?.version ?? '?'}`],
    ['root', `${o.before?.root ?? '?'} → ${o.after?.root ?? '?'}`],
    ['boot env after', env(o.after?.bootEnv)],
    ['download', o.download ? `${o.download.kind}, ${o.download.bytes} bytes from ${o.download.source}` : 'none'],
    [
      'rebooted / committed',
      `${o.rebooted ?? '?'} / ${o.committed ?? '?'}${typeof o.reboots === 'number' ? ` (${o.reboots} boot${o.reboots === 1 ? '' : 's'} seen)` : ''}`,
    ],
  ];
  if (o.rollback) rows.push(['rollback', `health ${o.rollback.health}, altboot ${o.rollback.altboot}`]);
  if (o.seconds)
    rows.push([
      'time',
      `updater ${o.seconds.update?.toFixed(1)} s, trigger to committed ${o.seconds.toCommit?.toFixed(1)} s`,
    ]);
  if (o.failure) rows.push(['failure', `${o.failedStep ?? ''}: ${o.failure}`]);
  return `<table class="facts"><tbody>${rows.map(([k, v]) => `<tr><th>${h(k)}</th><td>${h(v)}</td></tr>`).join('')}</tbody></table>`;
}

/** The console's marker lines (bootloader, OS ready, updater steps) with their time since the update began. */
function renderConsoleMarkers(entries: unknown): string {
  if (!Array.isArray(entries) || entries.length === 0) return '';
  const rows = entries
    .filter((e): e is { at: number; line: string } => typeof e?.at === 'number' && typeof e?.line === 'string')
    .map((e) => `<tr><td class="tl-sec">${e.at.toFixed(1)} s</td><td><code>${h(stripAnsi(e.line))}</code></td></tr>`);
  return `<details class="console-markers"><summary>console markers (${rows.length}), seconds since the update began</summary><table><tbody>${rows.join('')}</tbody></table></details>`;
}

function renderLogs(logs: AttachmentRecord[], ctx: RenderContext): string {
  return logs.map((att) => renderLog(att, ctx)).join('');
}

/** A log inlined, escaped, its terminal escapes removed; the middle of a huge one cut, and said so. */
export function renderLog(att: AttachmentRecord, ctx: RenderContext): string {
  const read = readAttachment(ctx.reportDir, att);
  if ('problem' in read)
    return `<details class="log"><summary>${h(att.name)} (unreadable)</summary><p class="check-fail">${h(read.problem)}</p></details>`;
  const size = att.path ? safeSize(openPath(ctx.reportDir, att.path)) : Buffer.byteLength(read.text);
  return logBlock(att.name, read.text, size, att.path, ctx);
}

function logBlock(name: string, text: string, size: number, path: string | null, ctx: RenderContext): string {
  const clip = clipMiddle(stripAnsi(text), ctx.maxLogBytes);
  const cut = clip.cut
    ? `<span class="cut">[… ${formatBytes(clip.cut.bytes)} (${clip.cut.lines} lines) cut from the middle of this ${formatBytes(size)} log; the whole log: ${h(path ?? '')} …]</span>`
    : '';
  return (
    `<details class="log"><summary>${h(name)} (${formatBytes(size)}${clip.cut ? ', middle cut' : ''})</summary>` +
    (path ? `<p class="muted">${h(path)}</p>` : '') +
    `<pre>${h(clip.head)}${cut}${h(clip.tail)}</pre></details>`
  );
}

function safeSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function renderOtherAttachments(list: AttachmentRecord[]): string {
  if (list.length === 0) return '';
  return `<h4>other attachments</h4><ul>${list.map((a) => `<li>${h(a.name)} <span class="muted">(${h(a.contentType)})</span> ${a.path ? `<code>${h(a.path)}</code>` : ''}</li>`).join('')}</ul>`;
}
