import { escapeHtml as h } from './text.ts';
import { STYLES } from './styles.ts';
import type { CampaignResult, CutOutcome } from '../power/campaign.ts';

/** The campaign's table, as text (CLI) and as one self-contained HTML page. */

const COLUMNS = [
  'cut point',
  'phase',
  'cut at',
  'lost',
  'OS booted',
  'recover',
  'env',
  'data',
  'rollback',
  'retry',
  'result',
] as const;

const UPDATE_TEXT = (r: CampaignResult) =>
  `Each point: a fresh device on ${r.from}, the standard HUP to ${r.to}, the power cut (QEMU killed; the disk's unflushed writes lost), powered on again with no help. Must hold: an OS boots, the bootloader env agrees with the running root, the boot partition carries that OS's boot files, /data holds every record flushed before the cut, and a device back on the old OS takes the same update again.`;
const ROLLBACK_TEXT = (r: CampaignResult) =>
  `Each point: a fresh device on ${r.from}, the standard HUP to ${r.to} with a fault that sends it down a rollback path (health-fail: rollback-health; unbootable-root: GRUB's boot counting, then rollback-altboot), the power cut inside that rollback (QEMU killed; the disk's unflushed writes lost), powered on again with no help. Must hold: the old OS boots, the device has recorded its rollback, the bootloader env agrees with the running root, the boot partition carries the old OS's boot files, /data holds every record flushed before the cut, and the update (without the fault) then succeeds.`;

function cells(o: CutOutcome): string[] {
  // A point the lab could not run says so in every column: nothing about the device is known.
  if (o.notRun)
    return [
      o.point,
      o.scenario ? `${o.phase} (${o.scenario})` : o.phase,
      '-',
      '-',
      'not run',
      '-',
      'not checked',
      'not checked',
      '-',
      '-',
      'NOT RUN',
    ];
  return [
    o.point,
    o.scenario ? `${o.phase} (${o.scenario})` : o.phase,
    Number.isFinite(o.cutAtSeconds) ? `${o.cutAtSeconds.toFixed(1)} s` : '-',
    `${o.lostBlocks} blk`,
    o.booted === 'none' ? 'NONE' : `${o.booted} (${o.version}, ${o.root})`,
    Number.isFinite(o.recoverSeconds) ? `${o.recoverSeconds.toFixed(1)} s` : '-',
    o.envConsistent ? 'consistent' : 'INCONSISTENT',
    o.dataIntact ? 'intact' : 'LOST',
    o.rollback,
    o.retry,
    o.ok ? 'ok' : 'FAILED',
  ];
}

export function campaignRow(o: CutOutcome): string {
  return cells(o).join(' | ');
}

export function campaignText(r: CampaignResult): string[] {
  const rows = [COLUMNS as unknown as string[], ...r.points.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    `power-cut campaign (${r.kind}) ${r.device} ${r.from} -> ${r.to}: ${r.points.length} cut points, ${r.failures} failure(s)${r.failures ? '' : ' (must be zero: it is)'}; ${(r.wallSeconds / 60).toFixed(1)} min, ${(r.wallSeconds / Math.max(1, r.points.length)).toFixed(0)} s per point${r.workers > 1 ? `, ${r.workers} devices at once` : ''}${r.fromSaved ? ', each from a saved device' : ''}`,
    line(rows[0]!),
    ...rows.slice(1).map(line),
    ...r.points
      .filter((o) => !o.ok)
      .flatMap((o) => [
        `  ${o.point}: ${o.problems.join('; ')}`,
        ...(o.keptDisk
          ? [`    replay: huplab device start --device ${r.device} --disk ${o.keptDisk}   (serial log ${o.serialLog})`]
          : []),
      ]),
  ];
}

export function campaignHtml(r: CampaignResult): string {
  const body = r.points
    .map(
      (o) =>
        `<tr class="${o.ok ? 'ok' : 'bad'}">${cells(o)
          .map((c) => `<td>${h(c)}</td>`)
          .join('')}</tr>` +
        (o.ok
          ? ''
          : `<tr class="bad"><td colspan="${COLUMNS.length}">${h(o.problems.join('; '))}${o.keptDisk ? `<br>replay: <code>huplab device start --device ${h(r.device)} --disk ${h(o.keptDisk)}</code>` : ''}</td></tr>`),
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>huplab power-cut campaign ${h(r.device)} ${h(r.from)} -&gt; ${h(r.to)}</title><style>${STYLES}
tr.bad td { background: #fde8e8; } tr.ok td:last-child { color: #1a7f37; font-weight: 600; }</style></head><body>
<h1>Power-cut campaign (${h(r.kind)}): ${h(r.device)} ${h(r.from)} → ${h(r.to)}</h1>
<p class="meta">${h(r.startedAt)} · ${r.points.length} cut points · <strong>${r.failures} failure(s)</strong> · ${(r.wallSeconds / 60).toFixed(1)} min (${(r.wallSeconds / Math.max(1, r.points.length)).toFixed(0)} s per point) · seed ${r.seed} · unflushed cache at the cut: ${r.keep === 'random' ? 'a random half kept' : 'lost'}</p>
<p>${h(r.kind === 'rollback' ? ROLLBACK_TEXT(r) : UPDATE_TEXT(r))}</p>
<table><thead><tr>${COLUMNS.map((c) => `<th>${h(c)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table>
<h2>Where each point cuts</h2><ul>${r.points.map((o) => `<li><code>${h(o.point)}</code>: ${h(o.describe)}</li>`).join('')}</ul>
</body></html>
`;
}
