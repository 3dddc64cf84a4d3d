/**
 * Schemas of the API platform's call logs and counters (src/admin/platform-logs.ts). Request
 * schemas fix the shape; the service (src/services/call-logs.ts) checks the values, with the
 * messages the CLI gets too.
 */
import { Type } from '@sinclair/typebox';
import { Cursor, CursorLimit, Literals, Nullable, Obj, Page, Timestamp } from '../schemas.js';
import {
  CALL_LATENCY_BOUNDS_MS,
  STATS_BUCKETS,
  STATS_GROUPINGS,
  STATS_MAX_DAYS,
} from '../services/call-logs.js';

const Named = Obj({
  id: Type.Integer(),
  name: Nullable(Type.String(), { description: 'null once it has been deleted.' }),
});
const TimeBound = (description: string) =>
  Type.Optional(Type.String({ maxLength: 40, description: `ISO-8601 time, ${description}.` }));

export const CallLog = Obj(
  {
    id: Type.Integer(),
    time: Timestamp,
    profile: Nullable(Named, {
      description: 'The access profile; null when the credential was missing or wrong (401).',
    }),
    collection: Named,
    endpoint: Nullable(Named, {
      description:
        'The endpoint matched; null when the call was refused before (401, 403) or matched none (404).',
    }),
    method: Type.String(),
    path: Type.String({ description: 'As called, without the query; at most 1,000 characters.' }),
    status: Type.Integer({ description: '499: the caller went away before the answer was complete.' }),
    upstreamLatencyMs: Nullable(Type.Integer(), {
      description:
        "From forwarding to the upstream's response headers (or to its failure: 502, 504); null when not forwarded.",
    }),
    durationMs: Type.Integer({ description: 'From arrival to the end of the answer.' }),
    bytesIn: Type.Integer({ description: 'Request body bytes read from the caller.' }),
    bytesOut: Type.Integer({ description: 'Response body bytes sent to the caller.' }),
    clientId: Nullable(Type.String(), {
      description: 'oauth2 profiles: the client ID; jwt: the token’s client_id, azp or sub.',
    }),
    requestId: Type.String({ description: 'The X-Request-Id the call was answered (and forwarded) with.' }),
    ip: Nullable(Type.String()),
  },
  { title: 'API platform call' },
);

export const CallLogsQuery = Type.Object(
  {
    profile: Type.Optional(Type.String({ maxLength: 1000, description: 'An access profile id or name.' })),
    collection: Type.Optional(
      Type.String({ maxLength: 200, description: 'An API collection id or prefix.' }),
    ),
    endpoint: Type.Optional(Type.String({ maxLength: 20, description: 'An endpoint id.' })),
    status: Type.Optional(
      Type.String({ maxLength: 10, description: 'A status (`404`) or a class (`5xx`).', examples: ['5xx'] }),
    ),
    from: TimeBound('inclusive'),
    to: TimeBound('exclusive'),
    limit: Type.Optional(CursorLimit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const callLogsSchema = {
  summary: 'API platform call logs, newest first',
  description:
    'Needs `gateway.manage`. Every call that named an API collection, refused ones included; written in batches, so a call shows within about a second. Filters combine; each follows an index.',
  querystring: CallLogsQuery,
  response: { 200: Page(CallLog) },
};

const Latency = Obj({
  count: Type.Integer({ description: 'Calls that reached the upstream (had an upstream latency).' }),
  average: Nullable(Type.Number()),
  p50: Nullable(Type.Integer(), {
    description: 'The upper bound (ms) of the histogram bucket the median falls in; null without calls.',
  }),
  p95: Nullable(Type.Integer()),
  p99: Nullable(Type.Integer()),
});
const counterProperties = {
  calls: Type.Integer(),
  errors: Type.Integer({
    description: 'Answers with status 500 or above (the upstream’s 5xx, and 502/504 of Gatehouse).',
  }),
  clientErrors: Type.Integer({
    description: 'Answers 400–499 (401, 403, 404 refused by Gatehouse, the upstream’s 4xx, 499).',
  }),
  bytesIn: Type.Integer(),
  bytesOut: Type.Integer(),
  latencyMs: Latency,
};
const Counters = Obj(counterProperties);

export const CallStatsQuery = Type.Object(
  {
    from: TimeBound('inclusive (default: 24 hours before `to`); whole minutes'),
    to: TimeBound('exclusive (default: now); whole minutes'),
    by: Type.Optional(
      Type.Union(
        STATS_GROUPINGS.map((g) => Type.Literal(g)),
        { description: 'Items per endpoint (default) or per profile.' },
      ),
    ),
    bucket: Type.Optional(
      Type.Integer({
        minimum: STATS_BUCKETS[0],
        maximum: STATS_BUCKETS[STATS_BUCKETS.length - 1],
        description: `Seconds per point of the series: ${STATS_BUCKETS.join(', ')}; default the narrowest that gives at most 300 points.`,
      }),
    ),
  },
  { additionalProperties: false },
);

export const callStatsSchema = {
  summary: 'API platform counters for a dashboard',
  description: `Needs \`gateway.manage\`. Calls, errors, bytes and upstream latency (average, and p50/p95/p99 as histogram bucket bounds) per endpoint or per profile over a range of at most ${STATS_MAX_DAYS} days, and calls per bucket of time. Summed from per-hour and per-minute counters (whole hours from the hours, the edges from the minutes).`,
  querystring: CallStatsQuery,
  response: {
    200: Obj(
      {
        from: Timestamp,
        to: Timestamp,
        by: Literals(STATS_GROUPINGS),
        bucketSeconds: Type.Integer(),
        latencyBucketsMs: Type.Array(Type.Integer(), {
          description: `Upper bounds of the latency histogram's buckets (${CALL_LATENCY_BOUNDS_MS.join(', ')}).`,
        }),
        totals: Counters,
        items: Type.Array(
          Obj({
            collection: Type.Optional(Named),
            endpoint: Type.Optional(
              Nullable(Named, { description: 'null: calls that matched no endpoint.' }),
            ),
            profile: Type.Optional(
              Nullable(Named, { description: 'null: calls without a known profile (401).' }),
            ),
            ...counterProperties,
          }),
          { description: 'Most calls first.' },
        ),
        series: Type.Array(Obj({ start: Timestamp, calls: Type.Integer(), errors: Type.Integer() }), {
          description: 'Every bucket from the one holding `from` to the one holding `to`, empty ones as 0.',
        }),
      },
      { title: 'API platform counters' },
    ),
  },
};
