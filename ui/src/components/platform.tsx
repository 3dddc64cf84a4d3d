/**
 * Pieces the API platform pages share (pages/platform-*.tsx): the API's types, the enabled
 * badge and check-box, the collection dialog (the list and a collection's page both edit), and
 * every collection in one list (the access profile dialog's multi-select).
 */
import { useId, useRef, useState } from 'preact/hooks';
import { type Answer, api, unwrap } from '../api/client';
import { Dialog } from './Dialog';
import type { MenuItem } from './Menu';
import { ErrorBanner } from './ErrorBanner';
import { formErrors, useFocusInvalid } from './field-errors';
import { TextField, useFieldNotes } from './TextField';
import './platform.css';

export type Collection = Answer<'/api/admin/v1/platform/collections/{id}', 'get'>;
export type Endpoint = Answer<'/api/admin/v1/platform/collections/{id}/endpoints/{endpointId}', 'get'>;
export type Profile = Answer<'/api/admin/v1/platform/profiles/{id}', 'get'>;
export type IssuedProfile = Answer<'/api/admin/v1/platform/profiles', 'post', 201>;
export type Policy = Answer<'/api/admin/v1/platform/policies/{id}', 'get'>;

export function EnabledBadge({ enabled }: { enabled: boolean }) {
  return (
    <span class={`badge ${enabled ? 'badge-enabled' : 'badge-disabled'}`}>
      {enabled ? 'enabled' : 'disabled'}
    </span>
  );
}

/** A labelled check-box with a hint, and the server's message when it names this field. */
export function CheckField({
  label,
  checked,
  onChange,
  hint,
  error,
}: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
  hint?: string;
  error?: string;
}) {
  const id = useId();
  const { notes, control } = useFieldNotes(hint, error);
  return (
    <div class="field">
      <div class="choice">
        <input
          id={id}
          type="checkbox"
          checked={checked}
          {...control}
          onChange={(e) => onChange((e.target as HTMLInputElement).checked)}
        />
        <label for={id}>{label}</label>
      </div>
      {notes}
    </div>
  );
}

/**
 * A change made straight from a row's menu, without a dialog (Disable, Enable): said in the page's
 * notice when done; a refusal is shown above the list.
 */
export function useRowChange(changed: (message: string) => void) {
  const [error, setError] = useState<unknown>();
  const run = async (message: string, action: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await action();
      changed(message);
    } catch (e) {
      setError(e);
    }
  };
  return { error, run };
}

/** A row menu's Disable or Enable item; `name` is what the notice calls the row. */
export function switchItem(
  name: string,
  enabled: boolean,
  run: (message: string, action: () => Promise<unknown>) => Promise<void>,
  patch: (enabled: boolean) => Promise<unknown>,
): MenuItem {
  const next = !enabled;
  return {
    label: enabled ? 'Disable' : 'Enable',
    onSelect: () => void run(`${name} is ${next ? 'enabled' : 'disabled'}.`, () => patch(next)),
  };
}

/** The form's Cancel and submit buttons. */
export function FormActions({
  busy,
  submit,
  onCancel,
}: {
  busy: boolean;
  submit: string;
  onCancel: () => void;
}) {
  return (
    <div class="actions">
      <button type="button" onClick={onCancel} disabled={busy}>
        Cancel
      </button>
      <button type="submit" class="primary" disabled={busy}>
        {submit}
      </button>
    </div>
  );
}

/**
 * A form's submit: runs `action`, keeps the error for the fields and the banner, and stays busy
 * until it ends. The dialog stays open on a refusal, with what was typed.
 */
export function useSubmit(action: () => Promise<void>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const formRef = useRef<HTMLFormElement>(null);
  useFocusInvalid(formRef, error);
  const onSubmit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await action();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, formRef, onSubmit };
}

const COLLECTION_FIELDS = ['name', 'prefix', 'description', 'upstreamUrl', 'enabled'] as const;

