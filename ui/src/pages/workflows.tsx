/**
 * Admin › Automation › Workflows: the workflows the user may see (GET /v1/workflows, searched by
 * name, paged by offset on the server), and the way to create one (/workflows/new).
 */
import { api, unwrap } from '../api/client';
import { Table } from '../components/Table';
import { Time } from '../components/Time';
import type { Workflow } from '../components/workflow-api';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { Link, navigate } from '../router';

function WorkflowsPage() {
  return (
    <>
      <div class="page-actions">
        <p class="grow muted">
          Workflows run steps (HTTP calls, delays, variables, conditions) with an input you give.
        </p>
        <button type="button" class="primary" onClick={() => navigate('/workflows/new')}>
          Create workflow
        </button>
      </div>
      <Table<Workflow>
        caption="Workflows"
        rowKey={(workflow) => workflow.id}
        searchLabel="Search by name"
        empty="No workflows yet."
        load={async ({ limit, cursor, search }) => {
          const offset = Number(cursor ?? 0);
          // One more than a page: whether there is a next page, without a count.
          const rows = await unwrap(
            api.GET('/v1/workflows', {
              params: { query: { limit: limit + 1, offset, ...(search ? { nameLike: search } : {}) } },
            }),
          );
          return {
            items: rows.slice(0, limit),
            nextCursor: rows.length > limit ? String(offset + limit) : null,
          };
        }}
        columns={[
          {
            header: 'Name',
            cell: (w) => <Link to={`/workflows/${encodeURIComponent(w.id)}`}>{w.name}</Link>,
          },
          { header: 'Description', cell: (w) => w.description || '—' },
          { header: 'Version', cell: (w) => String(w.version), className: 'nowrap' },
          { header: 'Updated', cell: (w) => <Time value={w.updatedOn} />, className: 'nowrap' },
        ]}
      />
    </>
  );
}

export const page: PageDefinition = {
  path: '/workflows',
  title: 'Workflows',
  section: 'Automation',
  order: 50,
  anyOf: ['workflow.api'],
  component: WorkflowsPage,
};
