/**
 * Admin › API platform › Call logs (issue 14): the counters of a time range (GET /platform/stats:
 * totals, calls and errors per bucket as a small chart, and per endpoint or per profile), and
 * below them every call, newest first (GET /platform/logs), filtered by profile, collection,
 * endpoint, status and time range, with cursor paging. Filters apply on "Apply filters".
 */
import { useEffect, useState } from 'preact/hooks';
import { type Answer, api, type paths, unwrap } from '../api/client';
import { CallsChart } from '../components/CallsChart';
import { ErrorBanner } from '../components/ErrorBanner';
import { formErrors } from '../components/field-errors';
import {
  allCollections,
  allEndpoints,
  allProfiles,
  type Collection,
  type Endpoint,
  type Profile,
} from '../components/platform';
import { Table } from '../components/Table';
import { SelectField, TextField } from '../components/TextField';
import { Time } from '../components/Time';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';

type CallLog = Answer<'/api/admin/v1/platform/logs', 'get'>['items'][number];
type LogsQuery = NonNullable<paths['/api/admin/v1/platform/logs']['get']['parameters']['query']>;
type Stats = Answer<'/api/admin/v1/platform/stats', 'get'>;
type StatsItem = Stats['items'][number];
type Named = { id: number; name: string | null } | null | undefined;

