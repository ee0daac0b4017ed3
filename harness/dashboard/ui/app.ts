/** The page: navigation, the stream's health, and the route's view (Devices, a device, Releases). */
import { html } from 'htm/preact';
import { useEffect } from 'preact/hooks';
import { DevicePage } from './device.ts';
import { DevicesPage } from './devices.ts';
import { connectLive } from './live.ts';
import { Login } from './login.ts';
import { ReleasesPage } from './releases.ts';
import { forgetToken, takeToken } from './session.ts';
import { live, onLiveEvent, route, signedIn } from './store.ts';

export function App() {
  if (!signedIn.value) return html`<${Login} onSignedIn=${() => (signedIn.value = true)} />`;
  return html`<${Shell} />`;
}

function Shell() {
  useEffect(
    () =>
      connectLive({
        event: onLiveEvent,
        status: (s) => (live.value = s),
        signedOut: () => (signedIn.value = false),
      }),
    [],
  );
  const hash = route.value;
  const device = /^#\/devices\/([^/]+)$/.exec(hash);
  const page = device
    ? html`<${DevicePage} uuid=${decodeURIComponent(device[1]!)} />`
    : hash === '#/releases'
      ? html`<${ReleasesPage} />`
      : html`<${DevicesPage} />`;
  const current = (what: string) => (what === 'releases' ? hash === '#/releases' : !device && hash !== '#/releases');
  return html`<div class="shell">
    <header>
      <span class="brand">huplab lab</span>
      <nav aria-label="Pages">
        <a href="#/" aria-current=${current('devices') ? 'page' : undefined}>Devices</a>
        <a href="#/releases" aria-current=${current('releases') ? 'page' : undefined}>Releases</a>
      </nav>
      <span class=${`live ${live.value}`} role="status" aria-label="Live updates">${
        live.value === 'live' ? 'Live' : live.value === 'connecting' ? 'Connecting...' : 'Reconnecting...'
      }</span>
      <button
        type="button"
        class="link"
        onClick=${() => {
          forgetToken();
          signedIn.value = false;
        }}
      >
        Sign out
      </button>
    </header>
    <main>${page}</main>
  </div>`;
}

export function start(): void {
  signedIn.value = takeToken() !== undefined;
  route.value = location.hash;
}
