// The console's shell: finds out whether the server wants a key (and asks for
// one), then lays out Create, Tasks and Operate over one client connection.
import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { createConsoleClient, isAuthError, type Provider, type ReelayClient, type Task } from './api.js';
import { CreateForm } from './create-form.js';
import { KeyPrompt } from './key-prompt.js';
import { storedKey, storeKey } from './key.js';
import { OperatePanel } from './operate.js';
import { TaskList } from './task-list.js';

type Phase = { at: 'loading' } | { at: 'key'; refused: boolean } | { at: 'ready'; providers: Provider[] } | { at: 'failed'; message: string };
/** "live" only once the server has registered the task list's subscription (its `ready`), so nothing after it can be missed. */
export type Connection = 'connecting' | 'live' | 'reconnecting';

export function App() {
  const [key, setKey] = useState<string | null>(storedKey());
  const [phase, setPhase] = useState<Phase>({ at: 'loading' });
  // Bumped by "Try again" after a failed start, and by every key entered.
  const [attempt, setAttempt] = useState(0);
  const [connection, setConnection] = useState<Connection>('connecting');
  // A task this page created or retried, handed to the list at once (the socket may be slower).
  const [created, setCreated] = useState<Task | null>(null);
  // Bumped when a task finishes: the stats are re-read.
  const [finished, setFinished] = useState(0);
  // The client in use: a late failure of a replaced one changes nothing.
  const current = useRef<ReelayClient | null>(null);

  const client: ReelayClient = useMemo(() => {
    const c: ReelayClient = createConsoleClient({
      key,
      // Refused after it worked (revoked, expired) or at the start: ask for a key.
      onAuthError: () => current.current === c && setPhase({ at: 'key', refused: key !== null }),
      onDisconnected: () => current.current === c && setConnection('reconnecting'),
    });
    return c;
  }, [key, attempt]);
  current.current = client;

  useEffect(() => {
    let gone = false;
    setPhase({ at: 'loading' });
    setConnection('connecting');
    client.providers().then(
      (providers) => !gone && setPhase({ at: 'ready', providers }),
      (err: unknown) => {
        if (gone || isAuthError(err)) return; // onAuthError asked for a key
        setPhase({ at: 'failed', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => {
      gone = true;
      void client.close();
    };
  }, [client]);

  const useKey = (k: string | null) => {
    storeKey(k);
    setKey(k);
    setAttempt((n) => n + 1); // the same key again (say after a 4403) is a new attempt too
  };

  const header = html`
    <header class="top">
      <h1>reelay</h1>
      <span class=${`conn conn-${connection}`} role="status" aria-live="polite">${phase.at === 'ready' ? (connection === 'live' ? 'live' : connection === 'connecting' ? 'connecting…' : 'reconnecting…') : ''}</span>
      <nav>
        <a href="/graphql">GraphiQL</a>
        ${key ? html`<button type="button" class="link" onClick=${() => useKey(null)}>Forget key</button>` : null}
      </nav>
    </header>
  `;

  if (phase.at === 'loading') return html`${header}<main><p class="boot">Connecting…</p></main>`;
  if (phase.at === 'key') return html`${header}<main><${KeyPrompt} refused=${phase.refused} onKey=${useKey} /></main>`;
  if (phase.at === 'failed')
    return html`${header}<main><p role="alert" class="error">Could not reach the API: ${phase.message}</p><button type="button" onClick=${() => setAttempt((n) => n + 1)}>Try again</button></main>`;

  return html`
    ${header}
    <main class="layout">
      <div class="side">
        <${CreateForm} client=${client} providers=${phase.providers} onCreated=${setCreated} />
        <${OperatePanel} client=${client} refresh=${finished} />
      </div>
      <${TaskList}
        client=${client}
        providers=${phase.providers}
        created=${created}
        onLive=${() => current.current === client && setConnection('live')}
        onCreated=${setCreated}
        onFinished=${() => setFinished((n) => n + 1)}
      />
    </main>
  `;
}
