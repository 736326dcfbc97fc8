// Property: whatever a client sends as CreateVideoTaskInput or as `tasks`
// arguments, the answer is data or a clear error — never INTERNAL_SERVER_ERROR,
// never a 5xx — and the server stays healthy. One server per database kind,
// thousands of hostile inputs, no runner (nothing gets rendered).
import { fc, it } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();
// Inputs per property, sent BATCH at a time (one HTTP request each). PGlite runs
// inside the test process and is several times slower: it gets fewer, within ~30 s in all.
const INPUTS = { postgres: 800, pglite: 500 };
const BATCH = 8;
const batch = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: BATCH, maxLength: BATCH });
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cfc0f01f0005000201e5273ede0000000049454e44ae426082', 'hex');

// ---- hostile building blocks ----

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: fc.oneof(loneSurrogate, fc.constant('\u0000'), fc.constant('%'), fc.constant('_'), fc.constant('\\'), fc.string({ maxLength: 3 })) }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\\u0000', '%00', '%', '_', "'; drop table tasks; --", '\uD800', '😀', '\r\n', 'null', 'undefined', '16:9', '0:0', '999:999'),
  fc.integer({ min: 1, max: 12_000 }).map((n) => 'x'.repeat(n)),
);
const hostileNumber = fc.oneof(
  fc.integer(),
  fc.integer({ min: -1000, max: 5000 }),
  fc.double(), // NaN and ±Infinity turn into null in JSON
  fc.constantFrom(0, -0, 0.5, 1.5, -1, 63, 64, 4096, 4097, 600, 600.0001, 2147483647, 2147483648, -2147483649, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 5e-324),
);
/** Any JSON value, or a value of the wrong type, in place of a field. */
const confused = fc.oneof(fc.constant(null), fc.boolean(), hostileNumber, hostileString, fc.jsonValue({ maxDepth: 2 }));
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: good }, { weight: 2, arbitrary: hostileString }, { weight: 1, arbitrary: confused });
const numberField = (good: fc.Arbitrary<number>) => fc.oneof({ weight: 4, arbitrary: good }, { weight: 2, arbitrary: hostileNumber }, { weight: 1, arbitrary: confused });

const base64 = fc.oneof(
  fc.constant(PNG.toString('base64')),
  fc.constant(`data:image/png;base64,${PNG.toString('base64')}`),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('base64')),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([PNG.subarray(0, 16), Buffer.from(b)]).toString('base64url')),
  fc.base64String({ maxLength: 200 }),
  hostileString,
);
const url = fc.oneof(fc.webUrl(), fc.constantFrom('', 'http://', 'https://127.0.0.1/a.png', 'ftp://x/y.png', 'data:image/png;base64,AAAA', 'javascript:alert(1)', 'http://[::1]:5432/'), hostileString);
const imageInput = fc.oneof(
  fc.record({ url: field(url), base64: field(base64), file: field(fc.constant(null)) }, { requiredKeys: [] }),
  confused,
);

const createInput = fc.record(
  {
    prompt: field(fc.string({ minLength: 1, maxLength: 200 })),
    negativePrompt: field(fc.string({ maxLength: 50 })),
    provider: field(fc.constantFrom('local', 'nope')),
    model: field(fc.string({ maxLength: 20 })),
    image: imageInput,
    durationSeconds: numberField(fc.double({ min: 0.1, max: 20, noNaN: true })),
    width: numberField(fc.integer({ min: 64, max: 1024 })),
    height: numberField(fc.integer({ min: 64, max: 1024 })),
    aspectRatio: field(fc.constantFrom('16:9', '9:16', '1:1', '4:3')),
    seed: numberField(fc.nat()),
    idempotencyKey: field(fc.string({ minLength: 1, maxLength: 20 })),
    unexpected: confused,
  },
  { requiredKeys: [] },
);

