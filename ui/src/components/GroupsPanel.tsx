/**
 * Admin › People › Users › Groups: the groups (Domo's Groups API, /v1/groups, with the session),
 * create, rename (name and description), delete, and the members: listed with their email and
 * name, added by email, removed one by one. Memberships are used by PDP policies and workflow
 * sharing; deleting a group ends its memberships only, never the users.
 */
import { useState } from 'preact/hooks';
import { type Answer, ApiError, api, unwrap } from '../api/client';
import { ConfirmDialog } from './ConfirmDialog';
import { Dialog } from './Dialog';
import { ErrorBanner } from './ErrorBanner';
import { Menu } from './Menu';
import { Table } from './Table';
import { TextField } from './TextField';
import { Time } from './Time';
import { useChanges } from './use-changes';

type Group = Answer<'/v1/groups/{id}', 'get'>;
type Member = Answer<'/v1/users/{id}', 'get'>;

type Open =
  | { kind: 'create' }
  | { kind: 'edit'; group: Group }
  | { kind: 'delete'; group: Group }
  | { kind: 'members'; group: Group };

/** Offset paging over an API that answers arrays: one more than a page says whether there is a next. */
async function offsetPage<T>(
  cursor: string | undefined,
  limit: number,
  fetchPage: (offset: number, limit: number) => Promise<T[]>,
) {
  const offset = Number(cursor ?? 0);
  const rows = await fetchPage(offset, limit + 1);
  return { items: rows.slice(0, limit), nextCursor: rows.length > limit ? String(offset + limit) : null };
}