const RANGES = [
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;

function nameOf(ref: Named, none = '—'): string {
  if (!ref) return none;
  return ref.name ?? `#${ref.id} (deleted)`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** A percentile is the upper bound of its histogram bucket: "≤ 50 ms". */
function upTo(ms: number | null): string {
  return ms === null ? '—' : `≤ ${ms.toLocaleString()} ms`;
}

function Counters() {
  const [range, setRange] = useState<string>('24h');
  const [by, setBy] = useState<'endpoint' | 'profile'>('endpoint');
  const [stats, setStats] = useState<Stats>();
  const [error, setError] = useState<unknown>();
  const [version, setVersion] = useState(0);

  useEffect(() => {
    let current = true;
    const span = RANGES.find((r) => r.id === range)?.ms ?? 86_400_000;
    unwrap(
      api.GET('/api/admin/v1/platform/stats', {
        params: { query: { from: new Date(Date.now() - span).toISOString(), by } },
      }),
    )
      .then((answer) => {
        if (!current) return;
        setStats(answer);
        setError(undefined);
      })
      .catch((e: unknown) => current && setError(e));
    return () => {
      current = false;
    };
  }, [range, by, version]);

  const label = (item: StatsItem) =>
    by === 'profile'
      ? nameOf(item.profile, 'no profile (refused)')
      : `${nameOf(item.collection)} › ${nameOf(item.endpoint, 'no endpoint')}`;
  const totals = stats?.totals;
  return (
    <section class="panel" aria-labelledby="counters-heading">
      <h2 id="counters-heading">Counters</h2>
      <div class="filters">
        <SelectField
          label="Range"
          value={range}
          onChange={setRange}
          options={RANGES.map((r) => ({ value: r.id, label: r.label }))}
        />
        <SelectField
          label="Per"
          value={by}
          onChange={(v) => setBy(v === 'profile' ? 'profile' : 'endpoint')}
          options={[
            { value: 'endpoint', label: 'Endpoint' },
            { value: 'profile', label: 'Access profile' },
          ]}
        />
        <div class="field">
          <button type="button" class="refresh" onClick={() => setVersion((v) => v + 1)}>
            Refresh
          </button>
        </div>
      </div>
      <ErrorBanner error={error} />
      {stats && totals ? (
        <>
          <dl class="counters">
            <div>
              <dt>Calls</dt>
              <dd>{totals.calls.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Errors (5xx)</dt>
              <dd>{totals.errors.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Client errors (4xx)</dt>
              <dd>{totals.clientErrors.toLocaleString()}</dd>
            </div>
            <div>
              <dt>Upstream p50 / p95 / p99</dt>
              <dd>
                {upTo(totals.latencyMs.p50)} / {upTo(totals.latencyMs.p95)} / {upTo(totals.latencyMs.p99)}
              </dd>
            </div>
            <div>
              <dt>Bytes in / out</dt>
              <dd>
                {bytes(totals.bytesIn)} / {bytes(totals.bytesOut)}
              </dd>
            </div>
          </dl>
          <CallsChart series={stats.series} bucketSeconds={stats.bucketSeconds} />
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard. */}
          <section class="table-scroll" tabIndex={0} aria-label={`Counters per ${by}`}>
            <table>
              <caption class="visually-hidden">Counters per {by}</caption>
              <thead>
                <tr>
                  <th scope="col">{by === 'profile' ? 'Access profile' : 'Endpoint'}</th>
                  <th scope="col" class="numeric">
                    Calls
                  </th>
                  <th scope="col" class="numeric">
                    Errors
                  </th>
                  <th scope="col" class="numeric">
                    Client errors
                  </th>
                  <th scope="col" class="numeric">
                    p50
                  </th>
                  <th scope="col" class="numeric">
                    p95
                  </th>
                  <th scope="col" class="numeric">
                    p99
                  </th>
                </tr>
              </thead>
              <tbody>
                {stats.items.map((item) => (
                  <tr key={label(item)}>
                    <td data-label={by === 'profile' ? 'Access profile' : 'Endpoint'}>{label(item)}</td>
                    <td class="numeric" data-label="Calls">
                      {item.calls.toLocaleString()}
                    </td>
                    <td class="numeric" data-label="Errors">
                      {item.errors.toLocaleString()}
                    </td>
                    <td class="numeric" data-label="Client errors">
                      {item.clientErrors.toLocaleString()}
                    </td>
                    <td class="numeric nowrap" data-label="p50">
                      {upTo(item.latencyMs.p50)}
                    </td>
                    <td class="numeric nowrap" data-label="p95">
                      {upTo(item.latencyMs.p95)}
                    </td>
                    <td class="numeric nowrap" data-label="p99">
                      {upTo(item.latencyMs.p99)}
                    </td>
                  </tr>
                ))}
                {stats.items.length === 0 ? (
                  <tr>
                    <td colSpan={7} class="empty">
                      No calls in this range.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </section>
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}

interface Filters {
  profile: string;
  collection: string;
  endpoint: string;
  status: string;
  from: string;
  to: string;
}
const EMPTY: Filters = { profile: '', collection: '', endpoint: '', status: '', from: '', to: '' };
const FILTER_FIELDS = ['profile', 'collection', 'endpoint', 'status', 'from', 'to'] as const;

function logsQuery(filters: Filters): LogsQuery {
  const query: LogsQuery = {};
  if (filters.profile) query.profile = filters.profile;
  if (filters.collection) query.collection = filters.collection;
  if (filters.endpoint) query.endpoint = filters.endpoint;
  if (filters.status.trim()) query.status = filters.status.trim();
  if (filters.from) query.from = new Date(filters.from).toISOString();
  if (filters.to) query.to = new Date(filters.to).toISOString();
  return query;
}

function Calls() {
  const [profiles, setProfiles] = useState<Profile[]>([]);
  const [collections, setCollections] = useState<Collection[]>([]);
  const [endpoints, setEndpoints] = useState<Endpoint[]>([]);
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [version, setVersion] = useState(0);
  const [refused, setRefused] = useState<unknown>();
  const [loadError, setLoadError] = useState<unknown>();
  const set = (key: keyof Filters) => (value: string) => setDraft({ ...draft, [key]: value });
  const errors = formErrors(refused, FILTER_FIELDS);

  useEffect(() => {
    Promise.all([allProfiles(), allCollections()])
      .then(([p, c]) => {
        setProfiles(p);
        setCollections(c);
      })
      .catch(setLoadError);
  }, []);
  useEffect(() => {
    setEndpoints([]);
    if (draft.collection) allEndpoints(Number(draft.collection)).then(setEndpoints).catch(setLoadError);
  }, [draft.collection]);

  return (
    <section aria-labelledby="calls-heading">
      <h2 id="calls-heading">Calls</h2>
      <form
        class="panel"
        aria-label="Call log filters"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          setApplied(draft);
          setVersion((v) => v + 1);
        }}
      >
        <ErrorBanner error={loadError} />
        <div class="filters">
          <SelectField
            label="Access profile"
            value={draft.profile}
            onChange={set('profile')}
            options={[
              { value: '', label: 'Any profile' },
              ...profiles.map((p) => ({ value: String(p.id), label: p.name })),
            ]}
          />
          <SelectField
            label="Collection"
            value={draft.collection}
            onChange={(value) => setDraft({ ...draft, collection: value, endpoint: '' })}
            options={[
              { value: '', label: 'Any collection' },
              ...collections.map((c) => ({ value: String(c.id), label: `${c.name} (/${c.prefix})` })),
            ]}
          />
          <SelectField
            label="Endpoint"
            value={draft.endpoint}
            onChange={set('endpoint')}
            disabled={!draft.collection}
            options={[
              { value: '', label: draft.collection ? 'Any endpoint' : 'Choose a collection first' },
              ...endpoints.map((e) => ({ value: String(e.id), label: `${e.method} ${e.path} (${e.name})` })),
            ]}
          />
          <TextField
            label="Status"
            value={draft.status}
            onInput={set('status')}
            hint="A status (404) or a class (5xx)"
            error={errors.of('status')}
          />
          <TextField
            label="From"
            type="datetime-local"
            value={draft.from}
            onInput={set('from')}
            error={errors.of('from')}
          />
          <TextField
            label="To"
            type="datetime-local"
            value={draft.to}
            onInput={set('to')}
            error={errors.of('to')}
          />
        </div>
        <div class="actions">
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setApplied(EMPTY);
            }}
          >
            Clear
          </button>
          <button type="submit" class="primary">
            Apply filters
          </button>
        </div>
      </form>
      <Table<CallLog>
        caption="Calls"
        rowKey={(call) => call.id}
        filterKey={JSON.stringify(applied)}
        reloadKey={version}
        pageSize={50}
        empty="No calls match these filters."
        load={async ({ limit, cursor }) => {
          try {
            const page = await unwrap(
              api.GET('/api/admin/v1/platform/logs', {
                params: { query: { ...logsQuery(applied), limit, ...(cursor ? { cursor } : {}) } },
              }),
            );
            setRefused(undefined);
            return page;
          } catch (e) {
            // A refusal naming a filter is shown at that filter, not above the table.
            if (formErrors(e, FILTER_FIELDS).banner === undefined) {
              setRefused(e);
              return { items: [], nextCursor: null };
            }
            throw e;
          }
        }}
        columns={[
          { header: 'Time', className: 'nowrap', cell: (c) => <Time value={c.time} /> },
          {
            header: 'Status',
            className: 'nowrap numeric',
            cell: (c) => <span class={c.status >= 500 ? 'status-5xx' : undefined}>{c.status}</span>,
          },
          {
            header: 'Call',
            className: 'nowrap',
            cell: (c) => (
              <code>
                {c.method} {c.path}
              </code>
            ),
          },
          { header: 'Access profile', cell: (c) => nameOf(c.profile) },
          {
            header: 'Endpoint',
            cell: (c) => `${nameOf(c.collection)} › ${nameOf(c.endpoint, 'none')}`,
          },
          {
            header: 'Upstream',
            className: 'nowrap numeric',
            cell: (c) => (c.upstreamLatencyMs === null ? '—' : `${c.upstreamLatencyMs} ms`),
          },
          { header: 'Duration', className: 'nowrap numeric', cell: (c) => `${c.durationMs} ms` },
          {
            header: 'Bytes in / out',
            className: 'nowrap numeric',
            cell: (c) => `${bytes(c.bytesIn)} / ${bytes(c.bytesOut)}`,
          },
          { header: 'Address', className: 'nowrap', cell: (c) => c.ip ?? '—' },
          { header: 'Request ID', className: 'nowrap', cell: (c) => <code>{c.requestId}</code> },
        ]}
      />
    </section>
  );
}

function LogsPage() {
  return (
    <>
      <p class="muted">
        Every call that named an API collection, refused ones included. Calls are written in batches: a call
        shows within about a second.
      </p>
      <Counters />
      <Calls />
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/logs',
  title: 'Call logs',
  section: 'API platform',
  order: 59,
  anyOf: ['gateway.manage'],
  component: LogsPage,
};