const cursor = fc.oneof(
  fc.tuple(fc.oneof(fc.integer({ min: 0, max: 2e12 }), hostileNumber, fc.constant(8.64e15 + 1)), fc.oneof(fc.uuid(), hostileString)).map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
  hostileString,
);
const dateString = fc.oneof(
  fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString().replace('Z', '+00:00')),
  fc.constantFrom('1', '2026-01-01', '2026-01-01T00:00:00', '2026-02-30T00:00:00Z', '0000-01-01T00:00:00Z', '+275760-09-13T00:00:00.000Z', '9999-12-31T23:59:59-23:59', '2026-01-01T25:00:00Z'),
  hostileString,
);
const statusList = fc.array(fc.oneof(fc.constantFrom('QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'), hostileString), { maxLength: 6 });
const taskFilter = fc.oneof(
  fc.record(
    {
      status: field(statusList),
      provider: field(fc.constantFrom('local', 'other')),
      model: field(fc.string({ maxLength: 10 })),
      createdAfter: field(dateString),
      createdBefore: field(dateString),
      search: field(fc.string({ maxLength: 20 })),
    },
    { requiredKeys: [] },
  ),
  confused,
);
const tasksArgs = fc.record(
  {
    first: numberField(fc.integer({ min: 0, max: 100 })),
    last: numberField(fc.integer({ min: 0, max: 100 })),
    after: field(cursor),
    before: field(cursor),
    filter: taskFilter,
    orderBy: field(fc.constantFrom('CREATED_AT_DESC', 'CREATED_AT_ASC')),
  },
  { requiredKeys: [] },
);

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id status prompt negativePrompt params inputImage { url contentType } createdAt } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on UnsupportedError { field }
    }
  }
`;
const LIST = /* GraphQL */ `
  query List($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter, $orderBy: TaskOrder) {
    tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
      totalCount
      edges { cursor node { id prompt createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
    stats(filter: $filter) { total }
  }
`;

describe.each(kinds)('hostile input on %s', (kind) => {
  let t: TestApp;
  const post = async (query: string, variables: unknown) => {
    const res = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, text: await res.text() };
  };
  /** A clear answer: not a 5xx, not INTERNAL_SERVER_ERROR, JSON with data or errors. */
  const expectClear = ({ status, text }: { status: number; text: string }, sent: unknown) => {
    const context = `${status} ${text.slice(0, 500)}\nfor ${JSON.stringify(sent).slice(0, 500)}`;
    expect(status, context).toBeLessThan(500);
    expect(text, context).not.toContain('INTERNAL_SERVER_ERROR');
    const body = JSON.parse(text) as { data?: unknown; errors?: unknown[] };
    expect(body.data !== undefined || (body.errors?.length ?? 0) > 0, context).toBe(true);
  };

  beforeAll(async () => {
    t = await startTestApp({ db: kind, env: { REELAY_MAX_IMAGE_BYTES: '4096' }, configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const runs = Math.ceil((Number(process.env.REELAY_PROPERTY_INPUTS) || INPUTS[kind]) / BATCH);
  const sendAll = (query: string, all: unknown[], wrap: (v: unknown) => unknown) =>
    Promise.all(all.map(async (v) => expectClear(await post(query, wrap(v)), v)));

  it.prop([batch(createInput)], { numRuns: runs })('createVideoTask: any CreateVideoTaskInput gets data or a clear error', async (inputs) => {
    await sendAll(CREATE, inputs, (input) => ({ input }));
  });

  it.prop([batch(tasksArgs)], { numRuns: runs })('tasks: any arguments get data or a clear error', async (args) => {
    await sendAll(LIST, args, (a) => a);
  });

  const anyVariables = fc.dictionary(fc.constantFrom('input', 'first', 'after', 'filter', 'orderBy'), confused);
  it.prop([batch(anyVariables)], { numRuns: Math.ceil(runs / 5) })('variables of any type get a clear error', async (all) => {
    await sendAll(CREATE, all, (v) => v);
    await sendAll(LIST, all, (v) => v);
  });

  it('stays healthy afterwards', async () => {
    const health = await fetch(`${t.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    const ok = await t.gql(CREATE, { input: { prompt: 'still works' } });
    expect(ok.data.createVideoTask.__typename).toBe('CreateVideoTaskSuccess');
  });
});
