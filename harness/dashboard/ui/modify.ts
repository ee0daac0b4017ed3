/**
 * The Modify menu ("OS version", "Supervisor version") and its dialog: the versions the selected
 * devices may move to, each with the policy's verdict and the devices refused, and Apply, which
 * sets the target on the batch (POST /v1/targets) and shows each device's outcome.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TargetOutcome } from '../../../lib/contract/fleet.ts';
import type { DashboardRow, DeviceChoices, PolicyAnswer } from '../wire.ts';
import { DASHBOARD_PATHS } from '../wire.ts';
import {
  anyOverridable,
  type ChoiceKind,
  needsMajorConfirmation,
  optionWords,
  type VersionOption,
  versionOptions,
} from './choices.ts';
import { api } from './session.ts';
import { policy } from './store.ts';

const TITLES: Record<ChoiceKind, string> = { os: 'OS version', supervisor: 'Supervisor version' };

export function ModifyMenu({ disabled, onPick }: { disabled: boolean; onPick: (k: ChoiceKind) => void }) {
  const [open, setOpen] = useState(false);
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);
  const pick = (k: ChoiceKind) => {
    setOpen(false);
    onPick(k);
  };
  return html`<div class="menu" onKeyDown=${(e: KeyboardEvent) => e.key === 'Escape' && setOpen(false)}>
    <button
      type="button"
      aria-haspopup="menu"
      aria-expanded=${open}
      aria-controls="modify-menu"
      disabled=${disabled}
      onClick=${() => setOpen(!open)}
    >
      Modify
    </button>
    ${
      open
        ? html`<ul role="menu" id="modify-menu" aria-label="Modify">
            <li role="none"><button ref=${first} type="button" role="menuitem" onClick=${() => pick('os')}>OS version</button></li>
            <li role="none"><button type="button" role="menuitem" onClick=${() => pick('supervisor')}>Supervisor version</button></li>
          </ul>`
        : null
    }
  </div>`;
}

/** The policy report, fetched once per page load. */
export async function loadPolicy(): Promise<PolicyAnswer> {
  policy.value ??= await api<PolicyAnswer>(DASHBOARD_PATHS.policy);
  return policy.value;
}

