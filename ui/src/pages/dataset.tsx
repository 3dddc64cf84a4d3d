/**
 * One DataSet (/data/:id): its facts (owner, row count, when its data last changed), its schema,
 * a preview of its first rows, read from the CSV export (GET /v1/datasets/{id}/data, so the
 * viewer's personalized data permissions apply), which the page stops downloading once it has
 * them, and its PDP policies (GET /v1/datasets/{id}/policies).
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type Answer, api, type Me, unwrap } from '../api/client';
import { ErrorBanner } from '../components/ErrorBanner';
import { Time } from '../components/Time';
import { firstCsvRecords } from '../csv-preview';
import '../components/page-parts.css';
import type { PageDefinition, PageProps } from '../pages';
import { Link } from '../router';
import { useMe } from '../session';
import type { Dataset } from './data';

/** Rows in the preview: enough to see the data's shape, few enough to read only the start of a large export. */
const PREVIEW_ROWS = 20;

/** A read-only table in a keyboard-reachable scrolling region, as the list pages show theirs. */
function StaticTable({
  caption,
  headers,
  rows,
}: {
  caption: string;
  headers: string[];
  rows: ComponentChildren[][];
}) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must be reachable by keyboard.
    <section class="table-scroll" tabIndex={0} aria-label={caption}>
      <table>
        <caption class="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {headers.map((header, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: column names may repeat in letter case only; position is the key.
              <th scope="col" key={i}>
                {header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((cells, r) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: preview rows have no id; they never reorder.
            <tr key={r}>
              {cells.map((cell, c) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: cells are positional.
                <td key={c} data-label={headers[c]}>
                  {cell}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/**
 * What the preview shows. With PDP on, the export holds only the rows the viewer's policies allow,
 * unless the viewer is the owner or an Admin (GET /me's `admin`: every grant, as the server decides).
 */
function previewSentence(shown: number, dataset: Dataset, me: Me | undefined): string {
  const filtered = dataset.pdpEnabled && !me?.admin && me?.user.id !== dataset.owner.id;
  if (filtered)
    return shown === PREVIEW_ROWS
      ? `The first ${shown} rows you may see (personalized data permissions apply), in import order.`
      : `The ${shown} of ${dataset.rows.toLocaleString()} rows you may see (personalized data permissions apply), in import order.`;
  return shown < dataset.rows
    ? `The first ${shown} of ${dataset.rows.toLocaleString()} rows, in import order.`
    : `All ${shown} rows, in import order.`;
}

function Preview({ dataset }: { dataset: Dataset }) {
  const me = useMe();
  const [records, setRecords] = useState<string[][]>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    setRecords(undefined);
    setError(undefined);
    if (dataset.rows === 0) return;
    unwrap(
      api.GET('/v1/datasets/{id}/data', {
        params: { path: { id: dataset.id }, query: { includeHeader: false } },
        parseAs: 'stream',
      }),
    )
      .then((stream) => (stream ? firstCsvRecords(stream, PREVIEW_ROWS) : []))
      .then(setRecords)
      .catch(setError);
  }, [dataset.id, dataset.dataCurrentAt, dataset.rows]);

  const names = dataset.schema.columns.map((column) => column.name);
  return (
    <section class="panel" aria-labelledby="preview-heading">
      <h2 id="preview-heading">First rows</h2>
      <ErrorBanner error={error} />
      {dataset.rows === 0 ? (
        <p class="muted">No rows yet: import CSV with PUT /v1/datasets/{dataset.id}/data.</p>
      ) : records === undefined ? (
        error ? null : (
          <p class="muted">Loading…</p>
        )
      ) : (
        <>
          <p class="muted">
            {previewSentence(records.length, dataset, me)} An empty value is shown as <em>null</em>.
          </p>
          <StaticTable
            caption={`First rows of ${dataset.name}`}
            headers={names}
            rows={records.map((record) =>
              names.map((_, i) => {
                const value = record[i] ?? '';
                return value === '' ? <span class="muted">null</span> : value;
              }),
            )}
          />
        </>
      )}
    </section>
  );
}

type Policy = Answer<'/v1/datasets/{id}/policies/{policyId}', 'get'>;

/** A filter in words: `Region EQUALS East, West`, or `NOT (…)` for `not: true`. */
function filterText(filter: Policy['filters'][number]): string {
  const text = `${filter.column} ${filter.operator} ${filter.values.join(', ')}`;
  return filter.not ? `NOT (${text})` : text;
}

/** The policies (read-only here; programs manage them through the API) with the users' emails and the groups' names. */
function Policies({ dataset }: { dataset: Dataset }) {
  const [policies, setPolicies] = useState<Policy[]>();
  const [names, setNames] = useState<{ users: Map<number, string>; groups: Map<number, string> }>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    setPolicies(undefined);
    setError(undefined);
    const load = async () => {
      const list = await unwrap(
        api.GET('/v1/datasets/{id}/policies', { params: { path: { id: dataset.id } } }),
      );
      const userIds = [...new Set(list.flatMap((p) => p.users))];
      const groupIds = [...new Set(list.flatMap((p) => p.groups))];
      const [users, groups] = await Promise.all([
        Promise.all(userIds.map((id) => unwrap(api.GET('/v1/users/{id}', { params: { path: { id } } })))),
        Promise.all(groupIds.map((id) => unwrap(api.GET('/v1/groups/{id}', { params: { path: { id } } })))),
      ]);
      setNames({
        users: new Map(users.map((u) => [u.id, u.email])),
        groups: new Map(groups.map((g) => [g.id, g.name])),
      });
      setPolicies(list);
    };
    load().catch(setError);
  }, [dataset.id, dataset.updatedAt]);

  const appliesTo = (policy: Policy) =>
    [
      ...policy.users.map((id) => names?.users.get(id) ?? `user ${id}`),
      ...policy.groups.map((id) => `group ${names?.groups.get(id) ?? id}`),
    ].join('; ') || 'nobody';

  return (
    <section class="panel" aria-labelledby="policies-heading">
      <h2 id="policies-heading">Personalized data permissions</h2>
      <ErrorBanner error={error} />
      <p class="muted">
        {dataset.pdpEnabled
          ? 'On: besides the owner and Admins, each user sees only the rows their policies allow (the union of them); a user with no policy sees none.'
          : 'Off: everyone who may view data sees every row.'}
      </p>
      {policies === undefined ? (
        error ? null : (
          <p class="muted">Loading…</p>
        )
      ) : policies.length === 0 ? (
        <p class="muted">No policies.</p>
      ) : (
        <StaticTable
          caption={`Policies of ${dataset.name}`}
          headers={['Policy', 'Type', 'Applies to', 'Rows where']}
          rows={policies.map((policy) => [
            policy.name,
            policy.type,
            appliesTo(policy),
            policy.filters.length === 0 ? 'every row' : policy.filters.map(filterText).join(' AND '),
          ])}
        />
      )}
    </section>
  );
}

function DatasetPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [dataset, setDataset] = useState<Dataset>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    setDataset(undefined);
    setError(undefined);
    unwrap(api.GET('/v1/datasets/{id}', { params: { path: { id } } }))
      .then(setDataset)
      .catch(setError);
  }, [id]);

  return (
    <>
      <p>
        <Link to="/data">All DataSets</Link>
      </p>
      <ErrorBanner error={error} />
      {dataset ? (
        <>
          <dl class="facts">
            <dt>Name</dt>
            <dd>{dataset.name}</dd>
            {dataset.description ? (
              <>
                <dt>Description</dt>
                <dd>{dataset.description}</dd>
              </>
            ) : null}
            <dt>Owner</dt>
            <dd>{dataset.owner.name}</dd>
            <dt>Rows</dt>
            <dd>{dataset.rows.toLocaleString()}</dd>
            <dt>Columns</dt>
            <dd>{dataset.columns}</dd>
            <dt>Data imported</dt>
            <dd>
              <Time value={dataset.dataCurrentAt} none="never" />
            </dd>
            <dt>Updated</dt>
            <dd>
              <Time value={dataset.updatedAt} />
            </dd>
            <dt>
              <abbr title="Personalized data permissions">PDP</abbr>
            </dt>
            <dd>{dataset.pdpEnabled ? 'on' : 'off'}</dd>
            <dt>ID</dt>
            <dd>
              <code>{dataset.id}</code>
            </dd>
          </dl>
          <section class="panel" aria-labelledby="schema-heading">
            <h2 id="schema-heading">Schema</h2>
            <StaticTable
              caption={`Columns of ${dataset.name}`}
              headers={['#', 'Column', 'Type']}
              rows={dataset.schema.columns.map((column, i) => [String(i + 1), column.name, column.type])}
            />
          </section>
          <Preview dataset={dataset} />
          <Policies dataset={dataset} />
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </>
  );
}

export const page: PageDefinition = {
  path: '/data/:id',
  title: 'DataSet',
  section: 'Data',
  order: 46,
  anyOf: ['data.view'],
  nav: false,
  component: DatasetPage,
};
