/**
 * Admin › Data › DataSets: the DataSets (GET /v1/datasets with the session, searched by name, paged
 * by offset on the server, at most 50 a page as the API allows), each linking to its schema, row
 * count and a preview of its first rows (/data/:id).
 */
import { type Answer, api, unwrap } from '../api/client';
import { Table } from '../components/Table';
import { Time } from '../components/Time';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { Link } from '../router';

export type Dataset = Answer<'/v1/datasets/{id}', 'get'>;

function DataPage() {
  return (
    <>
      <p class="muted">
        DataSets are tables of typed columns that programs fill and read through the DataSet API (
        <code>/v1/datasets</code>) with a client token of scope <code>data</code>.
      </p>
      <Table<Dataset>
        caption="DataSets"
        rowKey={(dataset) => dataset.id}
        searchLabel="Search by name"
        empty="No DataSets yet."
        load={async ({ limit, cursor, search }) => {
          const offset = Number(cursor ?? 0);
          // One more than a page (the API's maximum is 50): whether there is a next page, without a count.
          const rows = await unwrap(
            api.GET('/v1/datasets', {
              params: {
                query: {
                  limit: Math.min(limit + 1, 50),
                  offset,
                  sort: 'name',
                  ...(search ? { nameLike: search } : {}),
                },
              },
            }),
          );
          const shown = Math.min(limit, 49);
          return {
            items: rows.slice(0, shown),
            nextCursor: rows.length > shown ? String(offset + shown) : null,
          };
        }}
        columns={[
          {
            header: 'Name',
            cell: (d) => <Link to={`/data/${encodeURIComponent(d.id)}`}>{d.name}</Link>,
          },
          { header: 'Rows', cell: (d) => d.rows.toLocaleString(), className: 'nowrap numeric' },
          { header: 'Columns', cell: (d) => String(d.columns), className: 'nowrap numeric' },
          { header: 'Owner', cell: (d) => d.owner.name },
          { header: 'Updated', cell: (d) => <Time value={d.updatedAt} />, className: 'nowrap' },
        ]}
      />
    </>
  );
}

export const page: PageDefinition = {
  path: '/data',
  title: 'DataSets',
  section: 'Data',
  order: 45,
  anyOf: ['data.view'],
  component: DataPage,
};
