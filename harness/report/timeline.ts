/**
 * The update's steps as a timeline: one row per step, its bar placed where the step started and
 * as wide as it lasted, in percent of the whole update, so bar widths are proportional to the
 * step's seconds. Plain HTML and CSS: no script is needed to read it.
 */
import { escapeHtml as h } from './text.ts';
import type { StepTiming } from '../update/types.ts';

const pct = (n: number) => `${n.toFixed(2)}%`;

export function renderTimeline(steps: StepTiming[], failedStep?: string): string {
  if (steps.length === 0) return '<p class="muted">no updater steps were recorded</p>';
  const total = steps.reduce((s, x) => s + Math.max(0, x.seconds), 0);
  let start = 0;
  const rows = steps.map((s) => {
    const seconds = Math.max(0, s.seconds);
    const left = total > 0 ? (start / total) * 100 : 0;
    const width = total > 0 ? (seconds / total) * 100 : 0;
    start += seconds;
    const failed = s.step === failedStep;
    return (
      `<div class="tl-row${failed ? ' tl-failed' : ''}" data-step="${h(s.step)}" data-seconds="${seconds}">` +
      `<span class="tl-name">${h(s.step)}</span>` +
      `<span class="tl-track"><span class="tl-bar" style="left:${pct(left)};width:${pct(width)}" title="${h(`${s.step}: ${seconds.toFixed(1)} s ${s.detail ?? ''}`)}"></span></span>` +
      `<span class="tl-sec">${seconds.toFixed(1)} s</span>` +
      `<span class="tl-detail">${h(s.detail ?? '')}</span></div>`
    );
  });
  return (
    `<div class="timeline" aria-label="updater steps, ${total.toFixed(1)} s in all">${rows.join('')}` +
    `<div class="tl-total">updater steps: ${total.toFixed(1)} s in all</div></div>`
  );
}
