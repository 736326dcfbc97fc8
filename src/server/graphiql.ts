// What GraphiQL opens with: a working mutation, query and subscription.
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
