/**
 * A device's page: its summary (versions, its OS's line and phase, uptime, last heartbeat), the
 * progress of a running update with the steps it went through, Settings with the "OS version"
 * and "Supervisor version" selects and Save, its update logs, the last lines of its serial
 * console and the history of its updates.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DeviceTarget, TargetOutcome } from '../../../lib/contract/fleet.ts';
import { LEGACY_UPDATE_LOG_DIR, UPDATE_LOG_DIR } from '../../../lib/contract/update-log.ts';
import {
  CONSOLE_LINES_DEFAULT,
  type ConsoleTail,
  type DashboardRow,
  type DeviceChoices,
  type PolicyAnswer,
} from '../wire.ts';
import {
  anyOverridable,
  type ChoiceKind,
  needsMajorConfirmation,
  optionWords,
  type VersionOption,
  versionOptions,
} from './choices.ts';
import { ago, failureReason, failureTitle, joinLogParts, releaseWords, statusWords, uptimeWords } from './format.ts';
import { loadPolicy, Outcomes } from './modify.ts';
import { ProgressBar } from './progress.ts';
import { api, ApiError } from './session.ts';
import { devices } from './store.ts';

interface Detail {
  history: Array<{ percent: number; message: string; status?: string; at: string }>;
}
interface Log {
  name: string;
  text: string;
  at: string;
}

export function DevicePage({ uuid }: { uuid: string }) {
  const row = devices.value.get(uuid);
  const [detail, setDetail] = useState<Detail | undefined>();
  const [logs, setLogs] = useState<Log[]>([]);
  const [choices, setChoices] = useState<DeviceChoices | undefined>();
  const [pol, setPolicy] = useState<PolicyAnswer | undefined>();
  const [error, setError] = useState<string | undefined>();
  // Fetched again whenever the live row says something happened.
  const changeKey = row
    ? [row.progress?.at, row.status, row.osVersion, row.supervisorVersion, row.targetProgress, row.online].join('|')
    : '';
  useEffect(() => {
    let gone = false;
    const u = encodeURIComponent(uuid);
    Promise.all([
      api<Detail>(`/v1/devices/${u}`),
      api<{ logs: Log[] }>(`/v1/devices/${u}/logs`),
      api<DeviceChoices>(`/v1/devices/${u}/choices`),
      loadPolicy().catch(() => undefined),
    ])
      .then(([d, l, c, p]) => {
        if (gone) return;
        setDetail(d);
        setLogs(joinLogParts(l.logs));
        setChoices(c);
        setPolicy(p);
        setError(undefined);
      })
      .catch((err: Error) => !gone && setError(err.message));
    return () => {
      gone = true;
    };
  }, [uuid, changeKey]);
  if (!row)
    return html`<section><h1>Device</h1><p role="status">${devices.value.size ? `No device ${uuid} in the lab.` : 'Loading...'}</p><a href="#/">All devices</a></section>`;
  const release = pol?.deviceTypes
    .find((t) => t.deviceType === row.deviceType)
    ?.releases.find((r) => r.version === row.osVersion);
  const failed = failureTitle(row);
  const steps = stepsSince(detail?.history ?? [], row.target);
  return html`<section class="device" aria-labelledby="device-title">
    <p><a href="#/">All devices</a></p>
    <h1 id="device-title">${row.name}</h1>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    <section aria-labelledby="summary-title" class="card">
      <h2 id="summary-title">Summary</h2>
      <dl class="summary">
        <dt>Device type</dt><dd>${row.deviceType}</dd>
        <dt>CPU arch</dt><dd>${row.arch}</dd>
        <dt>OS version</dt><dd data-field="os">${row.osVersion ?? '-'}</dd>
        <dt>OS line and phase</dt><dd>${release ? releaseWords(release) : 'not in the support policy'}</dd>
        <dt>Supervisor version</dt><dd data-field="supervisor">${row.supervisorVersion ?? '-'}</dd>
        <dt>Online</dt><dd>${row.online ? 'Online' : 'Offline'}</dd>
        <dt>Uptime</dt><dd data-field="uptime">${uptimeWords(row)}</dd>
        <dt>Status</dt><dd>${statusWords(row)}</dd>
        <dt>Last heartbeat</dt><dd><time datetime=${row.lastSeen ?? ''}>${ago(row.lastSeen)}</time></dd>
        <dt>Target</dt><dd>${targetWords(row.target)} (${row.targetProgress})</dd>
      </dl>
    </section>
    ${
      failed
        ? html`<section role="alert" class="card failed-card"><h2>${failed}</h2><p>${failureReason(row)}</p>
            <p class="hint">The device keeps running its old OS; the update logs below say what happened.</p></section>`
        : null
    }
    ${
      row.progress
        ? html`<section aria-labelledby="progress-title" class="card">
            <h2 id="progress-title">Update progress</h2>
            <${ProgressBar} row=${row} wide=${true} />
            <ol class="steps" aria-label="Steps">
              ${steps.map((s) => html`<li><span class="pct">${Math.round(s.percent)} %</span> ${s.message} <time datetime=${s.at}>${s.at.slice(11, 19)}</time></li>`)}
            </ol>
          </section>`
        : null
    }
    <section aria-labelledby="settings-title" class="card">
      <h2 id="settings-title">Settings</h2>
      <${Setting} kind="os" row=${row} choices=${choices} policy=${pol} />
      <${Setting} kind="supervisor" row=${row} choices=${choices} policy=${pol} />
    </section>
    <section aria-labelledby="logs-title" class="card">
      <h2 id="logs-title">Update logs</h2>
      ${logs.length === 0 ? html`<p>No update logs yet (they come from ${UPDATE_LOG_DIR}, or the legacy ${LEGACY_UPDATE_LOG_DIR}).</p>` : null}
      ${logs.map(
        (l, i) => html`<details open=${i === logs.length - 1}>
          <summary>${l.name} <time datetime=${l.at}>${l.at.replace('T', ' ').slice(0, 19)}</time></summary>
          <pre>${l.text}</pre>
        </details>`,
      )}
    </section>
    <${Console} uuid=${uuid} />
    <section aria-labelledby="history-title" class="card">
      <h2 id="history-title">History</h2>
      <${Attempts} row=${row} />
      ${
        detail?.history.length
          ? html`<div class="table-wrap"><table aria-label="Progress history">
              <thead><tr><th scope="col">Time</th><th scope="col">Progress</th><th scope="col">Message</th><th scope="col">Status</th></tr></thead>
              <tbody>${[...detail.history]
                .reverse()
                .slice(0, 200)
                .map(
                  (h) =>
                    html`<tr><td><time datetime=${h.at}>${h.at.replace('T', ' ').slice(0, 19)}</time></td><td>${Math.round(h.percent)} %</td><td>${h.message}</td><td>${h.status ?? ''}</td></tr>`,
                )}</tbody>
            </table></div>`
          : html`<p>No progress reported yet.</p>`
      }
    </section>
  </section>`;
}

/** How often the console's last lines are read again while the page is open. */
const CONSOLE_REFRESH_MS = 5_000;

