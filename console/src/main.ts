// The console's entry point: mounts the app into #app.
import { html, render } from 'htm/preact';
import { App } from './app.js';

const root = document.getElementById('app')!;
root.textContent = ''; // the "Loading…" line the page shows until this runs
render(html`<${App} />`, root);
