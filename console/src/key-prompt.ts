// Asks for an API key when the server requires one.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';

export function KeyPrompt({ refused, onKey }: { refused: boolean; onKey: (key: string) => void }) {
  const [value, setValue] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    if (value.trim()) onKey(value.trim());
  };
  return html`
    <section class="card key-prompt">
      <h2>Key required</h2>
      <p>${refused ? html`<span role="alert" class="error">That key was refused (wrong, revoked or expired).</span> ` : null}This server requires an API key. It is kept in this browser's local storage and sent only to this server.</p>
      <form onSubmit=${submit}>
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off" value=${value} onInput=${(e: Event) => setValue((e.target as HTMLInputElement).value)} required />
        <button type="submit">Use key</button>
      </form>
    </section>
  `;
}
