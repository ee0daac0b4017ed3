/** The dashboard page's entry: takes the token from the URL, then renders the app into #app. */
import { html } from 'htm/preact';
import { render } from 'preact';
import { App, start } from './app.ts';

start();
const root = document.getElementById('app')!;
// The shell's "Loading" line goes: render() diffs against what is there, it does not replace it.
root.textContent = '';
render(html`<${App} />`, root);