/** Create a collection (no `collection`) or edit one. */
export function CollectionDialog({
  collection,
  onClose,
  onSaved,
}: {
  collection?: Collection;
  onClose: () => void;
  onSaved: (saved: Collection) => void;
}) {
  const [name, setName] = useState(collection?.name ?? '');
  const [prefix, setPrefix] = useState(collection?.prefix ?? '');
  const [description, setDescription] = useState(collection?.description ?? '');
  const [upstreamUrl, setUpstreamUrl] = useState(collection?.upstreamUrl ?? '');
  const [enabled, setEnabled] = useState(collection?.enabled ?? true);
  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const body = { name, prefix, description, upstreamUrl, enabled };
    const saved = collection
      ? await unwrap(
          api.PATCH('/api/admin/v1/platform/collections/{id}', {
            params: { path: { id: String(collection.id) } },
            body,
          }),
        )
      : await unwrap(api.POST('/api/admin/v1/platform/collections', { body }));
    onSaved(saved);
  });
  const errors = formErrors(error, COLLECTION_FIELDS);
  return (
    <Dialog
      title={collection ? `Edit the collection “${collection.name}”` : 'Create API collection'}
      onClose={onClose}
      wide
      description={
        collection
          ? undefined
          : 'A collection puts one upstream service behind Gatehouse: its endpoints are called at /<prefix>/<path>.'
      }
    >
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner} />
        <TextField label="Name" value={name} onInput={setName} required autoFocus error={errors.of('name')} />
        <TextField
          label="Prefix"
          value={prefix}
          onInput={setPrefix}
          required
          mono
          hint={`Calls reach the collection at ${window.location.origin}/${prefix || '<prefix>'}/…: one lower-case path segment.`}
          error={errors.of('prefix')}
        />
        <TextField
          label="Upstream URL"
          type="url"
          value={upstreamUrl}
          onInput={setUpstreamUrl}
          required
          mono
          placeholder="https://orders.internal.example.com/v2"
          hint="The base URL its endpoints are forwarded to."
          error={errors.of('upstreamUrl')}
        />
        <TextField
          label="Description"
          value={description}
          onInput={setDescription}
          rows={2}
          error={errors.of('description')}
        />
        <CheckField
          label="Enabled"
          checked={enabled}
          onChange={setEnabled}
          hint="A disabled collection answers every call with 404, as if it did not exist."
          error={errors.of('enabled')}
        />
        <FormActions busy={busy} submit={collection ? 'Save' : 'Create'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

/** Every item of a cursor-paged list, page after page, up to `most` (for a select or a multi-select). */
async function everyPage<T>(
  load: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>,
  most = 2000,
): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await load(cursor);
    all.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && all.length < most);
  return all;
}

/** Every collection (the access profile dialog's multi-select; a profile may name at most 500). */
export function allCollections(): Promise<Collection[]> {
  return everyPage((cursor) =>
    unwrap(api.GET('/api/admin/v1/platform/collections', { params: { query: { limit: 200, cursor } } })),
  );
}

/** Every policy (the access profile dialog's choice, the profile list's names). */
export function allPolicies(): Promise<Policy[]> {
  return everyPage((cursor) =>
    unwrap(api.GET('/api/admin/v1/platform/policies', { params: { query: { limit: 200, cursor } } })),
  );
}

/** Every access profile (the call log's filter). */
export function allProfiles(): Promise<Profile[]> {
  return everyPage((cursor) =>
    unwrap(api.GET('/api/admin/v1/platform/profiles', { params: { query: { limit: 200, cursor } } })),
  );
}

/** Every endpoint of a collection (the call log's filter). */
export function allEndpoints(collectionId: number): Promise<Endpoint[]> {
  return everyPage((cursor) =>
    unwrap(
      api.GET('/api/admin/v1/platform/collections/{id}/endpoints', {
        params: { path: { id: String(collectionId) }, query: { limit: 200, cursor } },
      }),
    ),
  );
}
