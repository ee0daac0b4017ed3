/** The login form: the operator token of the lab (`<lab>/operator-token`), when the URL had none. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, forgetToken, setToken } from './session.ts';

export function Login({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setValue] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setToken(token.trim());
    try {
      await api('/v1/fleet');
      onSignedIn();
    } catch (err) {
      forgetToken();
      setError((err as Error).message);
    }
  };
  return html`<main class="login">
    <h1>huplab lab</h1>
    <form onSubmit=${submit} aria-label="Sign in">
      <label for="token">Operator token</label>
      <input
        id="token"
        type="password"
        autocomplete="off"
        value=${token}
        onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)}
      />
      <button type="submit">Sign in</button>
      ${error ? html`<p role="alert" class="error">${error}</p>` : null}
      <p class="hint">The token is in the lab folder's <code>operator-token</code> file; <code>huplab serve</code> prints the page's address with it.</p>
    </form>
  </main>`;
}
