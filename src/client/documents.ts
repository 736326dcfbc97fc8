// The operations the client sends. Their result types are the client's public
// types (see types.ts), so a field added here is typed everywhere at once.
import { graphql } from './graphql.js';

/** What the client reads of a task, everywhere it returns one. */
export const TaskFields = graphql(`
  fragment TaskFields on VideoTask @_unmask {
    id
    status
    progress
    queuePosition
    estimatedSecondsRemaining
    estimatedCompletionAt
    prompt
    negativePrompt
    provider
    model
    mediaType
    params
    attempts
    upstreamStatus
    providerTaskId
    inputImage { url contentType }
    result { url thumbnailUrl contentType sizeBytes durationSeconds width height fileExpired }
    error { code message }
    retryOf { id }
    createdAt
    updatedAt
    startedAt
    completedAt
  }
`);

/** The fields of every error type (they all implement `Error`). */
const ErrorFields = graphql(`
  fragment ErrorFields on Error @_unmask {
    __typename
    code
    message
    ... on ValidationError { field }
    ... on UnsupportedError { field }
    ... on RateLimitedError { retryAfterSeconds }
  }
`);

export const CreateVideoTask = graphql(
  `
  mutation CreateVideoTask($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { ...TaskFields } }
      ...ErrorFields
    }
  }
`,
  [TaskFields, ErrorFields],
);

export const CancelTask = graphql(
  `
  mutation CancelTask($id: ID!) {
    cancelTask(id: $id) {
      __typename
      ... on CancelTaskSuccess { task { ...TaskFields } }
      ...ErrorFields
    }
  }
`,
  [TaskFields, ErrorFields],
);

export const RetryTask = graphql(
  `
  mutation RetryTask($id: ID!) {
    retryTask(id: $id) {
      __typename
      ... on RetryTaskSuccess { task { ...TaskFields } }
      ...ErrorFields
    }
  }
`,
  [TaskFields, ErrorFields],
);

export const DeleteTask = graphql(
  `
  mutation DeleteTask($id: ID!) {
    deleteTask(id: $id) {
      __typename
      ... on DeleteTaskSuccess { id }
      ...ErrorFields
    }
  }
`,
  [ErrorFields],
);

export const Task = graphql(
  `
  query Task($id: ID!) {
    task(id: $id) { ...TaskFields }
  }
`,
  [TaskFields],
);

export const Tasks = graphql(
  `
  query Tasks($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter, $orderBy: TaskOrder, $owner: String) {
    tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy, owner: $owner) {
      totalCount
      nodes { ...TaskFields }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`,
  [TaskFields],
);

export const Providers = graphql(`
  query Providers {
    providers {
      id
      kind
      isDefault
      healthy
      maxConcurrency
      models
      capabilities {
        textToVideo imageToVideo imageUrlOnly cancel progress negativePrompt seed customSize aspectRatios
        durations { min max }
      }
    }
  }
`);

export const Stats = graphql(`
  query Stats($filter: TaskFilter, $owner: String) {
    stats(filter: $filter, owner: $owner) {
      total queued processing completed failed cancelled successRate avgDurationSeconds
      byProvider { provider total completed failed }
    }
  }
`);

export const TaskUpdated = graphql(
  `
  subscription TaskUpdated($id: ID!) {
    taskUpdated(id: $id) { ...TaskFields }
  }
`,
  [TaskFields],
);

/** With `ready: true` the first event is null, once the server delivers every later change. */
export const TasksUpdated = graphql(
  `
  subscription TasksUpdated($filter: TaskFilter, $ready: Boolean) {
    tasksUpdated(filter: $filter, ready: $ready) { ...TaskFields }
  }
`,
  [TaskFields],
);
