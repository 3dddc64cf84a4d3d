/**
 * One API collection (/platform/collections/:id): its facts with Edit and Delete, and its
 * endpoints (cursor paging on the server) with Add endpoint, and per row Edit, Disable / Enable
 * and Delete. A refusal is shown at the field the API names.
 */
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { type Answer, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { formErrors } from '../components/field-errors';
import { Menu } from '../components/Menu';
import {
  CheckField,
  type Collection,
  CollectionDialog,
  EnabledBadge,
  type Endpoint,
  FormActions,
  switchItem,
  useRowChange,
  useSubmit,
} from '../components/platform';
import { Table } from '../components/Table';
import { SelectField, TextField } from '../components/TextField';
import { Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition, PageProps } from '../pages';
import { Link, navigate } from '../router';
import { DeleteCollection } from './platform-collections';

const METHODS = [
  'GET',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'HEAD',
  'OPTIONS',
] as const satisfies readonly Endpoint['method'][];
const DEFAULT_TIMEOUT_MS = 30_000;
const ENDPOINT_FIELDS = ['name', 'method', 'path', 'upstreamPath', 'timeoutMs', 'enabled'] as const;

function EndpointDialog({
  collection,
  endpoint,
  onClose,
  onSaved,
}: {
  collection: Collection;
  endpoint?: Endpoint;
  onClose: () => void;
  onSaved: (saved: Endpoint) => void;
}) {
  const [name, setName] = useState(endpoint?.name ?? '');
  const [method, setMethod] = useState<string>(endpoint?.method ?? 'GET');
  const [path, setPath] = useState(endpoint?.path ?? '');
  // An upstream path equal to the path is the default: shown empty, so editing the path moves both.
  const [upstreamPath, setUpstreamPath] = useState(
    endpoint && endpoint.upstreamPath !== endpoint.path ? endpoint.upstreamPath : '',
  );
  const [timeout, setTimeoutMs] = useState(String(endpoint?.timeoutMs ?? DEFAULT_TIMEOUT_MS));
  const [enabled, setEnabled] = useState(endpoint?.enabled ?? true);
  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const timeoutText = timeout.trim();
    const body = {
      name,
      method,
      path,
      upstreamPath: upstreamPath.trim() === '' ? null : upstreamPath,
      // Sent as typed; the server names the field when it is not a whole number in range.
      timeoutMs: timeoutText === '' ? DEFAULT_TIMEOUT_MS : Number(timeoutText),
      enabled,
    };
    const id = String(collection.id);
    const saved = endpoint
      ? await unwrap(
          api.PATCH('/api/admin/v1/platform/collections/{id}/endpoints/{endpointId}', {
            params: { path: { id, endpointId: endpoint.id } },
            body,
          }),
        )
      : await unwrap(
          api.POST('/api/admin/v1/platform/collections/{id}/endpoints', { params: { path: { id } }, body }),
        );
    onSaved(saved);
  });
  const errors = formErrors(error, ENDPOINT_FIELDS);
  return (
    <Dialog title={endpoint ? `Edit the endpoint “${endpoint.name}”` : 'Add endpoint'} onClose={onClose} wide>
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner} />
        <TextField label="Name" value={name} onInput={setName} required autoFocus error={errors.of('name')} />
        <SelectField
          label="Method"
          value={method}
          onChange={setMethod}
          options={METHODS}
          error={errors.of('method')}
        />
        <TextField
          label="Path"
          value={path}
          onInput={setPath}
          required
          mono
          placeholder="/orders/:id"
          hint={`Called at /${collection.prefix}${path || '/<path>'}; a segment like :id is a parameter.`}
          error={errors.of('path')}
        />
        <TextField
          label="Upstream path (optional)"
          value={upstreamPath}
          onInput={setUpstreamPath}
          mono
          hint={`Appended to ${collection.upstreamUrl}; may use the path's parameters. Empty: the same as the path.`}
          error={errors.of('upstreamPath')}
        />
        <TextField
          label="Timeout (milliseconds)"
          type="number"
          value={timeout}
          onInput={setTimeoutMs}
          hint="How long the upstream has to answer before the caller gets 504: 100–300000."
          error={errors.of('timeoutMs')}
        />
        <CheckField
          label="Enabled"
          checked={enabled}
          onChange={setEnabled}
          hint="A disabled endpoint answers 404, as if it did not exist."
          error={errors.of('enabled')}
        />
        <FormActions busy={busy} submit={endpoint ? 'Save' : 'Add endpoint'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

type EndpointImport = Answer<'/api/admin/v1/platform/collections/{id}/import', 'post'>;

/**
 * Endpoints from an OpenAPI 3 document, pasted (JSON or YAML) or fetched from a URL the instance
 * allows (GATEHOUSE_PLATFORM_IMPORT_URLS). Preview is a dry run; Import writes all or nothing.
 * A refused document is shown with the JSON pointer of the offending part, as the API names it.
 */
function ImportDialog({
  collection,
  onClose,
  onImported,
}: {
  collection: Collection;
  onClose: () => void;
  onImported: (result: EndpointImport) => void;
}) {
  const [from, setFrom] = useState<'text' | 'url'>('text');
  const [text, setText] = useState('');
  const [url, setUrl] = useState('');
  const [replace, setReplace] = useState(false);
  const [preview, setPreview] = useState<EndpointImport>();
  // Which button submitted: read in the submit itself, so a ref (a state update would come too late).
  const dryRun = useRef(true);
  const sourceName = useId();
  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const result = await unwrap(
      api.POST('/api/admin/v1/platform/collections/{id}/import', {
        params: { path: { id: String(collection.id) }, query: { dryRun: dryRun.current, replace } },
        // Pasted text goes as a string: the server reads JSON and YAML alike.
        body: from === 'url' ? { url } : text,
      }),
    );
    if (dryRun.current) setPreview(result);
    else onImported(result);
  });
  const errors = formErrors(error, ['url']);
  // Any change to what would be imported makes the preview stale.
  const edit =
    <T,>(set: (value: T) => void) =>
    (value: T) => {
      setPreview(undefined);
      set(value);
    };
  return (
    <Dialog title={`Import endpoints into “${collection.name}”`} onClose={onClose} wide>
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner} />
        <fieldset>
          <legend>OpenAPI 3 document</legend>
          {(['text', 'url'] as const).map((value) => (
            <label class="choice" key={value}>
              <input
                type="radio"
                name={sourceName}
                checked={from === value}
                onChange={() => edit(setFrom)(value)}
              />
              <span>{value === 'text' ? 'Paste it (JSON or YAML)' : 'Fetch it from a URL'}</span>
            </label>
          ))}
        </fieldset>
        {from === 'text' ? (
          <TextField label="Document" value={text} onInput={edit(setText)} rows={8} mono autoFocus />
        ) : (
          <TextField
            label="URL"
            type="url"
            value={url}
            onInput={edit(setUrl)}
            mono
            hint="Only under the prefixes the instance allows (GATEHOUSE_PLATFORM_IMPORT_URLS)."
            error={errors.of('url')}
          />
        )}
        <CheckField
          label="Replace endpoints with the same method and path"
          checked={replace}
          onChange={edit(setReplace)}
          hint="Otherwise they are left as they are and reported as skipped."
        />
        {preview ? (
          <>
            <p aria-live="polite">
              The import would create {preview.created}, replace {preview.replaced} and skip {preview.skipped}{' '}
              endpoint{preview.endpoints.length === 1 ? '' : 's'}:
            </p>
            <ul class="import-preview">
              {preview.endpoints.map((e) => (
                <li key={e.pointer}>
                  <span class="muted">{e.action}</span> <code>{`${e.method} ${e.path}`}</code> {e.name}
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button
            type="submit"
            disabled={busy}
            onClick={() => {
              dryRun.current = true;
            }}
          >
            Preview
          </button>
          <button
            type="submit"
            class="primary"
            disabled={busy || !preview}
            onClick={() => {
              dryRun.current = false;
            }}
          >
            Import
          </button>
        </div>
      </form>
    </Dialog>
  );
}

type Open =
  | { kind: 'edit-collection' }
  | { kind: 'delete-collection' }
  | { kind: 'add' }
  | { kind: 'import' }
  | { kind: 'edit'; endpoint: Endpoint }
  | { kind: 'delete'; endpoint: Endpoint };

function Endpoints({ collection, onChanged }: { collection: Collection; onChanged: () => void }) {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const id = String(collection.id);
  const change = (message: string) => {
    changed(message);
    onChanged();
  };
  const { error, run } = useRowChange(change);
  return (
    <section class="panel" aria-labelledby="endpoints-heading">
      <div class="page-actions">
        <h2 id="endpoints-heading" class="grow">
          Endpoints
        </h2>
        <button type="button" onClick={() => setOpen({ kind: 'import' })}>
          Import from OpenAPI
        </button>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'add' })}>
          Add endpoint
        </button>
      </div>
      <ErrorBanner error={error} />
      <output class="muted notice">{notice}</output>
      <Table<Endpoint>
        caption={`Endpoints of ${collection.name}`}
        rowKey={(e) => e.id}
        reloadKey={reloadKey}
        empty="No endpoints yet: calls to this collection answer 404."
        load={({ limit, cursor }) =>
          unwrap(
            api.GET('/api/admin/v1/platform/collections/{id}/endpoints', {
              params: { path: { id }, query: { limit, cursor } },
            }),
          )
        }
        columns={[
          { header: 'Name', cell: (e) => <span id={`endpoint-${e.id}-name`}>{e.name}</span> },
          { header: 'Method', className: 'nowrap', cell: (e) => <span class="method mono">{e.method}</span> },
          { header: 'Path', cell: (e) => <code class="wrap-anywhere">{e.path}</code> },
          { header: 'Upstream path', cell: (e) => <code class="wrap-anywhere">{e.upstreamPath}</code> },
          {
            header: 'Timeout',
            className: 'nowrap numeric',
            cell: (e) => `${(e.timeoutMs / 1000).toLocaleString()} s`,
          },
          { header: 'Status', cell: (e) => <EnabledBadge enabled={e.enabled} /> },
          {
            header: 'Actions',
            cell: (e) => (
              <Menu
                label="More"
                describedBy={`endpoint-${e.id}-name`}
                items={[
                  { label: 'Edit', onSelect: () => setOpen({ kind: 'edit', endpoint: e }) },
                  switchItem(e.name, e.enabled, run, (enabled) =>
                    unwrap(
                      api.PATCH('/api/admin/v1/platform/collections/{id}/endpoints/{endpointId}', {
                        params: { path: { id, endpointId: e.id } },
                        body: { enabled },
                      }),
                    ),
                  ),
                  { label: 'Delete', danger: true, onSelect: () => setOpen({ kind: 'delete', endpoint: e }) },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'add' || open?.kind === 'edit' ? (
        <EndpointDialog
          collection={collection}
          endpoint={open.kind === 'edit' ? open.endpoint : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved) => change(`${saved.name} was ${open.kind === 'edit' ? 'saved' : 'added'}.`)}
        />
      ) : null}
      {open?.kind === 'import' ? (
        <ImportDialog
          collection={collection}
          onClose={() => setOpen(undefined)}
          onImported={(result) =>
            change(
              `Imported: ${result.created} created, ${result.replaced} replaced, ${result.skipped} skipped.`,
            )
          }
        />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete the endpoint “${open.endpoint.name}”?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.DELETE('/api/admin/v1/platform/collections/{id}/endpoints/{endpointId}', {
                params: { path: { id, endpointId: open.endpoint.id } },
              }),
            );
            change(`${open.endpoint.name} was deleted.`);
          }}
        >
          <p>
            Calls to <code>{`${open.endpoint.method} /${collection.prefix}${open.endpoint.path}`}</code>{' '}
            answer 404 from the next call.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}

function CollectionPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [collection, setCollection] = useState<Collection>();
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState<Open>();
  const [version, setVersion] = useState(0);

  useEffect(() => {
    setError(undefined);
    unwrap(api.GET('/api/admin/v1/platform/collections/{id}', { params: { path: { id } } }))
      .then(setCollection)
      .catch(setError);
  }, [id, version]);

  return (
    <>
      <p>
        <Link to="/platform/collections">All API collections</Link>
      </p>
      <ErrorBanner error={error} />
      {collection ? (
        <>
          <div class="page-actions">
            <h2 class="grow">{collection.name}</h2>
            <button type="button" onClick={() => setOpen({ kind: 'edit-collection' })}>
              Edit collection
            </button>
            <button type="button" class="danger" onClick={() => setOpen({ kind: 'delete-collection' })}>
              Delete collection
            </button>
          </div>
          <dl class="facts">
            <dt>Called at</dt>
            <dd>
              <code>
                {window.location.origin}/{collection.prefix}/…
              </code>
            </dd>
            <dt>Upstream URL</dt>
            <dd>
              <code>{collection.upstreamUrl}</code>
            </dd>
            <dt>Description</dt>
            <dd>{collection.description || <span class="muted">—</span>}</dd>
            <dt>Status</dt>
            <dd>
              <EnabledBadge enabled={collection.enabled} />
            </dd>
            <dt>Updated</dt>
            <dd>
              <Time value={collection.updatedAt} />
            </dd>
          </dl>
          <Endpoints collection={collection} onChanged={() => setVersion((v) => v + 1)} />
          {open?.kind === 'edit-collection' ? (
            <CollectionDialog
              collection={collection}
              onClose={() => setOpen(undefined)}
              onSaved={(saved) => {
                setOpen(undefined);
                setCollection(saved);
              }}
            />
          ) : null}
          {open?.kind === 'delete-collection' ? (
            <DeleteCollection
              collection={collection}
              onClose={() => setOpen(undefined)}
              onDeleted={() => navigate('/platform/collections')}
            />
          ) : null}
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/collections/:id',
  title: 'API collection',
  section: 'API platform',
  order: 55,
  anyOf: ['gateway.manage'],
  nav: false,
  component: CollectionPage,
};
