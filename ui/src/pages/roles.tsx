/**
 * Admin › People › Roles: system roles read-only with Copy; custom roles created, copied, renamed,
 * given or relieved of grants (a check-box per grant with its name and description) and deleted;
 * the users holding each role (GET /users?role=). The server's no-escalation answer (403
 * escalation_denied: you cannot give out a grant you lack) is shown as its own message.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { type Answer, api, type Grant, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { TextField } from '../components/TextField';
import { useChanges } from '../components/use-changes';
import { Table } from '../components/Table';
import { Status } from '../components/Time';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { can, useMe } from '../session';

type Role = Answer<'/api/admin/v1/roles/{id}', 'get'>;
type GrantInfo = Answer<'/api/admin/v1/grants', 'get'>['items'][number];
type UserItem = Answer<'/api/admin/v1/users', 'get'>['items'][number];

type Open =
  | { kind: 'view'; role: Role }
  | { kind: 'edit'; role: Role }
  | { kind: 'new' }
  | { kind: 'copy'; role: Role }
  | { kind: 'delete'; role: Role }
  | { kind: 'users'; role: Role };

function GrantChoices({
  catalog,
  checked,
  onChange,
  readOnly,
}: {
  catalog: GrantInfo[];
  checked: ReadonlySet<Grant>;
  onChange?: (next: Set<Grant>) => void;
  readOnly?: boolean;
}) {
  const prefix = useId();
  return (
    <fieldset>
      <legend>Grants</legend>
      {catalog.map((grant) => {
        const id = `${prefix}-${grant.id}`;
        return (
          <div class="choice" key={grant.id}>
            <input
              id={id}
              type="checkbox"
              checked={checked.has(grant.id)}
              disabled={readOnly}
              aria-describedby={`${id}-about`}
              onChange={(event) => {
                const next = new Set(checked);
                if ((event.target as HTMLInputElement).checked) next.add(grant.id);
                else next.delete(grant.id);
                onChange?.(next);
              }}
            />
            <span>
              <label for={id}>{grant.name}</label> <code class="muted">{grant.id}</code>
              <span class="hint" id={`${id}-about`}>
                {grant.description}
              </span>
            </span>
          </div>
        );
      })}
    </fieldset>
  );
}

/** New role, or a custom role's name, description and grants; Save sends only what changed. */
function RoleEditor({
  role,
  catalog,
  onSaved,
  onClose,
}: {
  role?: Role;
  catalog: GrantInfo[];
  onSaved: () => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(role?.name ?? '');
  const [description, setDescription] = useState(role?.description ?? '');
  const [grants, setGrants] = useState<Set<Grant>>(new Set(role?.grants ?? []));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      if (!role) {
        await unwrap(
          api.POST('/api/admin/v1/roles', { body: { name: name.trim(), description, grants: [...grants] } }),
        );
      } else {
        const path = { id: String(role.id) };
        if (name.trim() !== role.name || description !== role.description) {
          await unwrap(
            api.PATCH('/api/admin/v1/roles/{id}', {
              params: { path },
              body: { name: name.trim(), description },
            }),
          );
        }
        const added = [...grants].filter((g) => !role.grants.includes(g));
        if (added.length > 0) {
          await unwrap(
            api.POST('/api/admin/v1/roles/{id}/grants', { params: { path }, body: { grants: added } }),
          );
        }
        for (const removed of role.grants.filter((g) => !grants.has(g))) {
          await unwrap(
            api.DELETE('/api/admin/v1/roles/{id}/grants/{grantId}', {
              params: { path: { ...path, grantId: removed } },
            }),
          );
        }
      }
      onSaved();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <Dialog title={role ? `Edit role ${role.name}` : 'New role'} onClose={onClose} wide>
      <form onSubmit={save}>
        <ErrorBanner error={error} />
        <TextField label="Name" value={name} onInput={setName} required autoFocus />
        <TextField label="Description" value={description} onInput={setDescription} />
        <GrantChoices catalog={catalog} checked={grants} onChange={setGrants} />
        <p class="hint">You can give out only grants you hold yourself.</p>
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {role ? 'Save' : 'Create role'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function CopyRole({
  role,
  onCopied,
  onClose,
}: {
  role: Role;
  onCopied: (copy: Role) => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(`${role.name} copy`);
  const [description, setDescription] = useState(role.description);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const copy = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const created = await unwrap(
        api.POST('/api/admin/v1/roles/{id}/copy', {
          params: { path: { id: String(role.id) } },
          body: { name: name.trim(), description },
        }),
      );
      onCopied(created);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Copy role ${role.name}`}
      description="The copy is a custom role with the same grants; change its grants after copying."
      onClose={onClose}
    >
      <form onSubmit={copy}>
        <ErrorBanner error={error} />
        <TextField label="Name of the copy" value={name} onInput={setName} required autoFocus />
        <TextField label="Description" value={description} onInput={setDescription} />
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Copy
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function RoleUsers({ role, onClose }: { role: Role; onClose: () => void }) {
  return (
    <Dialog title={`Users with role ${role.name}`} onClose={onClose} wide>
      <Table<UserItem>
        caption={`Users with role ${role.name}`}
        rowKey={(user) => user.id}
        searchLabel="Search users"
        pageSize={10}
        empty="Nobody holds this role."
        load={({ limit, cursor, search }) =>
          unwrap(
            api.GET('/api/admin/v1/users', {
              params: {
                query: {
                  role: String(role.id),
                  limit,
                  ...(cursor ? { cursor } : {}),
                  ...(search ? { q: search } : {}),
                },
              },
            }),
          )
        }
        columns={[
          { header: 'Email', cell: (user) => user.email },
          { header: 'Name', cell: (user) => user.displayName },
          { header: 'Status', cell: (user) => <Status value={user.status} /> },
        ]}
      />
      <div class="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

function RolesPage() {
  const me = useMe();
  const manage = can(me, 'roles.manage');
  const seeUsers = can(me, 'users.manage');
  const [catalog, setCatalog] = useState<GrantInfo[]>([]);
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const [error, setError] = useState<unknown>();
  const nameIds = useId();

  useEffect(() => {
    unwrap(api.GET('/api/admin/v1/grants'))
      .then((answer) => setCatalog(answer.items))
      .catch(setError);
  }, []);

  return (
    <>
      <ErrorBanner error={error} />
      <div class="page-actions">
        <p class="grow muted">System roles are read-only; copy one to change it.</p>
        {manage ? (
          <button type="button" class="primary" onClick={() => setOpen({ kind: 'new' })}>
            New role
          </button>
        ) : null}
      </div>
      <output class="muted notice">{notice}</output>
      <Table<Role>
        caption="Roles"
        rowKey={(role) => role.id}
        reloadKey={reloadKey}
        load={async () => ({ items: (await unwrap(api.GET('/api/admin/v1/roles'))).items, nextCursor: null })}
        columns={[
          {
            header: 'Role',
            cell: (role) => (
              <span>
                <strong id={`${nameIds}-${role.id}`}>{role.name}</strong>{' '}
                {role.system ? <span class="badge">system</span> : null}
              </span>
            ),
          },
          { header: 'Description', cell: (role) => role.description || '—' },
          {
            header: 'Grants',
            cell: (role) => `${role.grants.length} of ${catalog.length || '…'}`,
            className: 'nowrap',
          },
          {
            header: 'Users',
            className: 'nowrap',
            cell: (role) =>
              seeUsers ? (
                <button
                  type="button"
                  aria-describedby={`${nameIds}-${role.id}`}
                  onClick={() => setOpen({ kind: 'users', role })}
                >
                  {role.userCount === 1 ? '1 user' : `${role.userCount} users`}
                </button>
              ) : (
                String(role.userCount)
              ),
          },
          {
            header: 'Actions',
            cell: (role) => {
              const describedBy = `${nameIds}-${role.id}`;
              return (
                <span class="row-actions">
                  {role.system || !manage ? (
                    <button
                      type="button"
                      aria-describedby={describedBy}
                      onClick={() => setOpen({ kind: 'view', role })}
                    >
                      View
                    </button>
                  ) : (
                    <button
                      type="button"
                      aria-describedby={describedBy}
                      onClick={() => setOpen({ kind: 'edit', role })}
                    >
                      Edit
                    </button>
                  )}
                  {manage ? (
                    <button
                      type="button"
                      aria-describedby={describedBy}
                      onClick={() => setOpen({ kind: 'copy', role })}
                    >
                      Copy
                    </button>
                  ) : null}
                  {manage && !role.system ? (
                    <button
                      type="button"
                      class="danger"
                      aria-describedby={describedBy}
                      onClick={() => setOpen({ kind: 'delete', role })}
                    >
                      Delete
                    </button>
                  ) : null}
                </span>
              );
            },
          },
        ]}
      />
      {open?.kind === 'view' ? (
        <Dialog
          title={`Role ${open.role.name}`}
          description={
            open.role.system ? 'A system role: read-only. Copy it to make a role you can change.' : undefined
          }
          onClose={() => setOpen(undefined)}
          wide
        >
          <p>{open.role.description}</p>
          <GrantChoices catalog={catalog} checked={new Set(open.role.grants)} readOnly />
          <div class="actions">
            <button type="button" onClick={() => setOpen(undefined)}>
              Close
            </button>
            {manage ? (
              <button
                type="button"
                class="primary"
                onClick={() => setOpen({ kind: 'copy', role: open.role })}
              >
                Copy
              </button>
            ) : null}
          </div>
        </Dialog>
      ) : null}
      {open?.kind === 'edit' || open?.kind === 'new' ? (
        <RoleEditor
          role={open.kind === 'edit' ? open.role : undefined}
          catalog={catalog}
          onClose={() => setOpen(undefined)}
          onSaved={() => changed(open.kind === 'edit' ? `Role ${open.role.name} saved.` : 'Role created.')}
        />
      ) : null}
      {open?.kind === 'copy' ? (
        <CopyRole
          role={open.role}
          onClose={() => setOpen(undefined)}
          onCopied={(copy) =>
            // Straight on to the copy's grants: copying is usually the first step of changing them.
            changed(`Copied ${open.role.name} to ${copy.name}.`, { kind: 'edit', role: copy })
          }
        />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete role ${open.role.name}?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.DELETE('/api/admin/v1/roles/{id}', { params: { path: { id: String(open.role.id) } } }),
            );
            changed(`Role ${open.role.name} deleted.`);
          }}
        >
          <p>
            The role {open.role.name} is removed for good. A role that users still hold cannot be deleted:
            give them another role first.
          </p>
        </ConfirmDialog>
      ) : null}
      {open?.kind === 'users' ? <RoleUsers role={open.role} onClose={() => setOpen(undefined)} /> : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/roles',
  title: 'Roles',
  section: 'People',
  order: 41,
  anyOf: ['roles.manage', 'users.manage'],
  component: RolesPage,
};
