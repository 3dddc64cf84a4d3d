/**
 * Admin › People › Users: the list (server-side search and paging, status and role filters),
 * create (with a temporary password shown once), change role, disable / enable, and reset the
 * password (a generated one, shown once; the user must change it at the next sign-in); below
 * it, the groups and their members (components/GroupsPanel.tsx).
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { type Answer, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { GroupsPanel } from '../components/GroupsPanel';
import { TextField } from '../components/TextField';
import { useChanges } from '../components/use-changes';
import { Menu } from '../components/Menu';
import { SecretField } from '../components/SecretField';
import { Table } from '../components/Table';
import { Status, Time } from '../components/Time';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { useMe } from '../session';

type UserItem = Answer<'/api/admin/v1/users', 'get'>['items'][number];
type RoleItem = Answer<'/api/admin/v1/roles', 'get'>['items'][number];

type Open =
  | { kind: 'create' }
  | { kind: 'role'; user: UserItem }
  | { kind: 'disable'; user: UserItem }
  | { kind: 'reset'; user: UserItem }
  | { kind: 'password'; user: UserItem; password: string; created: boolean };

function RoleSelect({
  label,
  roles,
  value,
  onChange,
  includeAny,
  autoFocus,
}: {
  label: string;
  roles: RoleItem[];
  value: string;
  onChange: (v: string) => void;
  includeAny?: boolean;
  autoFocus?: boolean;
}) {
  const id = useId();
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        value={value}
        // biome-ignore lint/a11y/noAutofocus: only the change-role dialog's one field asks for it.
        autoFocus={autoFocus}
        onChange={(e) => onChange((e.target as HTMLSelectElement).value)}
      >
        {includeAny ? <option value="">Any role</option> : null}
        {roles.map((role) => (
          <option key={role.id} value={String(role.id)}>
            {role.name}
          </option>
        ))}
      </select>
    </div>
  );
}

function CreateUser({
  roles,
  onCreated,
  onClose,
}: {
  roles: RoleItem[];
  onCreated: (user: UserItem, password: string | undefined) => void;
  onClose: () => void;
}) {
  const [email, setEmail] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [role, setRole] = useState(
    String(roles.find((r) => r.name === 'Participant')?.id ?? roles[0]?.id ?? ''),
  );
  const [temporary, setTemporary] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const temporaryId = useId();

  const create = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const user = await unwrap(
        api.POST('/api/admin/v1/users', {
          body: {
            email: email.trim(),
            ...(displayName.trim() ? { displayName: displayName.trim() } : {}),
            ...(role ? { role: Number(role) } : {}),
          },
        }),
      );
      let password: string | undefined;
      if (temporary) {
        const reset = await unwrap(
          api.POST('/api/admin/v1/users/{id}/password', {
            params: { path: { id: String(user.id) } },
            body: {},
          }),
        );
        password = reset.password;
      }
      onCreated(user, password);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <Dialog title="Create user" onClose={onClose}>
      <form onSubmit={create}>
        <ErrorBanner error={error} />
        <TextField label="Email" type="email" value={email} onInput={setEmail} required autoFocus />
        <TextField label="Display name" value={displayName} onInput={setDisplayName} />
        <RoleSelect label="Role" roles={roles} value={role} onChange={setRole} />
        <div class="choice">
          <input
            id={temporaryId}
            type="checkbox"
            checked={temporary}
            onChange={(e) => setTemporary((e.target as HTMLInputElement).checked)}
          />
          <label for={temporaryId}>
            Give a temporary password now (shown once; they choose their own at first sign-in)
          </label>
        </div>
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
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

function ChangeRole({
  user,
  roles,
  onChanged,
  onClose,
}: {
  user: UserItem;
  roles: RoleItem[];
  onChanged: () => void;
  onClose: () => void;
}) {
  const [role, setRole] = useState(String(user.role.id));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await unwrap(
        api.PATCH('/api/admin/v1/users/{id}', {
          params: { path: { id: String(user.id) } },
          body: { role: Number(role) },
        }),
      );
      onChanged();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Change the role of ${user.email}`} onClose={onClose}>
      <form onSubmit={save}>
        <ErrorBanner error={error} />
        <RoleSelect label="Role" roles={roles} value={role} onChange={setRole} autoFocus />
        <p class="hint">
          The new grants count from their next request. You can give only roles whose grants you hold.
        </p>
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            Change role
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function UsersPage() {
  const me = useMe();
  const [roles, setRoles] = useState<RoleItem[]>([]);
  const [status, setStatus] = useState('');
  const [roleFilter, setRoleFilter] = useState('');
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const [error, setError] = useState<unknown>();
  const statusId = useId();
  const emailIds = useId();

  useEffect(() => {
    unwrap(api.GET('/api/admin/v1/roles'))
      .then((answer) => setRoles(answer.items))
      .catch(setError);
  }, []);

  const enable = async (user: UserItem) => {
    setError(undefined);
    try {
      await unwrap(
        api.POST('/api/admin/v1/users/{id}/enable', { params: { path: { id: String(user.id) } } }),
      );
      changed(`${user.email} is enabled.`);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <>
      <ErrorBanner error={error} />
      <div class="page-actions">
        <span class="grow" />
        <button
          type="button"
          class="primary"
          onClick={() => setOpen({ kind: 'create' })}
          disabled={roles.length === 0}
        >
          Create user
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<UserItem>
        caption="Users"
        rowKey={(user) => user.id}
        searchLabel="Search by email or name"
        reloadKey={reloadKey}
        filterKey={`${status}|${roleFilter}`}
        toolbar={
          <>
            <div class="search">
              <label for={statusId}>Status</label>
              <select
                id={statusId}
                value={status}
                onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}
              >
                <option value="">Any status</option>
                <option value="active">Active</option>
                <option value="disabled">Disabled</option>
              </select>
            </div>
            <div class="search">
              <RoleSelect label="Role" roles={roles} value={roleFilter} onChange={setRoleFilter} includeAny />
            </div>
          </>
        }
        load={({ limit, cursor, search }) =>
          unwrap(
            api.GET('/api/admin/v1/users', {
              params: {
                query: {
                  limit,
                  ...(cursor ? { cursor } : {}),
                  ...(search ? { q: search } : {}),
                  ...(status === 'active' || status === 'disabled' ? { status } : {}),
                  ...(roleFilter ? { role: roleFilter } : {}),
                },
              },
            }),
          )
        }
        columns={[
          { header: 'Email', cell: (user) => <span id={`${emailIds}-${user.id}`}>{user.email}</span> },
          { header: 'Name', cell: (user) => user.displayName },
          { header: 'Role', cell: (user) => user.role.name },
          { header: 'Status', cell: (user) => <Status value={user.status} /> },
          { header: 'Created', cell: (user) => <Time value={user.createdAt} />, className: 'nowrap' },
          {
            header: 'Actions',
            cell: (user) =>
              user.id === me?.user.id ? (
                <span class="muted">you</span>
              ) : (
                <Menu
                  label="More"
                  describedBy={`${emailIds}-${user.id}`}
                  items={[
                    { label: 'Change role', onSelect: () => setOpen({ kind: 'role', user }) },
                    user.status === 'active'
                      ? { label: 'Disable', danger: true, onSelect: () => setOpen({ kind: 'disable', user }) }
                      : { label: 'Enable', onSelect: () => void enable(user) },
                    { label: 'Reset password', onSelect: () => setOpen({ kind: 'reset', user }) },
                  ]}
                />
              ),
          },
        ]}
      />
      <GroupsPanel />
      {open?.kind === 'create' ? (
        <CreateUser
          roles={roles}
          onClose={() => setOpen(undefined)}
          onCreated={(user, password) =>
            changed(
              `${user.email} was created.`,
              password ? { kind: 'password', user, password, created: true } : undefined,
            )
          }
        />
      ) : null}
      {open?.kind === 'role' ? (
        <ChangeRole
          user={open.user}
          roles={roles}
          onClose={() => setOpen(undefined)}
          onChanged={() => changed(`${open.user.email} has a new role.`)}
        />
      ) : null}
      {open?.kind === 'disable' ? (
        <ConfirmDialog
          title={`Disable ${open.user.email}?`}
          confirmLabel="Disable"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.POST('/api/admin/v1/users/{id}/disable', {
                params: { path: { id: String(open.user.id) } },
              }),
            );
            changed(`${open.user.email} is disabled.`);
          }}
        >
          <p>
            They are signed out everywhere, and their developer tokens and API clients stop working at
            Gatehouse at once. You can enable them again later.
          </p>
        </ConfirmDialog>
      ) : null}
      {open?.kind === 'reset' ? (
        <ConfirmDialog
          title={`Reset the password of ${open.user.email}?`}
          confirmLabel="Reset password"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            const answer = await unwrap(
              api.POST('/api/admin/v1/users/{id}/password', {
                params: { path: { id: String(open.user.id) } },
                body: {},
              }),
            );
            setOpen({ kind: 'password', user: open.user, password: answer.password ?? '', created: false });
          }}
        >
          <p>
            Gatehouse makes a temporary password, shown once. Their current password stops working and they
            must choose a new one when they sign in.
          </p>
        </ConfirmDialog>
      ) : null}
      {open?.kind === 'password' ? (
        <Dialog
          title={open.created ? `User ${open.user.email} created` : `New password for ${open.user.email}`}
          onClose={() => setOpen(undefined)}
        >
          <div class="banner banner-warning">
            This is the only time the temporary password is shown. Pass it on safely; they must change it at
            their first sign-in.
          </div>
          <SecretField label="Temporary password" value={open.password} />
          <div class="actions">
            <button type="button" class="primary" onClick={() => setOpen(undefined)}>
              Done
            </button>
          </div>
        </Dialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/users',
  title: 'Users',
  section: 'People',
  order: 40,
  anyOf: ['users.manage'],
  component: UsersPage,
};
