/** The Devices page: the table of the lab's devices, live, with selection and the Modify menu. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { DashboardRow } from '../wire.ts';
import type { ChoiceKind } from './choices.ts';
import { failureReason, failureTitle, statusWords } from './format.ts';
import { ModifyDialog, ModifyMenu } from './modify.ts';
import { ProgressBar } from './progress.ts';
import { selectAllState, sortedRows, toggle } from './state.ts';
import { devices, live, selected } from './store.ts';

export function DevicesPage() {
  const [dialog, setDialog] = useState<ChoiceKind | undefined>();
  const rows = sortedRows(devices.value);
  const chosen = rows.filter((r) => selected.value.has(r.uuid));
  const all = selectAllState(selected.value, devices.value);
  return html`<section aria-labelledby="devices-title">
    <div class="toolbar">
      <h1 id="devices-title">Devices</h1>
      <span class="count">${chosen.length} of ${rows.length} selected</span>
      <${ModifyMenu} disabled=${chosen.length === 0} onPick=${setDialog} />
    </div>
    ${
      rows.length === 0
        ? html`<p class="empty">${
            live.value === 'live'
              ? 'No devices yet: start one with `huplab device start` while the server runs.'
              : 'Waiting for the lab server...'
          }</p>`
        : html`<div class="table-wrap">
            <table aria-label="Devices">
              <thead>
                <tr>
                  <th scope="col" class="check">
                    <input
                      type="checkbox"
                      aria-label="Select all devices"
                      checked=${all === 'all'}
                      indeterminate=${all === 'some'}
                      onChange=${(e: Event) =>
                        (selected.value = (e.target as HTMLInputElement).checked
                          ? new Set(rows.map((r) => r.uuid))
                          : new Set())}
                    />
                  </th>
                  <th scope="col">Name</th>
                  <th scope="col">Device type</th>
                  <th scope="col">CPU arch</th>
                  <th scope="col">OS version</th>
                  <th scope="col">Supervisor version</th>
                  <th scope="col">Online</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                </tr>
              </thead>
              <tbody>
                ${rows.map((r) => html`<${Row} key=${r.uuid} row=${r} />`)}
              </tbody>
            </table>
          </div>`
    }
    ${dialog ? html`<${ModifyDialog} kind=${dialog} devices=${chosen} onClose=${() => setDialog(undefined)} />` : null}
  </section>`;
}

function Row({ row }: { row: DashboardRow }) {
  const failed = failureTitle(row);
  return html`<tr data-device=${row.name} class=${row.online ? '' : 'offline'}>
    <td class="check">
      <input
        type="checkbox"
        aria-label=${`Select ${row.name}`}
        checked=${selected.value.has(row.uuid)}
        onChange=${(e: Event) => (selected.value = toggle(selected.value, row.uuid, (e.target as HTMLInputElement).checked))}
      />
    </td>
    <th scope="row"><a href=${`#/devices/${encodeURIComponent(row.uuid)}`}>${row.name}</a></th>
    <td>${row.deviceType}</td>
    <td>${row.arch}</td>
    <td data-col="os">${row.osVersion ?? '-'}</td>
    <td data-col="supervisor">${row.supervisorVersion ?? '-'}</td>
    <td><span class=${`dot ${row.online ? 'on' : 'off'}`}>${row.online ? 'Online' : 'Offline'}</span></td>
    <td data-col="status">
      ${failed ? html`<strong class="failed">${failed}</strong><span class="reason">${failureReason(row)}</span>` : statusWords(row)}
    </td>
    <td class="progress-cell"><${ProgressBar} row=${row} /></td>
  </tr>`;
}
