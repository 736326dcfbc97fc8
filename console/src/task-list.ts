// Watch: the key's tasks, newest first, kept live over `tasksUpdated`; more
// pages of `tasks` load as the end of the list scrolls into view; filters by
// status and provider and a prompt search.
//
// Nothing is missed between reading the list and subscribing: the first page
// is read again each time the subscription is `ready` (registered on the
// server, at the start and after every reconnect), and merged, states only
// moving forward; only then is the connection shown as live.
import { html } from 'htm/preact';
import { useEffect, useReducer, useRef, useState } from 'preact/hooks';
import { FINAL, STATUSES, type Provider, type ReelayClient, type Task, type TaskFilter, type TaskStatus } from './api.js';
import { TaskItem } from './task-item.js';

const PAGE = 20;

/** What the list is filtered by (the API's TaskFilter takes more). */
interface ListFilter {
  status?: TaskStatus[];
  provider?: string;
  search?: string;
}

interface State {
  tasks: Task[];
  cursor: string | null;
  hasNext: boolean;
  /** A page arrived for this filter (the cursor and hasNext are real). */
  loaded: boolean;
  total: number | null;
  loading: boolean;
  error: string;
  /** Which filter the state is for: a page for an old filter is dropped. */
  generation: number;
}

type Action =
  | { type: 'reset'; generation: number }
  | { type: 'loading'; generation: number }
  /** `first`: the first page; `refresh`: the first page read again, merged without moving the paging on. */
  | { type: 'page'; generation: number; nodes: Task[]; cursor: string | null; hasNext: boolean; total: number; first: boolean; refresh?: boolean }
  | { type: 'failed'; generation: number; message: string }
  | { type: 'upsert'; task: Task; filter: ListFilter }
  | { type: 'remove'; id: string };

const RANK: Record<TaskStatus, number> = { QUEUED: 0, PROCESSING: 1, COMPLETED: 2, FAILED: 2, CANCELLED: 2 };

/**
 * Whether `next` is news over `prev`: states only move forward (a page read
 * before a change may arrive after it), and progress only grows.
 */
function newer(prev: Task, next: Task): boolean {
  if (RANK[next.status] !== RANK[prev.status]) return RANK[next.status] > RANK[prev.status];
  if (FINAL.has(prev.status)) return next.updatedAt >= prev.updatedAt || next.status !== prev.status || next.result !== prev.result;
  if (next.status === 'PROCESSING' && prev.progress != null && next.progress != null && next.progress < prev.progress) return false;
  return true;
}

function matches(task: Task, f: ListFilter): boolean {
  if (f.status?.length && !f.status.includes(task.status)) return false;
  if (f.provider && task.provider !== f.provider) return false;
  if (f.search?.trim() && !task.prompt.toLowerCase().includes(f.search.trim().toLowerCase())) return false;
  return true;
}

const byNewest = (a: Task, b: Task) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1);

function reduce(s: State, a: Action): State {
  switch (a.type) {
    case 'reset':
      return { tasks: [], cursor: null, hasNext: true, loaded: false, total: null, loading: false, error: '', generation: a.generation };
    case 'loading':
      return a.generation === s.generation ? { ...s, loading: true, error: '' } : s;
    case 'failed':
      return a.generation === s.generation ? { ...s, loading: false, error: a.message } : s;
    case 'page': {
      if (a.generation !== s.generation) return s;
      const known = new Map(s.tasks.map((t) => [t.id, t]));
      const merged = [...s.tasks];
      for (const t of a.nodes) {
        const prev = known.get(t.id);
        if (!prev) merged.push(t);
        else if (newer(prev, t)) merged[merged.indexOf(prev)] = t;
      }
      const tasks = merged.sort(byNewest);
      // A refresh after more pages were loaded leaves the paging where it is.
      if (a.refresh && s.loaded) return { ...s, tasks, total: a.total };
      return { ...s, tasks, cursor: a.cursor, hasNext: a.hasNext, loaded: true, total: a.first ? a.total : s.total, loading: a.refresh ? s.loading : false };
    }
    case 'upsert': {
      const i = s.tasks.findIndex((t) => t.id === a.task.id);
      if (i >= 0) {
        if (!newer(s.tasks[i]!, a.task)) return s;
        if (!matches(a.task, a.filter)) return { ...s, tasks: s.tasks.filter((t) => t.id !== a.task.id), total: s.total == null ? null : s.total - 1 };
        const tasks = [...s.tasks];
        tasks[i] = a.task;
        return { ...s, tasks };
      }
      if (!matches(a.task, a.filter)) return s;
      // Older than the last loaded task while more pages exist: it comes with its page.
      const last = s.tasks[s.tasks.length - 1];
      if (s.hasNext && last && byNewest(a.task, last) > 0) return s;
      return { ...s, tasks: [...s.tasks, a.task].sort(byNewest), total: s.total == null ? null : s.total + 1 };
    }
    case 'remove':
      return s.tasks.some((t) => t.id === a.id) ? { ...s, tasks: s.tasks.filter((t) => t.id !== a.id), total: s.total == null ? null : s.total - 1 } : s;
  }
}

