// GraphiQL: served whole by reelay (scripts, styles and workers inline, from
// @graphql-yoga/render-graphiql), so it works with no internet access; and
// what it opens with: a working mutation, query and subscription.
import type { GraphiQLOptions } from 'graphql-yoga';

const pages = new Map<string, Promise<string>>();

/** The GraphiQL page, built on first use (the bundle is 9 MB: not loaded by servers nobody browses) and kept. */
export function renderGraphiQLOffline(options: GraphiQLOptions): Promise<string> {
  const key = JSON.stringify(options);
  let page = pages.get(key);
  if (!page) {
    page = import('@graphql-yoga/render-graphiql').then((m) => m.renderGraphiQL(options));
    page.catch(() => pages.delete(key));
    pages.set(key, page);
  }
  return page;
}

export const GRAPHIQL_TABS = [
  {
    query: `# Create a video with the built-in renderer (or any provider id from \`providers\`).
# Copy the returned task id into the subscription tab to watch it live.
mutation Create {
  createVideoTask(input: { prompt: "A lighthouse at dusk, waves rolling in", durationSeconds: 4, aspectRatio: "16:9" }) {
    __typename
    ... on CreateVideoTaskSuccess { task { id status queuePosition provider } }
    ... on Error { code message }
    ... on ValidationError { field }
  }
}`,
  },
  {
    query: `# Your latest tasks, newest first, with their result files.
query Recent {
  tasks(first: 10) {
    totalCount
    edges { cursor node { id status progress prompt result { url contentType sizeBytes durationSeconds } error { code message } createdAt } }
    pageInfo { hasNextPage endCursor }
  }
  stats { total completed failed successRate avgDurationSeconds }
  providers { id kind healthy capabilities { textToVideo imageToVideo cancel progress } }
}`,
  },
  {
    query: `# Paste a task id: the current state comes first, then every change until it finishes.
subscription Watch($id: ID!) {
  taskUpdated(id: $id) { id status progress queuePosition result { url } error { code message } }
}`,
    variables: '{ "id": "paste-a-task-id-here" }',
  },
];
