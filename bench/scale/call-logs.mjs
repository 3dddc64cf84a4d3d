/**
 * API platform call logs at 1k vs 1M calls (issue 14): the batched writer's rate (calls written
 * per second through CallLogsService: multi-row INSERT + per-minute and per-hour upserts per batch
 * of 500), every filter of GET /api/admin/v1/platform/logs, and GET /platform/stats over a day and
 * a week, timed through the service on a small and a large store in turns.
 *
 * The calls are spread over 7 days (the large store: ~100 a minute) across 5 collections,
 * 20 profiles and 40 endpoints in 50 (collection, profile, endpoint) combinations, with 1 in 20
 * a 5xx and 1 in 10 a 4xx. The logs query has the audit log's target (≤ 20 ms a page).
 */
import path from 'node:path';

export const id = 'call-logs';
export const title = 'API platform call logs at 1k vs 1M calls';

const SPAN_MS = 7 * 86_400_000;
const END = Date.parse('2026-03-08T00:00:00.000Z');
const START = END - SPAN_MS;
/** Calls recorded between two flushes (below the writer's 20,000-call bound). */
const CHUNK = 10_000;

function entry(i, count) {
  const combo = i % 50;
  const status = i % 20 === 0 ? 503 : i % 10 === 1 ? 404 : 200;
  return {
    time: new Date(START + Math.floor((i * SPAN_MS) / count)).toISOString(),
    profileId: (combo % 20) + 1,
    collectionId: (combo % 5) + 1,
    endpointId: (combo % 40) + 1,
    method: 'GET',
    path: `/shop/items/${i % 1000}`,
    status,
    upstreamLatencyMs: 1 + (i % 97) * 3,
    durationMs: 2 + (i % 97) * 3,
    bytesIn: 0,
    bytesOut: 512 + (i % 100),
    clientId: null,
    requestId: `bench-${i}`,
    ip: '203.0.113.9',
  };
}

/** Writes `count` calls through the writer; returns calls per second. */
async function seed(service, count) {
  const started = performance.now();
  for (let at = 0; at < count; at += CHUNK) {
    for (let i = at; i < Math.min(count, at + CHUNK); i += 1) service.record(entry(i, count));
    await service.flush();
  }
  return count / ((performance.now() - started) / 1000);
}

const iso = (ms) => new Date(ms).toISOString();

const CASES = [
  ['logs: newest page, no filter', (s) => s.query({})],
  [
    'logs: from + to (one hour, mid-week)',
    (s) => s.query({ from: iso(START + 3.5 * 86_400_000), to: iso(START + 3.5 * 86_400_000 + 3_600_000) }),
  ],
  ['logs: profile=3', (s) => s.query({ profile: '3' })],
  ['logs: collection=2', (s) => s.query({ collection: '2' })],
  ['logs: endpoint=5', (s) => s.query({ endpoint: '5' })],
  ['logs: status=404', (s) => s.query({ status: '404' })],
  ['logs: status=5xx', (s) => s.query({ status: '5xx' })],
  [
    'logs: profile=3 + status=5xx + one day',
    (s) => s.query({ profile: '3', status: '5xx', from: iso(END - 86_400_000) }),
  ],
  ['stats: last day by endpoint', (s) => s.stats({ from: iso(END - 86_400_000), to: iso(END) })],
  ['stats: last week by profile', (s) => s.stats({ from: iso(START), to: iso(END), by: 'profile' })],
];

export async function run(options) {
  const { CallLogsService } = await import(path.join(options.root, 'dist/services/call-logs.js'));
  const { OPERATOR } = await import(path.join(options.root, 'dist/services/principal.js'));
  const largeCount = options.quick ? 100_000 : 1_000_000;
  const silent = { warn() {}, info() {}, error() {}, debug() {} };
  const serviceOf = (store) =>
    new CallLogsService({ store, clock: { now: () => new Date(END) }, log: silent });
  const small = serviceOf(await options.openStore('call_logs_small'));
  const largeStore = await options.openStore('call_logs_large');
  const large = serviceOf(largeStore);
  const smallRate = await seed(small, 1000);
  const largeRate = await seed(large, largeCount);
  const rowsOf = async (table) =>
    Number(
      (
        await largeStore.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const minuteRows = await rowsOf('platform_call_minutes');
  const hourRows = await rowsOf('platform_call_hours');
  options.log(
    `wrote 1,000 and ${largeCount.toLocaleString('en-US')} calls through the writer (${Math.round(largeRate).toLocaleString('en-US')} calls/s); ${minuteRows.toLocaleString('en-US')} per-minute and ${hourRows.toLocaleString('en-US')} per-hour counter rows`,
  );
  const services = { small, large };
  const cases = [];
  for (const [label, fn] of CASES) {
    for (const size of ['small', 'large'])
      cases.push({
        key: `${label}|${size}`,
        fn: () =>
          fn({
            query: (q) => services[size].query({ ...q, limit: 50 }, OPERATOR),
            stats: (q) => services[size].stats(q, OPERATOR),
          }),
      });
  }
  const timings = await options.timeTurns(cases, {
    rounds: options.quick ? 2 : options.rounds,
    iterations: options.quick ? 3 : 10,
  });
  const rows = [
    {
      measure: 'writer: calls written per second (batches of 500: INSERT + per-minute and per-hour upserts)',
      small: smallRate,
      large: largeRate,
      unit: 'calls/s',
      smallLabel: '1k calls',
      largeLabel: `${largeCount / 1000}k calls`,
      note: `${minuteRows.toLocaleString('en-US')} per-minute and ${hourRows.toLocaleString('en-US')} per-hour rows at the large size`,
    },
  ];
  for (const [label] of CASES) {
    const s = timings.get(`${label}|small`);
    const l = timings.get(`${label}|large`);
    const isLogs = label.startsWith('logs');
    rows.push({
      measure: isLogs
        ? `GET /platform/${label.replace('logs: ', 'logs ')}`
        : `GET /platform/${label.replace('stats: ', 'stats ')}`,
      small: s.median,
      large: l.median,
      unit: 'ms',
      smallLabel: '1k calls',
      largeLabel: `${largeCount / 1000}k calls`,
      ...(isLogs ? { target: '≤ 20 ms', met: l.median <= 20 } : {}),
      note: `p95 ${l.p95.toFixed(1)} ms, max ${l.max.toFixed(1)} ms at the large size`,
    });
  }
  return rows;
}