/** The last lines of the device's serial console, read again every few seconds. */
function Console({ uuid }: { uuid: string }) {
  const [tail, setTail] = useState<ConsoleTail | undefined>();
  const [missing, setMissing] = useState<string | undefined>();
  const pre = useRef<HTMLPreElement>(null);
  // The newest line in view, as in a terminal.
  useEffect(() => {
    if (pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [tail]);
  useEffect(() => {
    let gone = false;
    const read = () =>
      api<ConsoleTail>(`/v1/devices/${encodeURIComponent(uuid)}/console?lines=${CONSOLE_LINES_DEFAULT}`)
        .then((t) => {
          if (gone) return;
          setTail(t);
          setMissing(undefined);
        })
        .catch((err: Error) => !gone && setMissing(err.message));
    void read();
    const timer = setInterval(read, CONSOLE_REFRESH_MS);
    return () => {
      gone = true;
      clearInterval(timer);
    };
  }, [uuid]);
  return html`<section aria-labelledby="console-title" class="card">
    <h2 id="console-title">Console</h2>
    ${
      tail && !tail.none
        ? html`<p class="note">The last ${tail.lines.length} lines of its serial console, written <time datetime=${tail.modified ?? ''}>${ago(tail.modified)}</time>.</p>
          <pre ref=${pre} class="console" aria-label="Last console lines" tabindex="0">${tail.lines.join('\n')}</pre>`
        : html`<p>${tail?.none ?? missing ?? 'Loading...'}</p>`
    }
  </section>`;
}

function Attempts({ row }: { row: DashboardRow }) {
  const a = row.lastUpdate;
  const list = [a?.os, a?.supervisor].filter((x) => x !== undefined);
  if (!list.length) return html`<p>No update attempts reported.</p>`;
  return html`<ul class="attempts" aria-label="Last update attempts">
    ${list.map(
      (x) =>
        html`<li class=${x.outcome}><strong>${x.kind === 'os' ? 'OS' : 'Supervisor'} ${x.version}</strong>: ${x.outcome}${
          x.reason ? ` (${x.reason})` : ''
        } <time datetime=${x.at}>${x.at.replace('T', ' ').slice(0, 19)}</time></li>`,
    )}
  </ul>`;
}

const LABELS: Record<ChoiceKind, string> = { os: 'OS version', supervisor: 'Supervisor version' };

function Setting(props: { kind: ChoiceKind; row: DashboardRow; choices?: DeviceChoices; policy?: PolicyAnswer }) {
  const { kind, row, choices, policy } = props;
  const [version, setVersion] = useState('');
  const [confirmMajor, setConfirmMajor] = useState(false);
  const [allowUnsupported, setAllowUnsupported] = useState(false);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<TargetOutcome | undefined>();
  const [error, setError] = useState<string | undefined>();
  const options: VersionOption[] = choices ? versionOptions(kind, [row], [choices], policy, allowUnsupported) : [];
  const unsupportedChoice = kind === 'os' && anyOverridable(options);
  const id = `setting-${kind}`;
  const current = kind === 'os' ? row.osVersion : row.supervisorVersion;
  const major = kind === 'supervisor' && version !== '' && needsMajorConfirmation(version, [row]);
  const save = async (e: Event) => {
    e.preventDefault();
    if (!version) return;
    setBusy(true);
    setError(undefined);
    setOutcome(undefined);
    try {
      const body =
        kind === 'os'
          ? { osVersion: version, ...(allowUnsupported ? { allowUnsupported: true } : {}) }
          : { supervisorVersion: version, ...(major && confirmMajor ? { confirmMajor: true } : {}) };
      const r = await api<TargetOutcome>(`/v1/devices/${encodeURIComponent(row.uuid)}/target`, {
        method: 'PUT',
        body: JSON.stringify(body),
      });
      setOutcome(r);
    } catch (err) {
      const refused =
        err instanceof ApiError ? (err.body as { outcome?: TargetOutcome } | undefined)?.outcome : undefined;
      if (refused) setOutcome(refused);
      else setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="setting" aria-labelledby=${`${id}-title`} onSubmit=${save}>
    <h3 id=${`${id}-title`}>${LABELS[kind]}</h3>
    <p class="note">Running ${current ?? 'unknown'}.</p>
    <label for=${id}>${LABELS[kind]}</label>
    <select id=${id} value=${version} onChange=${(e: Event) => setVersion((e.target as HTMLSelectElement).value)}>
      <option value="">Choose a version</option>
      ${options.map(
        (o) =>
          html`<option value=${o.version} disabled=${!o.selectable}>${o.version}${(() => {
            const w = optionWords(o, 1, allowUnsupported);
            return w ? ` (${w})` : '';
          })()}</option>`,
      )}
    </select>
    ${
      unsupportedChoice
        ? html`<label class="confirm"><input type="checkbox" checked=${allowUnsupported} onChange=${(e: Event) => {
            const on = (e.target as HTMLInputElement).checked;
            setAllowUnsupported(on);
            if (
              !on &&
              version &&
              !versionOptions(kind, [row], choices ? [choices] : [], policy, false).find((o) => o.version === version)
                ?.selectable
            )
              setVersion('');
          }} /> Allow releases the support policy no longer maintains</label>`
        : null
    }
    ${major ? html`<label class="confirm"><input type="checkbox" checked=${confirmMajor} onChange=${(e: Event) => setConfirmMajor((e.target as HTMLInputElement).checked)} /> I have tested this new major version</label>` : null}
    <button type="submit" class="primary save" disabled=${!version || busy}>Save</button>
    ${busy ? html`<p role="status">Saving... (the lab server publishes the release first, which may take minutes)</p>` : null}
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    ${outcome ? html`<${Outcomes} results=${[outcome]} />` : null}
  </form>`;
}

function targetWords(t: DeviceTarget | null): string {
  if (!t) return 'none';
  return [t.osVersion ? `OS ${t.osVersion}` : '', t.supervisorVersion ? `supervisor ${t.supervisorVersion}` : '']
    .filter(Boolean)
    .join(', ');
}

/** The progress reports since the target was set: the steps the running update went through. */
function stepsSince(history: Detail['history'], target: DeviceTarget | null) {
  const since = target?.setAt ?? '';
  return history.filter((h) => h.at > since);
}
