/** The progress bar of a device's update: role=progressbar with its value and message. */
import { html } from 'htm/preact';
import type { DashboardRow } from '../wire.ts';
import { percent } from './format.ts';

export function ProgressBar({ row, wide = false }: { row: DashboardRow; wide?: boolean }) {
  const p = row.progress;
  if (!p) return null;
  const value = percent(p.percent);
  return html`<div class=${`progress${wide ? ' wide' : ''}`}>
    <div
      class="bar"
      role="progressbar"
      aria-label=${`Update progress of ${row.name}`}
      aria-valuemin="0"
      aria-valuemax="100"
      aria-valuenow=${value}
      aria-valuetext=${`${value} %: ${p.message}`}
    >
      <div class=${`fill${row.targetProgress === 'failed' ? ' failed' : ''}`} style=${{ width: `${value}%` }}></div>
    </div>
    <span class="pct">${value} %</span>
    ${wide ? html`<span class="msg">${p.message}</span>` : null}
  </div>`;
}