function GroupForm({
  group,
  onSaved,
  onClose,
}: {
  group?: Group;
  onSaved: (saved: Group) => void;
  onClose: () => void;
}) {
  const [name, setName] = useState(group?.name ?? '');
  const [description, setDescription] = useState(group?.description ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const save = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body = { name: name.trim(), description };
      const saved = group
        ? await unwrap(api.PUT('/v1/groups/{id}', { params: { path: { id: group.id } }, body }))
        : await unwrap(api.POST('/v1/groups', { body }));
      onSaved(saved);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };
  return (
    <Dialog title={group ? `Rename group ${group.name}` : 'Create group'} onClose={onClose}>
      <form onSubmit={save}>
        <ErrorBanner error={error} />
        <TextField label="Group name" value={name} onInput={setName} required autoFocus />
        <TextField label="Description" value={description} onInput={setDescription} />
        <div class="actions">
          <button type="button" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {group ? 'Save' : 'Create'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The user with exactly this email (the admin API's search matches parts of emails and names). */
async function userByEmail(email: string): Promise<{ id: number }> {
  const wanted = email.trim().toLowerCase();
  const found = await unwrap(api.GET('/api/admin/v1/users', { params: { query: { q: wanted, limit: 25 } } }));
  const user = found.items.find((u) => u.email.toLowerCase() === wanted);
  if (!user) throw new ApiError(404, 'not_found', `No user has the email ${email.trim()}.`);
  return user;
}

function Members({
  group,
  onChanged,
  onClose,
}: {
  group: Group;
  onChanged: () => void;
  onClose: () => void;
}) {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [reloadKey, setReloadKey] = useState(0);
  const [notice, setNotice] = useState('');

  const change = async (what: () => Promise<unknown>, said: string) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      setNotice(said);
      setReloadKey((n) => n + 1);
      onChanged();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  const add = async (event: Event) => {
    event.preventDefault();
    const added = await change(async () => {
      const user = await userByEmail(email);
      await unwrap(
        api.PUT('/v1/groups/{id}/users/{userId}', { params: { path: { id: group.id, userId: user.id } } }),
      );
    }, `${email.trim()} is a member of ${group.name}.`);
    if (added) setEmail('');
  };
  const remove = (member: Member) =>
    change(
      () =>
        unwrap(
          api.DELETE('/v1/groups/{id}/users/{userId}', {
            params: { path: { id: group.id, userId: member.id } },
          }),
        ),
      `${member.email} is no longer a member of ${group.name}.`,
    );

  return (
    <Dialog title={`Members of ${group.name}`} onClose={onClose} wide>
      <form onSubmit={add} class="page-actions">
        <span class="grow">
          <TextField
            label="Add a member by email"
            type="email"
            value={email}
            onInput={setEmail}
            required
            autoFocus
          />
        </span>
        <button type="submit" class="primary" disabled={busy}>
          Add member
        </button>
      </form>
      <ErrorBanner error={error} />
      <output class="muted notice">{notice}</output>
      <Table<Member>
        caption={`Members of ${group.name}`}
        rowKey={(member) => member.id}
        reloadKey={reloadKey}
        pageSize={10}
        empty="No members yet."
        load={({ limit, cursor }) =>
          offsetPage(cursor, limit, async (offset, size) => {
            const ids = await unwrap(
              api.GET('/v1/groups/{id}/users', {
                params: { path: { id: group.id }, query: { offset, limit: size } },
              }),
            );
            return Promise.all(
              ids.map((id) => unwrap(api.GET('/v1/users/{id}', { params: { path: { id } } }))),
            );
          })
        }
        columns={[
          { header: 'Email', cell: (member) => member.email },
          { header: 'Name', cell: (member) => member.name },
          {
            header: 'Actions',
            cell: (member) => (
              <button
                type="button"
                onClick={() => void remove(member)}
                disabled={busy}
                aria-label={`Remove ${member.email}`}
              >
                Remove
              </button>
            ),
          },
        ]}
      />
      <div class="actions">
        <button type="button" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

export function GroupsPanel() {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const [membersChanged, setMembersChanged] = useState(0);

  return (
    <section class="groups" aria-labelledby="groups-heading">
      <div class="page-actions">
        <h2 id="groups-heading" class="grow">
          Groups
        </h2>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
          Create group
        </button>
      </div>
      <p class="muted">Groups gather users for personalized data permissions and workflow sharing.</p>
      <output class="muted notice">{notice}</output>
      <Table<Group>
        caption="Groups"
        rowKey={(group) => group.id}
        reloadKey={`${reloadKey}|${membersChanged}`}
        empty="No groups yet."
        load={({ limit, cursor }) =>
          offsetPage(cursor, limit, (offset, size) =>
            unwrap(api.GET('/v1/groups', { params: { query: { offset, limit: size } } })),
          )
        }
        columns={[
          { header: 'Name', cell: (group) => <span id={`group-${group.id}`}>{group.name}</span> },
          { header: 'Description', cell: (group) => group.description || '—' },
          { header: 'Members', cell: (group) => String(group.memberCount), className: 'nowrap numeric' },
          { header: 'Created', cell: (group) => <Time value={group.createdAt} />, className: 'nowrap' },
          {
            header: 'Actions',
            cell: (group) => (
              <Menu
                label="More"
                describedBy={`group-${group.id}`}
                items={[
                  { label: 'Members', onSelect: () => setOpen({ kind: 'members', group }) },
                  { label: 'Rename', onSelect: () => setOpen({ kind: 'edit', group }) },
                  { label: 'Delete', danger: true, onSelect: () => setOpen({ kind: 'delete', group }) },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'create' || open?.kind === 'edit' ? (
        <GroupForm
          group={open.kind === 'edit' ? open.group : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved) =>
            changed(open.kind === 'edit' ? `The group is now ${saved.name}.` : `${saved.name} was created.`)
          }
        />
      ) : null}
      {open?.kind === 'members' ? (
        <Members
          group={open.group}
          onClose={() => setOpen(undefined)}
          onChanged={() => setMembersChanged((n) => n + 1)}
        />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete group ${open.group.name}?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(api.DELETE('/v1/groups/{id}', { params: { path: { id: open.group.id } } }));
            changed(`${open.group.name} was deleted.`);
          }}
        >
          <p>
            Its{' '}
            {open.group.memberCount === 1
              ? 'one membership ends'
              : `${open.group.memberCount} memberships end`}
            ; the users stay. Data permissions and workflow shares given to the group no longer apply to them.
          </p>
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
