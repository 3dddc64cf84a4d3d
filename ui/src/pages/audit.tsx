/**
 * Admin › Security › Audit log: GET /audit, newest first, filtered by time range, actor, action
 * and target, with cursor paging (Next / Previous). Filters apply on "Apply", not per keystroke.
 */
import { useState } from 'preact/hooks';
import { type Answer, api, type paths, unwrap } from '../api/client';
import { Table } from '../components/Table';
import { TextField } from '../components/TextField';
import { Time } from '../components/Time';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';

type AuditEvent = Answer<'/api/admin/v1/audit', 'get'>['items'][number];
type AuditQuery = NonNullable<paths['/api/admin/v1/audit']['get']['parameters']['query']>;

interface Filters {
  from: string;
  to: string;
  actor: string;
  action: string;
  target: string;
}

const EMPTY: Filters = { from: '', to: '', actor: '', action: '', target: '' };

/** The form's words → the API's query: `cli`, `system`, `client:<id>`, else a user id or email; `type` or `type:id`. */
function auditQuery(filters: Filters): AuditQuery {
  const query: AuditQuery = {};
  if (filters.from) query.from = new Date(filters.from).toISOString();
  if (filters.to) query.to = new Date(filters.to).toISOString();
  const actor = filters.actor.trim();
  if (actor === 'cli' || actor === 'system') query.actorType = actor;
  else if (actor.startsWith('client:'))
    Object.assign(query, { actorType: 'client', actorId: actor.slice(7) });
  else if (actor.startsWith('user:')) Object.assign(query, { actorType: 'user', actorId: actor.slice(5) });
  else if (actor) Object.assign(query, { actorType: 'user', actorId: actor });
  if (filters.action.trim()) query.action = filters.action.trim();
  const target = filters.target.trim();
  if (target) {
    const [type, ...rest] = target.split(':');
    query.targetType = type;
    if (rest.length > 0 && rest.join(':') !== '') query.targetId = rest.join(':');
  }
  return query;
}

function actorText(event: AuditEvent): string {
  if (event.actor.id === null) return event.actor.type;
  return event.actor.label ?? `${event.actor.type}:${event.actor.id}`;
}

function AuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const set = (key: keyof Filters) => (value: string) => setDraft({ ...draft, [key]: value });

  return (
    <>
      <form
        class="panel"
        aria-label="Audit log filters"
        onSubmit={(event) => {
          event.preventDefault();
          setApplied(draft);
        }}
      >
        <div class="filters">
          <TextField label="From" type="datetime-local" value={draft.from} onInput={set('from')} />
          <TextField label="To" type="datetime-local" value={draft.to} onInput={set('to')} />
          <TextField
            label="Actor"
            value={draft.actor}
            onInput={set('actor')}
            hint="A user's email or id, client:<client id>, cli or system"
          />
          <TextField
            label="Action"
            value={draft.action}
            onInput={set('action')}
            hint="An action, or a family: user.*"
          />
          <TextField
            label="Target"
            value={draft.target}
            onInput={set('target')}
            hint="A type, or type:id (role:7)"
          />
        </div>
        <div class="actions">
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setApplied(EMPTY);
            }}
          >
            Clear
          </button>
          <button type="submit" class="primary">
            Apply filters
          </button>
        </div>
      </form>
      <Table<AuditEvent>
        caption="Audit events"
        rowKey={(event) => event.id}
        filterKey={JSON.stringify(applied)}
        pageSize={50}
        empty="No events match these filters."
        load={({ limit, cursor }) =>
          unwrap(
            api.GET('/api/admin/v1/audit', {
              params: { query: { ...auditQuery(applied), limit, ...(cursor ? { cursor } : {}) } },
            }),
          )
        }
        columns={[
          { header: 'Time', cell: (event) => <Time value={event.occurredAt} />, className: 'nowrap' },
          { header: 'Actor', cell: actorText },
          { header: 'Action', cell: (event) => <code>{event.action}</code> },
          {
            header: 'Target',
            cell: (event) => (event.target ? `${event.target.type}:${event.target.id}` : '—'),
          },
          { header: 'Address', cell: (event) => event.ip ?? '—', className: 'nowrap' },
          {
            header: 'Details',
            cell: (event) =>
              Object.keys(event.details).length === 0 ? (
                '—'
              ) : (
                <code class="pre-json">{JSON.stringify(event.details)}</code>
              ),
          },
        ]}
      />
    </>
  );
}

export const page: PageDefinition = {
  path: '/audit',
  title: 'Audit log',
  section: 'Security',
  order: 60,
  anyOf: ['audit.view'],
  component: AuditPage,
};
