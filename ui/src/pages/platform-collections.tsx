/**
 * Admin › API platform › API collections (issue 14): the collections (cursor paging on the
 * server), each linking to its endpoints (/platform/collections/:id); Create, and per row Edit,
 * Disable / Enable and Delete (confirmed: its endpoints go with it).
 */
import { api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { Menu } from '../components/Menu';
import {
  type Collection,
  CollectionDialog,
  EnabledBadge,
  switchItem,
  useRowChange,
} from '../components/platform';
import { Table } from '../components/Table';
import { Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { Link } from '../router';

type Open =
  | { kind: 'create' }
  | { kind: 'edit'; collection: Collection }
  | { kind: 'delete'; collection: Collection };

/** Deletes a collection, its endpoints and its place in access profiles, once confirmed. */
export function DeleteCollection({
  collection,
  onClose,
  onDeleted,
}: {
  collection: Collection;
  onClose: () => void;
  onDeleted: () => void;
}) {
  return (
    <ConfirmDialog
      title={`Delete the collection “${collection.name}”?`}
      confirmLabel="Delete"
      onClose={onClose}
      onConfirm={async () => {
        await unwrap(
          api.DELETE('/api/admin/v1/platform/collections/{id}', {
            params: { path: { id: String(collection.id) } },
          }),
        );
        onDeleted();
      }}
    >
      <p>
        <strong>This cannot be undone.</strong> Its {collection.endpointCount} endpoint
        {collection.endpointCount === 1 ? '' : 's'} go with it, access profiles lose it, and calls to{' '}
        <code>/{collection.prefix}/…</code> answer 404 from the next call.
      </p>
    </ConfirmDialog>
  );
}

function CollectionsPage() {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const { error, run } = useRowChange(changed);

  return (
    <>
      <ErrorBanner error={error} />
      <div class="page-actions">
        <p class="grow muted">
          Each collection puts an upstream service behind Gatehouse: programs call{' '}
          <code>{window.location.origin}/&lt;prefix&gt;/&lt;endpoint path&gt;</code> with the credentials of
          an access profile.
        </p>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
          Create collection
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<Collection>
        caption="API collections"
        rowKey={(c) => c.id}
        reloadKey={reloadKey}
        empty="No API collections yet."
        load={({ limit, cursor }) =>
          unwrap(api.GET('/api/admin/v1/platform/collections', { params: { query: { limit, cursor } } }))
        }
        columns={[
          {
            header: 'Name',
            cell: (c) => (
              <Link to={`/platform/collections/${c.id}`}>
                <span id={`collection-${c.id}-name`}>{c.name}</span>
              </Link>
            ),
          },
          { header: 'Prefix', className: 'nowrap', cell: (c) => <code>/{c.prefix}</code> },
          { header: 'Upstream URL', cell: (c) => <code class="wrap-anywhere">{c.upstreamUrl}</code> },
          { header: 'Endpoints', className: 'nowrap numeric', cell: (c) => String(c.endpointCount) },
          { header: 'Status', cell: (c) => <EnabledBadge enabled={c.enabled} /> },
          { header: 'Updated', className: 'nowrap', cell: (c) => <Time value={c.updatedAt} /> },
          {
            header: 'Actions',
            cell: (c) => (
              <Menu
                label="More"
                describedBy={`collection-${c.id}-name`}
                items={[
                  { label: 'Edit', onSelect: () => setOpen({ kind: 'edit', collection: c }) },
                  switchItem(c.name, c.enabled, run, (enabled) =>
                    unwrap(
                      api.PATCH('/api/admin/v1/platform/collections/{id}', {
                        params: { path: { id: String(c.id) } },
                        body: { enabled },
                      }),
                    ),
                  ),
                  {
                    label: 'Delete',
                    danger: true,
                    onSelect: () => setOpen({ kind: 'delete', collection: c }),
                  },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'create' || open?.kind === 'edit' ? (
        <CollectionDialog
          collection={open.kind === 'edit' ? open.collection : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved) => changed(`${saved.name} was ${open.kind === 'edit' ? 'saved' : 'created'}.`)}
        />
      ) : null}
      {open?.kind === 'delete' ? (
        <DeleteCollection
          collection={open.collection}
          onClose={() => setOpen(undefined)}
          onDeleted={() => changed(`${open.collection.name} was deleted.`)}
        />
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/collections',
  title: 'API collections',
  section: 'API platform',
  order: 55,
  anyOf: ['gateway.manage'],
  component: CollectionsPage,
};
