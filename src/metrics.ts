/**
 * Prometheus metrics (prom-client): every metric Gatehouse exports, in one registry per process.
 *
 * A low-level module like `errors.ts`: the store, the services, the OAuth endpoints and the app
 * import it to count; it imports nothing of Gatehouse. The metrics listener that serves the text
 * (a port of its own, loopback by default) is `metrics-server.ts`.
 *
 * In a cluster every worker counts into its own registry and the primary, which serves the scrape,
 * asks them all and adds the answers up (prom-client's AggregatorRegistry): counters and histograms
 * are summed; gauges say how (`aggregator`), e.g. the signing key's age is the largest any worker
 * reports, the pool's connections the sum of the workers' pools.
 *
 * Hot paths (the token endpoint, the bearer guard) only increment children looked up ahead of time
 * or through a Map: no label object is built per request. Label values are bounded: route patterns
 * (never raw URLs), fixed cause and limit names, never a client or user id.
 */
import v8 from 'node:v8';
import { AggregatorRegistry, Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

/** Every metric name starts with this (the process metrics too). */
export const METRIC_PREFIX = 'gatehouse_';

/** Request and query latencies: 1 ms to 10 s. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * One label set of a counter: a plain number incremented in place (no label object, no hash per
 * increment), copied into prom-client's counter when it is collected (on a scrape).
 */
export class CounterSlot {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(): void {
    this.value += 1;
  }
}

/** A prom-client counter whose label sets are `CounterSlot`s. */
export class SlotCounter<L extends string> {
  readonly metric: Counter<L>;
  private readonly slots = new Map<string, CounterSlot>();

  constructor(config: {
    name: string;
    help: string;
    labelNames: readonly L[];
    preset?: ReadonlyArray<Record<L, string>>;
  }) {
    const slots = this.slots;
    this.metric = new Counter<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const slot of slots.values()) this.inc(slot.labels as Partial<Record<L, string>>, slot.value);
      },
    });
    for (const labels of config.preset ?? []) this.slot(labels);
  }

  /** One slot per value of a single label, made now (so each is exported as 0 before its first event). */
  slotsOf<V extends string>(label: L, values: readonly V[]): Record<V, CounterSlot> {
    return Object.fromEntries(
      values.map((value) => [value, this.slot({ [label]: value } as unknown as Record<L, string>)]),
    ) as Record<V, CounterSlot>;
  }

  /** The slot of a label set (made at the first call; keep it, then `inc()` costs nothing more). */
  slot(labels: Record<L, string>): CounterSlot {
    const key = Object.keys(labels)
      .sort()
      .map((name) => `${name}=${labels[name as L]}`)
      .join('\u0000');
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = new CounterSlot(Object.freeze({ ...labels }));
      this.slots.set(key, slot);
    }
    return slot;
  }
}