interface Props {
  client: ReelayClient;
  providers: Provider[];
  /** A task this page just created or retried. */
  created: Task | null;
  /** The subscription is registered and the list read after it: changes now show as they happen. */
  onLive(): void;
  onCreated(task: Task): void;
  onFinished(): void;
}

/** The filter as the API takes it: empty parts left out. */
function apiFilter(f: ListFilter): TaskFilter | null {
  const out: TaskFilter = {};
  if (f.status?.length) out.status = f.status;
  if (f.provider) out.provider = f.provider;
  if (f.search?.trim()) out.search = f.search.trim();
  return Object.keys(out).length ? out : null;
}

export function TaskList({ client, providers, created, onLive, onCreated, onFinished }: Props) {
  const [status, setStatus] = useState<TaskStatus | ''>('');
  const [provider, setProvider] = useState('');
  const [searchInput, setSearchInput] = useState('');
  const [search, setSearch] = useState('');
  const [s, dispatch] = useReducer(reduce, { tasks: [], cursor: null, hasNext: true, loaded: false, total: null, loading: false, error: '', generation: 0 });
  const [now, setNow] = useState(Date.now());
  const [liveError, setLiveError] = useState('');
  const sentinel = useRef<HTMLDivElement>(null);
  const filter: ListFilter = { status: status ? [status] : undefined, provider: provider || undefined, search: search || undefined };
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const stateRef = useRef(s);
  stateRef.current = s;

  // Elapsed times tick once a second.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  // The search is sent once typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setSearch(searchInput), 300);
    return () => clearTimeout(t);
  }, [searchInput]);

  // The filter's generation: bumped by every reset, so a page asked for under
  // an older filter is dropped. A ref, because a reset and its first page
  // happen before the state shows the new generation.
  const generation = useRef(0);
  // One page request at a time per generation (the state's `loading` is a render behind).
  const inflight = useRef<number | null>(null);
  const fetchPage = async (gen: number, cursor: string | null) => {
    if (inflight.current === gen) return;
    inflight.current = gen;
    dispatch({ type: 'loading', generation: gen });
    try {
      const page = await client.tasks({ first: PAGE, after: cursor, filter: apiFilter(filterRef.current) });
      dispatch({ type: 'page', generation: gen, nodes: page.nodes, cursor: page.pageInfo.endCursor, hasNext: page.pageInfo.hasNextPage, total: page.totalCount, first: cursor === null });
    } catch (err) {
      dispatch({ type: 'failed', generation: gen, message: err instanceof Error ? err.message : String(err) });
    } finally {
      if (inflight.current === gen) inflight.current = null;
    }
  };
  const loadMore = (onlyInView = false) => {
    const cur = stateRef.current;
    if (cur.generation !== generation.current || cur.loading || !cur.hasNext || cur.error) return;
    // The observer reports what it saw when it last looked; the list may have grown since.
    if (onlyInView && sentinel.current && sentinel.current.getBoundingClientRect().top > window.innerHeight + 200) return;
    void fetchPage(cur.generation, cur.cursor);
  };
  const restart = () => {
    const gen = ++generation.current;
    dispatch({ type: 'reset', generation: gen });
    void fetchPage(gen, null);
  };
  /**
   * The first page read again and merged (not a restart: the list stays as it
   * is). Apart from the paging's one-at-a-time rule, so that a read begun
   * before the subscription was registered cannot stand in for it.
   */
  const refresh = async () => {
    const gen = generation.current;
    try {
      const page = await client.tasks({ first: PAGE, filter: apiFilter(filterRef.current) });
      dispatch({ type: 'page', generation: gen, nodes: page.nodes, cursor: page.pageInfo.endCursor, hasNext: page.pageInfo.hasNextPage, total: page.totalCount, first: true, refresh: true });
    } catch (err) {
      dispatch({ type: 'failed', generation: gen, message: err instanceof Error ? err.message : String(err) });
    }
  };

  // A new filter starts from the top.
  useEffect(restart, [status, provider, search]);

  // Live changes: the server filters by provider and search; the status is
  // judged here, so a task that leaves the chosen status leaves the list.
  useEffect(() => {
    const stop = client.watchTasks(apiFilter({ provider, search }), {
      next: (task) => {
        dispatch({ type: 'upsert', task, filter: filterRef.current });
        if (FINAL.has(task.status)) onFinished();
      },
      // Registered (again): what changed before it is in a read made now.
      ready: () => {
        setLiveError('');
        void refresh().then(onLive);
      },
      // A refused subscription (a socket that drops is retried by the client, a refused key handled by the app).
      error: (err) => setLiveError(err.message),
    });
    return stop;
  }, [client, provider, search]);

  useEffect(() => {
    if (created) dispatch({ type: 'upsert', task: created, filter: filterRef.current });
  }, [created]);

  // Infinite scroll: the next page loads when the end of the list comes into
  // view. A new observer after every page reports at once whether the end is
  // still in view (a short page), so pages keep coming until it is not.
  useEffect(() => {
    const el = sentinel.current;
    if (!el) return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && loadMore(true), { rootMargin: '200px' });
    io.observe(el);
    return () => io.disconnect();
  }, [s.generation, s.cursor, s.loading]);

  const text = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);

  return html`
    <section class="card tasks" aria-labelledby="tasks-title">
      <div class="tasks-head">
        <h2 id="tasks-title">Tasks ${s.total != null ? html`<span class="muted">(${s.total})</span>` : null}</h2>
        <div class="filters" role="search">
          <select aria-label="Filter by status" value=${status} onChange=${text((v) => setStatus(v as TaskStatus | ''))}>
            <option value="">All statuses</option>
            ${STATUSES.map((st) => html`<option value=${st}>${st.toLowerCase()}</option>`)}
          </select>
          <select aria-label="Filter by provider" value=${provider} onChange=${text(setProvider)}>
            <option value="">All providers</option>
            ${providers.map((p) => html`<option value=${p.id}>${p.id}</option>`)}
          </select>
          <input type="search" aria-label="Search" placeholder="Search prompts" value=${searchInput} onInput=${text(setSearchInput)} />
        </div>
      </div>
      <ul class="task-list" aria-label="Tasks" aria-busy=${s.loading ? 'true' : 'false'}>
        ${s.tasks.map(
          (t) => html`<${TaskItem}
            key=${t.id}
            task=${t}
            client=${client}
            now=${now}
            onChange=${(task: Task) => dispatch({ type: 'upsert', task, filter: filterRef.current })}
            onRemove=${(id: string) => dispatch({ type: 'remove', id })}
            onCreated=${onCreated}
          />`,
        )}
      </ul>
      ${!s.loading && !s.error && s.tasks.length === 0 && !s.hasNext ? html`<p class="muted empty">No tasks${status || provider || search ? ' match these filters' : ' yet: create one'}.</p>` : null}
      ${liveError ? html`<p class="error" role="alert">Live updates stopped: ${liveError}</p>` : null}
      ${s.error ? html`<p class="error" role="alert">Could not load tasks: ${s.error} <button type="button" onClick=${restart}>Try again</button></p>` : null}
      <div ref=${sentinel} class="sentinel">
        ${s.loading ? html`<span class="muted">Loading…</span>` : s.hasNext && s.tasks.length ? html`<button type="button" onClick=${() => loadMore()}>Load more</button>` : null}
      </div>
    </section>
  `;
}
