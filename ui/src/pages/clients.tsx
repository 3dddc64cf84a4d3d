/**
 * Admin › Authentication › API Clients (spec 004): the list (own clients, or all with
 * "Manage All Access Tokens and API Clients"), server-side search by name and cursor paging;
 * Create (scopes from the catalog, none pre-checked) with the credentials shown once; per row a
 * "More" menu with Delete (revoke, confirmed) and, for the owner, Rotate secret.
 */
import { useEffect, useState } from 'preact/hooks';
import { type ApiClient, api, type IssuedClient, type ScopeInfo, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { Menu } from '../components/Menu';
import { SecretField } from '../components/SecretField';
import { type Column, Table } from '../components/Table';
import { Status, Time } from '../components/Time';
import type { PageDefinition } from '../pages';
import { can, useMe } from '../session';

/** How long a token lives, in words (for the revoke warning). */
function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`;
  if (seconds % 60 === 0) return `${seconds / 60} minute${seconds === 60 ? '' : 's'}`;
  return `${seconds} seconds`;
}

function tokenCurl(clientId: string, secret: string, scopes: readonly string[]): string {
  const origin = window.location.origin;
  return (
    `curl -s -u '${clientId}:${secret}' -d grant_type=client_credentials ` +
    `--data-urlencode 'scope=${scopes.join(' ')}' ${origin}/oauth/token`
  );
}

/** The one time a client secret is shown: ID, secret and a ready curl line, each with a copy button. */
function Credentials({ issued, onDone }: { issued: IssuedClient; onDone: () => void }) {
  return (
    <>
      <div class="banner banner-warning">
        <strong>This is the only time the client secret is shown.</strong> Copy it now and keep it somewhere
        safe: Gatehouse stores only a hash of it and cannot show it again.
      </div>
      <SecretField label="Client ID" value={issued.client_id} />
      <SecretField label="Client secret" value={issued.client_secret} />
      <SecretField
        label="Token request"
        value={tokenCurl(issued.client_id, issued.client_secret, issued.client.scopes)}
        multiline
      />
      <div class="actions">
        <button type="button" class="primary" onClick={onDone}>
          Done
        </button>
      </div>
    </>
  );
}

function CreateClientDialog({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const [scopes, setScopes] = useState<ScopeInfo[]>();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set());
  const [ttl, setTtl] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  // The credentials, held only while this dialog is open; closing unmounts it and they are gone.
  const [issued, setIssued] = useState<IssuedClient>();

  useEffect(() => {
    unwrap(api.GET('/api/admin/v1/scopes'))
      .then((answer) => setScopes(answer.items))
      .catch(setError);
  }, []);

  const close = () => {
    setIssued(undefined);
    onClose();
  };

  const toggle = (id: string, on: boolean) => {
    const next = new Set(chosen);
    if (on) next.add(id);
    else next.delete(id);
    setChosen(next);
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const ttlText = ttl.trim();
      const answer = await unwrap(
        api.POST('/api/admin/v1/clients', {
          body: {
            name,
            description: description === '' ? undefined : description,
            // Catalog order, as the server keeps them.
            scopes: (scopes ?? []).map((s) => s.id).filter((id) => chosen.has(id)),
            tokenTtlSeconds: ttlText === '' ? undefined : Number(ttlText),
          },
        }),
      );
      setIssued(answer);
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (issued) {
    return (
      <Dialog title="API client created" onClose={close} wide>
        <Credentials issued={issued} onDone={close} />
      </Dialog>
    );
  }
  return (
    <Dialog
      title="Create API client"
      onClose={close}
      wide
      description="Programs use an API client's ID and secret to get access tokens. Give it only the scopes it needs."
    >
      <form onSubmit={submit}>
        <ErrorBanner error={error} />
        <div class="field">
          <label for="client-name">Name</label>
          {/* The dialog opens on its first field (WAI-ARIA dialog pattern). */}
          <input
            autoFocus
            id="client-name"
            required
            maxLength={100}
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
            autocomplete="off"
          />
        </div>
        <div class="field">
          <label for="client-description">Description</label>
          <textarea
            id="client-description"
            rows={2}
            maxLength={1000}
            value={description}
            onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)}
          />
        </div>
        <fieldset>
          <legend>Scopes</legend>
          <p class="hint">None is checked: choose the least the program needs.</p>
          {scopes === undefined ? <p>Loading the scopes…</p> : null}
          {scopes?.map((scope) => (
            <label class="choice" key={scope.id}>
              <input
                type="checkbox"
                name="scopes"
                value={scope.id}
                checked={chosen.has(scope.id)}
                onChange={(e) => toggle(scope.id, (e.target as HTMLInputElement).checked)}
              />
              <span>
                <strong class="mono">{scope.id}</strong> <span class="muted">{scope.description}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for="client-ttl">Token lifetime in seconds (optional)</label>
          <input
            id="client-ttl"
            type="number"
            inputMode="numeric"
            min={60}
            max={86400}
            value={ttl}
            onInput={(e) => setTtl((e.target as HTMLInputElement).value)}
            aria-describedby="client-ttl-hint"
          />
          <p class="hint" id="client-ttl-hint">
            How long each access token works: 60–86400. Empty: the server's default.
          </p>
        </div>
        <div class="actions">
          <button type="button" onClick={close} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Create
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function RotateSecretDialog({
  client,
  onClose,
  onDone,
}: {
  client: ApiClient;
  onClose: () => void;
  onDone: () => void;
}) {
  const [endNow, setEndNow] = useState(false);
  const [issued, setIssued] = useState<IssuedClient>();
  const close = () => {
    setIssued(undefined);
    onClose();
  };
  if (issued) {
    return (
      <Dialog title={`New secret for “${client.name}”`} onClose={close} wide>
        <Credentials issued={issued} onDone={close} />
      </Dialog>
    );
  }
  return (
    <ConfirmDialog
      title={`Rotate the secret of “${client.name}”?`}
      confirmLabel="Rotate secret"
      danger={false}
      onClose={close}
      onConfirm={async () => {
        const answer = await unwrap(
          api.POST('/api/admin/v1/clients/{id}/rotate-secret', {
            params: { path: { id: client.id } },
            body: endNow ? { graceSeconds: 0 } : null,
          }),
        );
        setIssued(answer);
        onDone();
      }}
    >
      <p>
        A new secret is made and shown once. Unless you end it now, the current secret keeps working for 24
        hours, so the programs that use it can be updated.
      </p>
      <label class="choice">
        <input
          type="checkbox"
          checked={endNow}
          onChange={(e) => setEndNow((e.target as HTMLInputElement).checked)}
        />
        <span>End the current secret now</span>
      </label>
    </ConfirmDialog>
  );
}

type Open =
  | { kind: 'create' }
  | { kind: 'delete'; client: ApiClient }
  | { kind: 'rotate'; client: ApiClient };

function ClientsPage() {
  const me = useMe();
  const [open, setOpen] = useState<Open>();
  const [reloadKey, setReloadKey] = useState(0);
  const [mineOnly, setMineOnly] = useState(false);
  const reload = () => setReloadKey((k) => k + 1);
  const manageAll = can(me, 'api.clients.manage_all');
  const mayCreate = can(me, 'api.clients.create');

  const columns: Column<ApiClient>[] = [
    {
      header: 'Name',
      cell: (c) => (
        <strong id={`client-${c.id}-name`} class="cell-name">
          {c.name}
        </strong>
      ),
    },
    { header: 'Description', cell: (c) => c.description || <span class="muted">—</span> },
    {
      header: 'Client ID',
      className: 'nowrap',
      cell: (c) => (
        <code title="The first characters of the client ID; the whole ID was shown once at creation">
          {c.id}…
        </code>
      ),
    },
    {
      header: 'Scopes',
      cell: (c) => (
        <span class="scopes">
          {c.scopes.map((s) => (
            <code key={s}>{s}</code>
          ))}
        </span>
      ),
    },
    { header: 'Owner', cell: (c) => c.owner.email },
    { header: 'Created', className: 'nowrap', cell: (c) => <Time value={c.createdAt} dateOnly /> },
    { header: 'Last used', className: 'nowrap', cell: (c) => <Time value={c.lastUsedAt} none="never" /> },
    { header: 'Status', cell: (c) => <Status value={c.status} /> },
    {
      header: 'Actions',
      cell: (c) => {
        const owner = c.owner.id === me?.user.id;
        const items =
          c.status !== 'active'
            ? []
            : [
                ...(owner
                  ? [{ label: 'Rotate secret', onSelect: () => setOpen({ kind: 'rotate', client: c }) }]
                  : []),
                ...(owner || manageAll
                  ? [
                      {
                        label: 'Delete',
                        danger: true,
                        onSelect: () => setOpen({ kind: 'delete', client: c }),
                      },
                    ]
                  : []),
              ];
        return items.length > 0 ? (
          <Menu label="More" items={items} describedBy={`client-${c.id}-name`} />
        ) : null;
      },
    },
  ];

  return (
    <>
      <div class="page-actions">
        <p class="grow muted">
          {manageAll && !mineOnly
            ? 'All API clients of this Gatehouse.'
            : 'Your API clients. Programs trade a client ID and secret for access tokens at /oauth/token.'}
        </p>
        {mayCreate ? (
          <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
            Create
          </button>
        ) : null}
      </div>
      <Table
        caption="API clients"
        columns={columns}
        rowKey={(c) => c.id}
        searchLabel="Search by name"
        reloadKey={reloadKey}
        filterKey={mineOnly}
        empty="No API clients yet."
        toolbar={
          manageAll ? (
            <label class="choice">
              <input
                type="checkbox"
                checked={mineOnly}
                onChange={(e) => setMineOnly((e.target as HTMLInputElement).checked)}
              />
              <span>Only mine</span>
            </label>
          ) : null
        }
        load={({ limit, cursor, search }) =>
          unwrap(
            api.GET('/api/admin/v1/clients', {
              params: {
                query: {
                  limit,
                  cursor,
                  name: search === '' ? undefined : search,
                  owner: mineOnly && me ? String(me.user.id) : undefined,
                },
              },
            }),
          )
        }
      />
      {open?.kind === 'create' ? (
        <CreateClientDialog onClose={() => setOpen(undefined)} onCreated={reload} />
      ) : null}
      {open?.kind === 'rotate' ? (
        <RotateSecretDialog client={open.client} onClose={() => setOpen(undefined)} onDone={reload} />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete the API client “${open.client.name}”?`}
          confirmLabel="Revoke"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.POST('/api/admin/v1/clients/{id}/revoke', { params: { path: { id: open.client.id } } }),
            );
            setOpen(undefined);
            reload();
          }}
        >
          <p>
            <strong>This cannot be undone.</strong> “{open.client.name}” ({open.client.id}…) is revoked for
            good and its secret stops working.
          </p>
          <p>
            Access tokens already issued to it stop working at Gatehouse at once (introspection and the APIs
            behind Gatehouse refuse them), and at offline verifiers, which check the token's signature
            themselves, when they expire: within {duration(open.client.tokenTtlSeconds)}.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/clients',
  title: 'API Clients',
  section: 'Authentication',
  order: 10,
  anyOf: ['api.clients.create', 'api.clients.manage_all'],
  component: ClientsPage,
};
