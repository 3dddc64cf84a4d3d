/**
 * Admin › Security › Access Tokens (spec 000): developer access tokens (`gh_dev_…`). Generate one
 * (description, the user it acts as, an expiry in days or "never", chosen explicitly), see it
 * once with a copy button; the searchable list; revoke with confirmation.
 */
import { useState } from 'preact/hooks';
import { type AccessToken, ApiError, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { SecretField } from '../components/SecretField';
import { type Column, Table } from '../components/Table';
import { Status, Time } from '../components/Time';
import type { PageDefinition } from '../pages';
import { can, useMe } from '../session';

function GenerateTokenDialog({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const me = useMe();
  const forOthers = can(me, 'api.clients.manage_all');
  const [description, setDescription] = useState('');
  const [user, setUser] = useState('');
  const [expiry, setExpiry] = useState<'days' | 'never'>();
  const [days, setDays] = useState('90');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  // The token, held only while this dialog is open.
  const [token, setToken] = useState<string>();

  const close = () => {
    setToken(undefined);
    onClose();
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    if (expiry === undefined) {
      setError(
        new ApiError(
          0,
          'expiry_required',
          'Choose when the token expires: after a number of days, or never.',
        ),
      );
      return;
    }
    setBusy(true);
    try {
      const answer = await unwrap(
        api.POST('/api/admin/v1/access-tokens', {
          body: {
            description,
            user: user.trim() === '' ? undefined : user.trim(),
            ...(expiry === 'never' ? { never: true } : { expiresInDays: Number(days) }),
          },
        }),
      );
      setToken(answer.token);
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  if (token !== undefined) {
    return (
      <Dialog title="Access token generated" onClose={close} wide>
        <div class="banner banner-warning">
          <strong>This is the only time the token is shown.</strong> Copy it now: Gatehouse stores only a hash
          of it. Send it as <code>Authorization: Bearer …</code> or <code>X-DOMO-Developer-Token</code>.
        </div>
        <SecretField label="Access token" value={token} />
        <div class="actions">
          <button type="button" class="primary" onClick={close}>
            Done
          </button>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog
      title="Generate access token"
      onClose={close}
      description="A developer access token acts as its user, with the grants that user holds at the time of each call."
    >
      <form onSubmit={submit}>
        <ErrorBanner error={error} />
        <div class="field">
          <label for="token-description">Description</label>
          {/* The dialog opens on its first field (WAI-ARIA dialog pattern). */}
          <input
            autoFocus
            id="token-description"
            required
            maxLength={1000}
            value={description}
            onInput={(e) => setDescription((e.target as HTMLInputElement).value)}
            autocomplete="off"
          />
        </div>
        {forOthers ? (
          <div class="field">
            <label for="token-user">User</label>
            <input
              id="token-user"
              type="text"
              value={user}
              placeholder={me?.user.email}
              onInput={(e) => setUser((e.target as HTMLInputElement).value)}
              aria-describedby="token-user-hint"
              autocomplete="off"
            />
            <p class="hint" id="token-user-hint">
              The email or id of the user the token acts as (a service account, for example). Empty: yourself.
            </p>
          </div>
        ) : null}
        <fieldset>
          <legend>Expires</legend>
          <label class="choice">
            <input
              type="radio"
              name="expiry"
              checked={expiry === 'days'}
              onChange={() => setExpiry('days')}
            />
            <span>After a number of days</span>
          </label>
          {expiry === 'days' ? (
            <div class="field indent">
              <label for="token-days">Days</label>
              <input
                id="token-days"
                type="number"
                inputMode="numeric"
                min={1}
                max={3650}
                required
                value={days}
                onInput={(e) => setDays((e.target as HTMLInputElement).value)}
              />
            </div>
          ) : null}
          <label class="choice">
            <input
              type="radio"
              name="expiry"
              checked={expiry === 'never'}
              onChange={() => setExpiry('never')}
            />
            <span>Never (until revoked)</span>
          </label>
        </fieldset>
        <div class="actions">
          <button type="button" onClick={close} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Generate
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function AccessTokensPage() {
  const me = useMe();
  const [generating, setGenerating] = useState(false);
  const [revoking, setRevoking] = useState<AccessToken>();
  const [reloadKey, setReloadKey] = useState(0);
  const [activeOnly, setActiveOnly] = useState(false);
  const reload = () => setReloadKey((k) => k + 1);

  const columns: Column<AccessToken>[] = [
    {
      header: 'Token',
      className: 'nowrap',
      cell: (t) => (
        <code id={`token-${t.id}-prefix`} title="The first characters of the token">
          {t.prefix}…
        </code>
      ),
    },
    { header: 'Description', cell: (t) => t.description },
    { header: 'User', cell: (t) => t.user.email },
    { header: 'Created', className: 'nowrap', cell: (t) => <Time value={t.createdAt} dateOnly /> },
    {
      header: 'Expires',
      className: 'nowrap',
      cell: (t) => <Time value={t.expiresAt} none="never" dateOnly />,
    },
    { header: 'Last used', className: 'nowrap', cell: (t) => <Time value={t.lastUsedAt} none="never" /> },
    { header: 'Status', cell: (t) => <Status value={t.status} /> },
    {
      header: 'Actions',
      cell: (t) =>
        t.status === 'active' ? (
          <button type="button" onClick={() => setRevoking(t)} aria-describedby={`token-${t.id}-prefix`}>
            Revoke
          </button>
        ) : null,
    },
  ];

  return (
    <>
      <div class="page-actions">
        <p class="grow muted">
          {can(me, 'api.clients.manage_all')
            ? 'Every developer access token of this Gatehouse.'
            : 'The tokens you made, and those that act as you.'}
        </p>
        {can(me, 'access_tokens.create') ? (
          <button type="button" class="primary" onClick={() => setGenerating(true)}>
            Generate token
          </button>
        ) : null}
      </div>
      <Table
        caption="Access tokens"
        columns={columns}
        rowKey={(t) => t.id}
        searchLabel="Search by description or user"
        reloadKey={reloadKey}
        filterKey={activeOnly}
        empty="No access tokens yet."
        toolbar={
          <label class="choice">
            <input
              type="checkbox"
              checked={activeOnly}
              onChange={(e) => setActiveOnly((e.target as HTMLInputElement).checked)}
            />
            <span>Only tokens that still work</span>
          </label>
        }
        load={({ limit, cursor, search }) =>
          unwrap(
            api.GET('/api/admin/v1/access-tokens', {
              params: {
                query: {
                  limit,
                  cursor,
                  q: search === '' ? undefined : search,
                  active: activeOnly ? true : undefined,
                },
              },
            }),
          )
        }
      />
      {generating ? <GenerateTokenDialog onClose={() => setGenerating(false)} onCreated={reload} /> : null}
      {revoking ? (
        <ConfirmDialog
          title={`Revoke the access token ${revoking.prefix}…?`}
          confirmLabel="Revoke"
          onClose={() => setRevoking(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.POST('/api/admin/v1/access-tokens/{id}/revoke', { params: { path: { id: revoking.id } } }),
            );
            setRevoking(undefined);
            reload();
          }}
        >
          <p>
            <strong>This cannot be undone.</strong> “{revoking.description}”, acting as {revoking.user.email},
            stops working from the very next request.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/access-tokens',
  title: 'Access Tokens',
  section: 'Security',
  order: 20,
  anyOf: [],
  component: AccessTokensPage,
};
