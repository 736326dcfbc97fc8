// The console's shell: finds out whether the server wants a key (and asks for
// one), then lays out Create, Tasks and Operate over one API connection.
import { html } from 'htm/preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { AuthError, createApi, type Provider, type ReelayApi, type Task } from './api.js';
import { CreateForm } from './create-form.js';
import { KeyPrompt } from './key-prompt.js';
import { storedKey, storeKey } from './key.js';
import { OperatePanel } from './operate.js';
import { TaskList } from './task-list.js';

type Phase = { at: 'loading' } | { at: 'key'; refused: boolean } | { at: 'ready'; providers: Provider[] } | { at: 'failed'; message: string };
export type Connection = 'connecting' | 'live' | 'reconnecting';

export function App() {
  const [key, setKey] = useState<string | null>(storedKey());
  const [phase, setPhase] = useState<Phase>({ at: 'loading' });
  // Bumped by "Try again" after a failed start, and by every key entered.
  const [attempt, setAttempt] = useState(0);
  const [connection, setConnection] = useState<Connection>('connecting');
  // Bumped when the socket comes back: the list re-reads what it may have missed.
  const [resync, setResync] = useState(0);
  // A task this page created or retried, handed to the list at once (the socket may be slower).
  const [created, setCreated] = useState<Task | null>(null);
  // Bumped when a task finishes: the stats are re-read.
  const [finished, setFinished] = useState(0);

  const api: ReelayApi = useMemo(
    () =>
      createApi({
        key,
        onConnected: (again) => {
          setConnection('live');
          if (again) setResync((n) => n + 1);
        },
        onDisconnected: () => setConnection('reconnecting'),
        onAuthLost: () => setPhase({ at: 'key', refused: true }),
      }),
    [key, attempt],
  );

  useEffect(() => {
    let gone = false;
    setPhase({ at: 'loading' });
    (async () => {
      try {
        await api.init();
        const providers = await api.providers();
        if (!gone) setPhase({ at: 'ready', providers });
      } catch (err) {
        if (gone) return;
        if (err instanceof AuthError) setPhase({ at: 'key', refused: key !== null });
        else setPhase({ at: 'failed', message: err instanceof Error ? err.message : String(err) });
      }
    })();
    return () => {
      gone = true;
      api.close();
    };
  }, [api]);

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
        <${CreateForm} api=${api} providers=${phase.providers} onCreated=${setCreated} />
        <${OperatePanel} api=${api} providers=${phase.providers} refresh=${finished} />
      </div>
      <${TaskList} api=${api} providers=${phase.providers} created=${created} resync=${resync} onCreated=${setCreated} onFinished=${() => setFinished((n) => n + 1)} />
    </main>
  `;
}
