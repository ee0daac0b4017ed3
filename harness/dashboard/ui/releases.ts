/** The Releases page: each device type's release lines, their phases and end-of-life dates, on a timeline. */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import type { PolicyAnswer, PolicyRelease } from '../wire.ts';
import { phaseLabel } from './format.ts';
import { loadPolicy } from './modify.ts';
import { timeline } from './timeline.ts';

export function ReleasesPage() {
  const [pol, setPolicy] = useState<PolicyAnswer | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    loadPolicy()
      .then(setPolicy)
      .catch((err: Error) => setError(err.message));
  }, []);
  return html`<section aria-labelledby="releases-title">
    <h1 id="releases-title">Releases</h1>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    ${!pol && !error ? html`<p role="status">Loading the support policy...</p>` : null}
    ${
      pol
        ? html`<p class="hint">The support policy on ${pol.at.slice(0, 10)}: only the latest rolling release is maintained; an ESR line is supported ${pol.rules.esrSupportMonths} months (Next-ESR, Current-ESR, Sunset-ESR, ${pol.rules.esrPhaseMonths} months each), then reaches end of life; a jump of more than ${pol.rules.maxJumpQuarters} quarters is allowed but not guaranteed.</p>
          ${pol.deviceTypes.map((t) => html`<${DeviceTypeReleases} key=${t.deviceType} at=${pol.at} deviceType=${t.deviceType} releases=${t.releases} />`)}`
        : null
    }
  </section>`;
}

function DeviceTypeReleases({
  at,
  deviceType,
  releases,
}: {
  at: string;
  deviceType: string;
  releases: PolicyRelease[];
}) {
  const tl = timeline(releases, at);
  const id = `rel-${deviceType}`;
  return html`<section aria-labelledby=${id} class="card">
    <h2 id=${id}>${deviceType}</h2>
    <div class="timeline" role="img" aria-label=${`Release lines of ${deviceType} from ${tl.from} to ${tl.to}`}>
      <div class="axis"><span>${tl.from}</span><span>${tl.to}</span></div>
      ${tl.lines.map(
        (l) => html`<div class="tl-row">
          <span class="tl-name">${l.line === 'rolling' ? 'rolling' : `ESR ${l.line}`}</span>
          <span class="tl-track">
            ${l.segments.map((s) => html`<span class=${`seg ${s.phase}`} title=${`${s.label}: ${s.from} to ${s.to}`} style=${{ left: `${s.left}%`, width: `${s.width}%` }}></span>`)}
            <span class="today" style=${{ left: `${tl.today}%` }}></span>
          </span>
        </div>`,
      )}
    </div>
    <div class="table-wrap">
      <table aria-label=${`Releases of ${deviceType}`}>
        <thead><tr><th scope="col">Version</th><th scope="col">Line</th><th scope="col">Phase</th><th scope="col">Maintained</th><th scope="col">Published</th><th scope="col">End of life</th></tr></thead>
        <tbody>
          ${[...releases].reverse().map(
            (r) => html`<tr class=${r.maintained ? '' : 'unmaintained'}>
              <th scope="row">${r.version}</th>
              <td>${r.line === 'rolling' ? 'rolling' : `ESR ${r.line}`}</td>
              <td>${phaseLabel(r.phase)}</td>
              <td>${r.maintained ? 'yes' : 'no'}</td>
              <td>${r.published}</td>
              <td>${r.endOfLife ?? '-'}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}