export function ModifyDialog(props: { kind: ChoiceKind; devices: DashboardRow[]; onClose: () => void }) {
  const { kind, devices, onClose } = props;
  const ref = useRef<HTMLDialogElement>(null);
  const [loaded, setLoaded] = useState<{ choices: DeviceChoices[]; policy?: PolicyAnswer } | undefined>();
  const [allowUnsupported, setAllowUnsupported] = useState(false);
  const [loadError, setLoadError] = useState<string | undefined>();
  const [version, setVersion] = useState<string | undefined>();
  const [confirmMajor, setConfirmMajor] = useState(false);
  const [busy, setBusy] = useState(false);
  const [results, setResults] = useState<TargetOutcome[] | undefined>();
  const [applyError, setApplyError] = useState<string | undefined>();
  useEffect(() => {
    ref.current?.showModal();
    let gone = false;
    (async () => {
      const [choices, pol] = await Promise.all([
        Promise.all(devices.map((d) => api<DeviceChoices>(`/v1/devices/${encodeURIComponent(d.uuid)}/choices`))),
        kind === 'os' ? loadPolicy().catch(() => undefined) : Promise.resolve(undefined),
      ]);
      if (!gone) setLoaded({ choices, ...(pol ? { policy: pol } : {}) });
    })().catch((err: Error) => !gone && setLoadError(err.message));
    return () => {
      gone = true;
    };
  }, []);
  const apply = async () => {
    if (!version) return;
    setBusy(true);
    setApplyError(undefined);
    try {
      const body = {
        devices: devices.map((d) => d.uuid),
        ...(kind === 'os' ? { osVersion: version } : { supervisorVersion: version }),
        ...(kind === 'supervisor' && confirmMajor ? { confirmMajor: true } : {}),
        ...(kind === 'os' && allowUnsupported ? { allowUnsupported: true } : {}),
      };
      const r = await api<{ results: TargetOutcome[] }>('/v1/targets', { method: 'POST', body: JSON.stringify(body) });
      setResults(r.results);
    } catch (err) {
      setApplyError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const options: VersionOption[] | undefined =
    loaded && versionOptions(kind, devices, loaded.choices, loaded.policy, allowUnsupported);
  const major = kind === 'supervisor' && version !== undefined && needsMajorConfirmation(version, devices);
  const unsupportedChoice = kind === 'os' && options !== undefined && anyOverridable(options);
  const allow = (on: boolean) => {
    setAllowUnsupported(on);
    // A version that only the choice made selectable is no longer chosen without it.
    const still = versionOptions(kind, devices, loaded?.choices ?? [], loaded?.policy, on);
    if (version && !still.find((o) => o.version === version)?.selectable) setVersion(undefined);
  };
  const title = `${TITLES[kind]} for ${devices.length === 1 ? devices[0]!.name : `${devices.length} devices`}`;
  return html`<dialog ref=${ref} aria-labelledby="modify-title" onClose=${onClose} class="modify">
    <h2 id="modify-title">${title}</h2>
    ${loadError ? html`<p role="alert" class="error">${loadError}</p>` : null}
    ${!options && !loadError ? html`<p role="status">Asking the lab which versions the devices may take...</p>` : null}
    ${
      options && !results
        ? html`<fieldset>
            <legend>Choose the ${TITLES[kind]} to apply</legend>
            <div role="radiogroup" aria-label=${TITLES[kind]} class="versions">
              ${options.length === 0 ? html`<p>No versions are published for these devices.</p>` : null}
              ${options.map(
                (
                  o,
                ) => html`<label class=${`version${o.selectable ? '' : ' refused'}${o.unsupported ? ' unsupported' : ''}`}>
                  <input
                    type="radio"
                    name="version"
                    value=${o.version}
                    disabled=${!o.selectable}
                    checked=${version === o.version}
                    onChange=${() => setVersion(o.version)}
                  />
                  <span class="v">${o.version}</span>
                  <span class="words">${optionWords(o, devices.length, allowUnsupported)}</span>
                </label>`,
              )}
            </div>
          </fieldset>
          ${
            unsupportedChoice
              ? html`<label class="confirm"><input type="checkbox" checked=${allowUnsupported} onChange=${(e: Event) => allow((e.target as HTMLInputElement).checked)} /> Allow releases the support policy no longer maintains (end of life, superseded)</label>`
              : null
          }
          ${
            major
              ? html`<label class="confirm"><input type="checkbox" checked=${confirmMajor} onChange=${(e: Event) => setConfirmMajor((e.target as HTMLInputElement).checked)} /> I have tested this new major version of the supervisor on this fleet</label>`
              : null
          }`
        : null
    }
    ${busy ? html`<p role="status">Applying... (the lab server publishes the release first, which may take minutes)</p>` : null}
    ${applyError ? html`<p role="alert" class="error">${applyError}</p>` : null}
    ${results ? html`<${Outcomes} results=${results} />` : null}
    <div class="actions">
      ${results ? null : html`<button type="button" class="primary" disabled=${!version || busy} onClick=${apply}>Apply</button>`}
      <button type="button" onClick=${() => ref.current?.close()}>${results ? 'Close' : 'Cancel'}</button>
    </div>
  </dialog>`;
}

export function Outcomes({ results }: { results: TargetOutcome[] }) {
  return html`<ul class="outcomes" aria-label="Outcome per device">
    ${results.map(
      (r) => html`<li class=${r.ok ? 'ok' : 'refused'}>
        <strong>${r.name}</strong>: ${
          r.ok
            ? `target set${r.target?.osVersion ? `, OS ${r.target.osVersion}` : ''}${r.target?.supervisorVersion ? `, supervisor ${r.target.supervisorVersion}` : ''}${r.warning ? ` (warning, ${r.warning.rule}: ${r.warning.reason})` : ''}`
            : html`refused (${r.refusal?.rule}): ${r.refusal?.reason}`
        }
      </li>`,
    )}
  </ul>`;
}