/** One label set of a histogram: its bucket counts, sum and count, updated in place. */
export class HistogramSlot {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i += 1;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

/**
 * A histogram for the hot paths. prom-client's `observe` builds a label object and a hash string
 * per call (about 2 µs each on the loaded benchmark machine, and a token request makes several);
 * a slot is a few array writes. It is registered as a collector of its own, with the `get()`
 * shape prom-client's registry and its cluster aggregation read from every metric, so it is
 * exported, summed over the workers and formatted exactly like a prom-client histogram.
 */
export class SlotHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly slots = new Map<string, HistogramSlot>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The slot of a label set (made at the first call; keep it, then `observe()` is cheap). */
  slot(labels: Record<L, string>): HistogramSlot {
    const key = Object.keys(labels)
      .sort()
      .map((name) => `${name}=${labels[name as L]}`)
      .join('\u0000');
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = new HistogramSlot(Object.freeze({ ...labels }), this.bounds);
      this.slots.set(key, slot);
    }
    return slot;
  }

  async get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const slot of this.slots.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += slot.counts[i]!;
        values.push({
          labels: { le: bound, ...slot.labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push({
        labels: { le: '+Inf', ...slot.labels },
        value: slot.count,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { ...slot.labels }, value: slot.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...slot.labels }, value: slot.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.slots.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

export const httpRequests = new SlotCounter({
  name: 'gatehouse_http_requests_total',
  help: 'HTTP requests answered, by route pattern, method and status code',
  labelNames: ['route', 'method', 'status'],
});

export const httpDuration = new SlotHistogram<'route' | 'method'>(
  'gatehouse_http_request_duration_seconds',
  'Time from receiving a request to the end of its answer, by route pattern and method',
  LATENCY_BUCKETS,
);

/** The route label of a request no route matched (404): its URL is never a label value. */
export const UNMATCHED_ROUTE = 'unmatched';

interface MethodMetrics {
  duration: HistogramSlot;
  byStatus: Map<number, CounterSlot>;
}

/**
 * The HTTP metrics of one route pattern. Once a (method, status) pair has been seen, `record`
 * costs two Map lookups, an increment and one histogram observation.
 */
export class RouteMetrics {
  private readonly byMethod = new Map<string, MethodMetrics>();

  constructor(readonly route: string) {}

  record(method: string, status: number, milliseconds: number): void {
    let forMethod = this.byMethod.get(method);
    if (forMethod === undefined) {
      forMethod = {
        duration: httpDuration.slot({ route: this.route, method }),
        byStatus: new Map(),
      };
      this.byMethod.set(method, forMethod);
    }
    let requests = forMethod.byStatus.get(status);
    if (requests === undefined) {
      requests = httpRequests.slot({ route: this.route, method, status: String(status) });
      forMethod.byStatus.set(status, requests);
    }
    requests.inc();
    forMethod.duration.observe(milliseconds / 1000);
  }
}

const routeMetrics = new Map<string, RouteMetrics>();

/** The metrics of a route pattern (fastify's `url` of the route, e.g. `/api/admin/v1/clients/:id`). */
export function metricsOfRoute(route: string): RouteMetrics {
  let metrics = routeMetrics.get(route);
  if (metrics === undefined) {
    metrics = new RouteMetrics(route);
    routeMetrics.set(route, metrics);
  }
  return metrics;
}

// ---------------------------------------------------------------------------------------------
// OAuth

export const tokensIssued = new SlotCounter({
  name: 'gatehouse_tokens_issued_total',
  help: 'Access tokens issued, by signing algorithm and response shape (domo: /oauth/token, oauth2: /oauth2/token, the Workato-style body)',
  labelNames: ['alg', 'shape'],
});

/** Counts the tokens one endpoint issues in its response shape; `inc(alg)` is one Map lookup. */
export function tokensIssuedWithShape(shape: string): { inc(alg: string): void } {
  const byAlg = new Map<string, CounterSlot>();
  return {
    inc(alg) {
      let slot = byAlg.get(alg);
      if (slot === undefined) {
        slot = tokensIssued.slot({ alg, shape });
        byAlg.set(alg, slot);
      }
      slot.inc();
    },
  };
}

/**
 * Why a client authentication failed (token, introspection and revocation endpoints). The client
 * gets the same `invalid_client` for every one of them; only the operator learns the cause.
 */
export const CLIENT_AUTH_FAILURE_CAUSES = [
  /** No credentials, an unreadable Basic header, an empty client_id. */
  'malformed',
  /** No client with that ID. */
  'unknown_client',
  /** The secret matches no live secret of the client (wrong, or expired). */
  'wrong_secret',
  /** The client is disabled or revoked. */
  'client_inactive',
  /** The client's owner is disabled or gone. */
  'owner_inactive',
  /** Refused by the failed-attempt throttle (429 slow_down), whether the secret was right or not. */
  'throttled',
] as const;
export type ClientAuthFailureCause = (typeof CLIENT_AUTH_FAILURE_CAUSES)[number];

export const clientAuthFailures = new SlotCounter({
  name: 'gatehouse_client_auth_failures_total',
  help: 'Failed client authentications, by cause (the client always gets invalid_client, or slow_down when throttled)',
  labelNames: ['cause'],
});
const clientAuthFailureSlots = clientAuthFailures.slotsOf('cause', CLIENT_AUTH_FAILURE_CAUSES);

export function countClientAuthFailure(cause: ClientAuthFailureCause): void {
  clientAuthFailureSlots[cause].inc();
}

// ---------------------------------------------------------------------------------------------
// Throttle

/** The failed-attempt limits, named after their variables (GATEHOUSE_THROTTLE_<NAME>). */
export const THROTTLE_LIMIT_NAMES = [
  'signin',
  'signin_account',
  'signin_address',
  'client',
  'client_id',
  'client_address',
] as const;
export type ThrottleLimitName = (typeof THROTTLE_LIMIT_NAMES)[number];

export const throttleHits = new SlotCounter({
  name: 'gatehouse_throttle_hits_total',
  help: 'Attempts refused by a failed-attempt limit (429), by the limit that refused them',
  labelNames: ['limit'],
});
const throttleHitSlots = throttleHits.slotsOf('limit', THROTTLE_LIMIT_NAMES);

export function countThrottleHit(limit: ThrottleLimitName): void {
  throttleHitSlots[limit].inc();
}

// ---------------------------------------------------------------------------------------------
// Caches

/** The per-process caches that report hits and misses. */
export type CacheName = 'client' | 'live_user' | 'verified_token' | 'developer_token' | 'signing_keys';

export const cacheRequests = new SlotCounter({
  name: 'gatehouse_cache_requests_total',
  help: 'Per-process cache lookups, by cache and result (hit, miss); hit ratio = hit / (hit + miss)',
  labelNames: ['cache', 'result'],
});

export interface CacheCounters {
  readonly hit: CounterSlot;
  readonly miss: CounterSlot;
}

export function cacheCounters(cache: CacheName): CacheCounters {
  return {
    hit: cacheRequests.slot({ cache, result: 'hit' }),
    miss: cacheRequests.slot({ cache, result: 'miss' }),
  };
}

/**
 * How a process learnt that cached data changed: `local` (this process committed it), `relay`
 * (another cluster worker of this node, through the primary), `notify` (another node, through
 * PostgreSQL NOTIFY), `poll` (the periodic read of the cache epochs saw a version move: every
 * change ends up counted there too, after the faster paths, since the poll is the safety net).
 */
export const INVALIDATION_SOURCES = ['local', 'relay', 'notify', 'poll'] as const;
export type InvalidationSource = (typeof INVALIDATION_SOURCES)[number];

export const cacheInvalidations = new SlotCounter({
  name: 'gatehouse_cache_invalidations_total',
  help: 'Cache-epoch changes this process dropped caches for, by path (local, relay, notify; poll: every change the periodic read saw, also those a faster path delivered)',
  labelNames: ['via'],
});
const invalidationSlots = cacheInvalidations.slotsOf('via', INVALIDATION_SOURCES);

export const invalidationLag = new Histogram({
  name: 'gatehouse_cache_invalidation_lag_seconds',
  help: 'Time from a change in one process (relay: its commit; notify: its bump) to another process dropping its caches, by path',
  labelNames: ['via'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

/** Counts an invalidation; with `bumpedAt` (epoch ms, on the bumping process's clock) also its lag. */
export function countInvalidation(via: InvalidationSource, bumpedAt?: number): void {
  invalidationSlots[via].inc();
  if (bumpedAt !== undefined && Number.isFinite(bumpedAt)) {
    invalidationLag.observe({ via }, Math.max(0, Date.now() - bumpedAt) / 1000);
  }
}

// ---------------------------------------------------------------------------------------------
// Workflows

export const workflowRunsFinished = new SlotCounter({
  name: 'gatehouse_workflow_runs_finished_total',
  help: 'Workflow runs that ended, by final status (COMPLETED, FAILED, CANCELED)',
  labelNames: ['status'],
  preset: [{ status: 'COMPLETED' }, { status: 'FAILED' }, { status: 'CANCELED' }],
});

export function countWorkflowRunFinished(status: 'COMPLETED' | 'FAILED' | 'CANCELED'): void {
  workflowRunsFinished.slot({ status }).inc();
}

export const workflowStepDuration = new Histogram({
  name: 'gatehouse_workflow_step_duration_seconds',
  help: 'Time one workflow step took, by step type and outcome (ok, error, canceled)',
  labelNames: ['type', 'outcome'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

// ---------------------------------------------------------------------------------------------
// API platform

export const CALL_LOG_DROP_REASONS = ['buffer_full', 'write_failed'] as const;
export type CallLogDropReason = (typeof CALL_LOG_DROP_REASONS)[number];

export const callLogsDropped = new SlotCounter({
  name: 'gatehouse_gateway_call_logs_dropped_total',
  help: 'API platform calls that were not logged: buffer_full (the database did not keep up with the batched writer), write_failed (a batch the database refused)',
  labelNames: ['reason'],
});
const callLogDropSlots = callLogsDropped.slotsOf('reason', CALL_LOG_DROP_REASONS);

export function countCallLogsDropped(reason: CallLogDropReason, count: number): void {
  callLogDropSlots[reason].value += count;
}

/** The limits of an API platform policy (src/services/platform/limits.ts). */
export const POLICY_LIMITS = ['rate', 'quota', 'concurrency'] as const;
export type PolicyLimitName = (typeof POLICY_LIMITS)[number];

export const policyRefusals = new SlotCounter({
  name: 'gatehouse_gateway_policy_refusals_total',
  help: "API platform calls refused by their access profile's policy (429), by the limit that refused them",
  labelNames: ['limit'],
});
const policyRefusalSlots = policyRefusals.slotsOf('limit', POLICY_LIMITS);

export function countPolicyRefusal(limit: PolicyLimitName): void {
  policyRefusalSlots[limit].inc();
}

// ---------------------------------------------------------------------------------------------
// Database

/** Kysely's root node kinds, as operation label values. */
const OPERATIONS: Readonly<Record<string, string>> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
  MergeQueryNode: 'merge',
  RawNode: 'raw',
};

export const dbQueryDuration = new SlotHistogram<'operation'>(
  'gatehouse_db_query_duration_seconds',
  'Database statement time as Kysely measures it, by operation (select, insert, update, delete, merge; raw: transactions, DDL and hand-written SQL)',
  [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
);

export const dbQueryErrors = new SlotCounter({
  name: 'gatehouse_db_query_errors_total',
  help: 'Database statements that failed, by operation',
  labelNames: ['operation'],
});

const queryMetrics = new Map<string, { duration: HistogramSlot; errors: CounterSlot }>();
for (const operation of [...Object.values(OPERATIONS), 'other']) {
  queryMetrics.set(operation, {
    duration: dbQueryDuration.slot({ operation }),
    errors: dbQueryErrors.slot({ operation }),
  });
}

/**
 * SQLite only: how long a write waited for the database's write lock, held by another process (a
 * cluster worker, the CLI), when it did not get it at once (src/store/sqlite-lock.ts), by outcome:
 * `acquired`, or `gave_up` (SQLITE_LOCK_WAIT_MS passed: the caller got a 503). Rising waits say
 * the file is saturated with writes: the point to move to PostgreSQL.
 */
export const sqliteLockWait = new SlotHistogram<'outcome'>(
  'gatehouse_sqlite_lock_wait_seconds',
  'SQLite writes that found the write lock taken: time until they got it or gave up, by outcome (acquired, gave_up)',
  [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
);
const lockWaitSlots = {
  acquired: sqliteLockWait.slot({ outcome: 'acquired' }),
  gave_up: sqliteLockWait.slot({ outcome: 'gave_up' }),
};

/** One wait for SQLite's write lock that ended after `ms`. */
export function observeSqliteLockWait(outcome: 'acquired' | 'gave_up', ms: number): void {
  lockWaitSlots[outcome].observe(ms / 1000);
}

/** What Kysely's `log` option hands over (its LogEvent, reduced to what is read here). */
export interface QueryEvent {
  readonly level: 'query' | 'error';
  readonly query: { readonly query: { readonly kind: string } };
  readonly queryDurationMillis: number;
}

/** Kysely's `log` option: one histogram observation per statement, one count per failure. */
export function observeQuery(event: QueryEvent): void {
  const metrics = queryMetrics.get(OPERATIONS[event.query.query.kind] ?? 'other');
  if (metrics === undefined) return;
  if (event.level === 'error') metrics.errors.inc();
  metrics.duration.observe(event.queryDurationMillis / 1000);
}

// ---------------------------------------------------------------------------------------------
// Collected on scrape, from sources the serving process registers

export interface PoolStats {
  /** Connections open (idle and in use). */
  readonly total: number;
  readonly idle: number;
  /** Queries waiting for a connection. */
  readonly waiting: number;
  readonly max: number;
}

export interface ScrapeSources {
  /** When the active signing key was made (undefined: none yet). */
  signingKeyCreatedAt?(): Promise<string | undefined>;
  /** Workflow runs waiting to run (QUEUED) and running or due (IN_PROGRESS), node-wide. */
  workflowQueue?(): Promise<{ queued: number; inProgress: number }>;
  /** The PostgreSQL pool of this process (undefined with SQLite). */
  dbPool?(): PoolStats | undefined;
}

let sources: ScrapeSources = {};

/** Set by the serving process once its services exist; replaced by the next call. */
export function setScrapeSources(next: ScrapeSources): void {
  sources = next;
}

new Gauge({
  name: 'gatehouse_signing_key_age_seconds',
  help: 'Age of the active signing key (compare with GATEHOUSE_KEY_ROTATION_DAYS)',
  registers: [registry],
  aggregator: 'max',
  async collect() {
    const createdAt = await sources.signingKeyCreatedAt?.().catch(() => undefined);
    if (createdAt === undefined) return;
    this.set(Math.max(0, (Date.now() - Date.parse(createdAt)) / 1000));
  },
});

new Gauge({
  name: 'gatehouse_workflow_queue_depth',
  help: 'Workflow runs of the whole instance waiting to run (status queued) or running (status in_progress)',
  labelNames: ['status'] as const,
  registers: [registry],
  // Every worker reads the same database: the count is not per process.
  aggregator: 'max',
  async collect() {
    const queue = await sources.workflowQueue?.().catch(() => undefined);
    if (queue === undefined) return;
    this.set({ status: 'queued' }, queue.queued);
    this.set({ status: 'in_progress' }, queue.inProgress);
  },
});

new Gauge({
  name: 'gatehouse_heap_limit_bytes',
  help: "A serving process's V8 heap limit (old space + young generation; GATEHOUSE_WORKER_HEAP_MB), the largest of the node's workers",
  registers: [registry],
  aggregator: 'max',
  collect() {
    this.set(v8.getHeapStatistics().heap_size_limit);
  },
});

new Gauge({
  name: 'gatehouse_heap_used_ratio',
  help: "Share of its V8 heap limit a serving process uses (live data and garbage not yet collected), the largest of the node's workers; a worker that reaches 1 is stopped and replaced",
  registers: [registry],
  aggregator: 'max',
  collect() {
    const heap = v8.getHeapStatistics();
    this.set(heap.used_heap_size / heap.heap_size_limit);
  },
});

new Gauge({
  name: 'gatehouse_db_pool_connections',
  help: 'PostgreSQL pool connections of the node, by state (idle, busy); absent with SQLite',
  labelNames: ['state'] as const,
  registers: [registry],
  aggregator: 'sum',
  collect() {
    const pool = sources.dbPool?.();
    if (pool === undefined) return;
    this.set({ state: 'idle' }, pool.idle);
    this.set({ state: 'busy' }, pool.total - pool.idle);
  },
});

new Gauge({
  name: 'gatehouse_db_pool_waiting',
  help: 'Queries waiting for a PostgreSQL pool connection; 0 with SQLite',
  registers: [registry],
  aggregator: 'sum',
  collect() {
    const pool = sources.dbPool?.();
    if (pool !== undefined) this.set(pool.waiting);
  },
});

new Gauge({
  name: 'gatehouse_db_pool_max',
  help: 'Largest number of PostgreSQL connections the node may open (the sum of the processes’ pool sizes); 0 with SQLite',
  registers: [registry],
  aggregator: 'sum',
  collect() {
    const pool = sources.dbPool?.();
    if (pool !== undefined) this.set(pool.max);
  },
});

// ---------------------------------------------------------------------------------------------
// Process, and the cluster

let processMetrics = false;

/** CPU, memory, handles, GC and event-loop delay (prom-client's defaults); once per serving process. */
export function collectProcessMetrics(): void {
  if (processMetrics) return;
  processMetrics = true;
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 10 });
}

/** In a cluster worker: answer the primary's requests for this process's metrics. */
export function reportMetricsToPrimary(): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one adds the worker's message listener (once, however many are made).
  new AggregatorRegistry();
}

export interface MetricsSource {
  readonly contentType: string;
  /** The exposition text. */
  metrics(): Promise<string>;
}

/** This process's registry (a single-process server). */
export function processMetricsSource(): MetricsSource {
  return { contentType: registry.contentType, metrics: () => registry.metrics() };
}

/** In the cluster primary: every worker's metrics, added up. */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}
