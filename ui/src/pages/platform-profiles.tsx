/**
 * Admin › API platform › Access profiles (issue 14): who may call which API collections, and how
 * they prove it (oauth2: an API client of /oauth2/token; token: a static `api-token`; jwt: tokens
 * of an outside identity provider). Create, Edit, Disable / Enable, Regenerate credentials and
 * Delete. A new or regenerated credential is shown once, in a dialog: closing it drops it.
 */
import { useEffect, useId, useState } from 'preact/hooks';
import { ApiError, api, unwrap } from '../api/client';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Dialog } from '../components/Dialog';
import { ErrorBanner } from '../components/ErrorBanner';
import { formErrors } from '../components/field-errors';
import { Menu } from '../components/Menu';
import {
  allCollections,
  allPolicies,
  CheckField,
  type Collection,
  EnabledBadge,
  FormActions,
  type IssuedProfile,
  type Policy,
  type Profile,
  switchItem,
  useRowChange,
  useSubmit,
} from '../components/platform';
import { SecretField } from '../components/SecretField';
import { Table } from '../components/Table';
import { SelectField, TextField } from '../components/TextField';
import { Time } from '../components/Time';
import { useChanges } from '../components/use-changes';
import '../components/page-parts.css';
import type { PageDefinition } from '../pages';
import { can, useMe } from '../session';

type AuthMethod = Profile['authMethod'];
const METHODS: ReadonlyArray<{ id: AuthMethod; label: string; hint: string }> = [
  {
    id: 'oauth2',
    label: 'OAuth 2.0 client credentials',
    hint: 'A client ID and secret the program trades for a token at /oauth2/token (an API client, listed with the others).',
  },
  { id: 'token', label: 'API token', hint: 'A static token the program sends in the api-token header.' },
  {
    id: 'jwt',
    label: 'JWT from an identity provider',
    hint: 'Tokens issued by another identity provider, checked against its JWKS URL, issuer and audience.',
  },
];
const METHOD_LABEL: Record<AuthMethod, string> = { oauth2: 'OAuth 2.0', token: 'API token', jwt: 'JWT' };

const PROFILE_FIELDS = [
  'name',
  'description',
  'authMethod',
  'collections',
  'ipAllowList',
  'enabled',
  'policyId',
  'jwt.jwksUrl',
  'jwt.issuer',
  'jwt.audience',
  'jwt.requiredClaims',
] as const;

/** `{"tier": "gold"}` → the object; an empty box → {}; anything else is refused at its field. */
function parseClaims(text: string): Record<string, string | number | boolean> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ApiError(
      400,
      'validation_error',
      'Required claims must be a JSON object, e.g. {"tier": "gold"}.',
      {
        field: 'jwt.requiredClaims',
      },
    );
  return value as Record<string, string | number | boolean>;
}

function CollectionChoices({
  collections,
  chosen,
  onChange,
  error,
}: {
  collections: Collection[] | undefined;
  chosen: ReadonlySet<number>;
  onChange: (next: ReadonlySet<number>) => void;
  error?: string;
}) {
  const errorId = useId();
  const toggle = (id: number, on: boolean) => {
    const next = new Set(chosen);
    if (on) next.add(id);
    else next.delete(id);
    onChange(next);
  };
  return (
    <fieldset aria-describedby={error ? errorId : undefined}>
      <legend>Collections</legend>
      <p class="hint">The API collections this profile may call; any other answers 403.</p>
      {collections === undefined ? <p>Loading the collections…</p> : null}
      {collections?.length === 0 ? <p class="muted">No API collections yet.</p> : null}
      <div class="checklist">
        {collections?.map((c) => (
          <label class="choice" key={c.id}>
            <input
              type="checkbox"
              checked={chosen.has(c.id)}
              aria-invalid={error ? true : undefined}
              onChange={(e) => toggle(c.id, (e.target as HTMLInputElement).checked)}
            />
            <span>
              {c.name} <code class="muted">/{c.prefix}</code>
            </span>
          </label>
        ))}
      </div>
      {error ? (
        <p id={errorId} class="field-error">
          {error}
        </p>
      ) : null}
    </fieldset>
  );
}

/** Create a profile (no `profile`) or edit one; the authentication method is fixed once made. */
function ProfileDialog({
  profile,
  onClose,
  onSaved,
}: {
  profile?: Profile;
  onClose: () => void;
  onSaved: (saved: Profile, issued?: IssuedProfile) => void;
}) {
  const me = useMe();
  const [collections, setCollections] = useState<Collection[]>();
  const [policies, setPolicies] = useState<Policy[]>();
  const [loadError, setLoadError] = useState<unknown>();
  const [name, setName] = useState(profile?.name ?? '');
  const [description, setDescription] = useState(profile?.description ?? '');
  const [authMethod, setAuthMethod] = useState<AuthMethod>(profile?.authMethod ?? 'token');
  const [chosen, setChosen] = useState<ReadonlySet<number>>(new Set(profile?.collections.map((c) => c.id)));
  const [ipAllowList, setIpAllowList] = useState(profile?.ipAllowList.join('\n') ?? '');
  const [enabled, setEnabled] = useState(profile?.enabled ?? true);
  const [policyId, setPolicyId] = useState(profile?.policyId ? String(profile.policyId) : '');
  const [jwksUrl, setJwksUrl] = useState(profile?.jwt?.jwksUrl ?? '');
  const [issuer, setIssuer] = useState(profile?.jwt?.issuer ?? '');
  const [audience, setAudience] = useState(profile?.jwt?.audience ?? '');
  const [claims, setClaims] = useState(
    profile?.jwt && Object.keys(profile.jwt.requiredClaims).length > 0
      ? JSON.stringify(profile.jwt.requiredClaims)
      : '',
  );
  const methodName = useId();

  useEffect(() => {
    allCollections().then(setCollections).catch(setLoadError);
    allPolicies().then(setPolicies).catch(setLoadError);
  }, []);

  const { busy, error, formRef, onSubmit } = useSubmit(async () => {
    const common = {
      name,
      description,
      // In the list's order, as ids.
      collections: (collections ?? []).filter((c) => chosen.has(c.id)).map((c) => c.id),
      ipAllowList: ipAllowList
        .split(/[\s,]+/)
        .map((rule) => rule.trim())
        .filter((rule) => rule !== ''),
      enabled,
      policyId: policyId === '' ? null : Number(policyId),
      ...(authMethod === 'jwt'
        ? {
            jwt: {
              jwksUrl,
              issuer,
              audience: audience.trim() === '' ? null : audience,
              requiredClaims: parseClaims(claims),
            },
          }
        : {}),
    };
    if (profile) {
      const saved = await unwrap(
        api.PATCH('/api/admin/v1/platform/profiles/{id}', {
          params: { path: { id: String(profile.id) } },
          body: common,
        }),
      );
      onSaved(saved);
    } else {
      const issued = await unwrap(
        api.POST('/api/admin/v1/platform/profiles', { body: { ...common, authMethod } }),
      );
      onSaved(issued.profile, issued);
    }
  });
  const errors = formErrors(error, PROFILE_FIELDS);
  const needsClientGrant = authMethod === 'oauth2' && !profile && !can(me, 'api.clients.create');

  return (
    <Dialog
      title={profile ? `Edit the access profile “${profile.name}”` : 'Create access profile'}
      onClose={onClose}
      wide
    >
      <form ref={formRef} onSubmit={onSubmit} noValidate>
        <ErrorBanner error={errors.banner ?? loadError} />
        <TextField label="Name" value={name} onInput={setName} required autoFocus error={errors.of('name')} />
        <TextField
          label="Description"
          value={description}
          onInput={setDescription}
          rows={2}
          error={errors.of('description')}
        />
        {profile ? (
          <p>
            <strong>Authentication:</strong> {METHODS.find((m) => m.id === profile.authMethod)?.label} (fixed
            once the profile is made)
          </p>
        ) : (
          <fieldset>
            <legend>Authentication</legend>
            {METHODS.map((m) => (
              <label class="choice" key={m.id}>
                <input
                  type="radio"
                  name={methodName}
                  value={m.id}
                  checked={authMethod === m.id}
                  aria-invalid={errors.of('authMethod') ? true : undefined}
                  onChange={() => setAuthMethod(m.id)}
                />
                <span>
                  <strong>{m.label}</strong> <span class="muted">{m.hint}</span>
                </span>
              </label>
            ))}
            {errors.of('authMethod') ? <p class="field-error">{errors.of('authMethod')}</p> : null}
            {needsClientGrant ? (
              <p class="hint">
                An OAuth 2.0 profile is an API client of yours: it needs the grant “Create API Clients” as
                well.
              </p>
            ) : null}
          </fieldset>
        )}
        {authMethod === 'jwt' ? (
          <fieldset>
            <legend>Identity provider</legend>
            <TextField
              label="JWKS URL"
              type="url"
              value={jwksUrl}
              onInput={setJwksUrl}
              required
              mono
              placeholder="https://idp.example.com/.well-known/jwks.json"
              hint="https (plain http only on a loopback host). Its keys are cached and fetched again for an unknown kid."
              error={errors.of('jwt.jwksUrl')}
            />
            <TextField
              label="Issuer"
              value={issuer}
              onInput={setIssuer}
              required
              mono
              hint="The iss its tokens carry."
              error={errors.of('jwt.issuer')}
            />
            <TextField
              label="Audience (optional)"
              value={audience}
              onInput={setAudience}
              mono
              hint="The aud required; empty: not checked."
              error={errors.of('jwt.audience')}
            />
            <TextField
              label="Required claims (optional)"
              value={claims}
              onInput={setClaims}
              rows={2}
              mono
              placeholder='{"tier": "gold"}'
              hint="A JSON object of claim → value the token must carry (equal, or in an array claim)."
              error={errors.of('jwt.requiredClaims')}
            />
          </fieldset>
        ) : null}
        <CollectionChoices
          collections={collections}
          chosen={chosen}
          onChange={setChosen}
          error={errors.of('collections')}
        />
        <TextField
          label="IP allow-list (optional)"
          value={ipAllowList}
          onInput={setIpAllowList}
          rows={3}
          mono
          placeholder="203.0.113.0/24"
          hint="One address or CIDR per line; a call from anywhere else answers 403. Empty: any address."
          error={errors.of('ipAllowList')}
        />
        <SelectField
          label="Policy"
          value={policyId}
          onChange={setPolicyId}
          options={[
            { value: '', label: 'No policy (no limits)' },
            ...(policies ?? []).map((p) => ({ value: String(p.id), label: p.name })),
          ]}
          hint="Rate limit, quota and calls at once (API platform › Policies)."
          error={errors.of('policyId')}
        />
        <CheckField
          label="Enabled"
          checked={enabled}
          onChange={setEnabled}
          hint="A disabled profile's credentials are refused (401) from the next call, on every node."
          error={errors.of('enabled')}
        />
        <FormActions busy={busy} submit={profile ? 'Save' : 'Create'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}

/** The one time a profile's credential is shown, with copy buttons and a ready curl line. */
function CredentialsDialog({ issued, onClose }: { issued: IssuedProfile; onClose: () => void }) {
  const { profile, credentials } = issued;
  const origin = window.location.origin;
  const prefix = profile.collections[0]?.prefix ?? '<prefix>';
  return (
    <Dialog title={`Credentials of “${profile.name}”`} onClose={onClose} wide>
      {credentials.type === 'jwt' ? (
        <p>
          Programs use tokens from the identity provider ({profile.jwt?.issuer}); Gatehouse holds no secret
          for this profile.
        </p>
      ) : (
        <div class="banner banner-warning" role="note">
          <strong>You will not see this again.</strong> Copy the{' '}
          {credentials.type === 'oauth2' ? 'client secret' : 'API token'} now and keep it somewhere safe:
          Gatehouse stores only a hash of it. If it is lost, regenerate it.
        </div>
      )}
      {credentials.type === 'oauth2' ? (
        <>
          <SecretField label="Client ID" value={credentials.clientId} />
          <SecretField label="Client secret" value={credentials.clientSecret} />
          <SecretField
            label="Token request"
            multiline
            value={`curl -s -X POST ${origin}/oauth2/token -d grant_type=client_credentials --data-urlencode 'client_id=${credentials.clientId}' --data-urlencode 'client_secret=${credentials.clientSecret}'`}
          />
        </>
      ) : null}
      {credentials.type === 'token' ? (
        <>
          <SecretField label="API token" value={credentials.apiToken} />
          <SecretField
            label="Example call"
            multiline
            value={`curl -s -H 'api-token: ${credentials.apiToken}' ${origin}/${prefix}/…`}
          />
        </>
      ) : null}
      <div class="actions">
        <button type="button" class="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

function RegenerateDialog({
  profile,
  onClose,
  onIssued,
}: {
  profile: Profile;
  onClose: () => void;
  onIssued: (issued: IssuedProfile) => void;
}) {
  const [keepOld, setKeepOld] = useState(false);
  return (
    <ConfirmDialog
      title={`Regenerate the credentials of “${profile.name}”?`}
      confirmLabel="Regenerate"
      danger={false}
      onClose={onClose}
      onConfirm={async () => {
        const answer = await unwrap(
          api.POST('/api/admin/v1/platform/profiles/{id}/credentials', {
            params: { path: { id: String(profile.id) } },
            body: profile.authMethod === 'oauth2' && keepOld ? { graceSeconds: 86_400 } : null,
          }),
        );
        onIssued(answer);
      }}
    >
      {profile.authMethod === 'oauth2' ? (
        <>
          <p>A new client secret is made and shown once.</p>
          <label class="choice">
            <input
              type="checkbox"
              checked={keepOld}
              onChange={(e) => setKeepOld((e.target as HTMLInputElement).checked)}
            />
            <span>Keep the current secret working for 24 hours (otherwise it stops now)</span>
          </label>
        </>
      ) : (
        <p>A new API token is made and shown once; the current one stops working at once.</p>
      )}
    </ConfirmDialog>
  );
}

function Authentication({ profile }: { profile: Profile }) {
  return (
    <span>
      {METHOD_LABEL[profile.authMethod]}{' '}
      {profile.clientId ? (
        <code title="The first characters of the client ID">{profile.clientId}…</code>
      ) : null}
      {profile.tokenPrefix ? (
        <code title="The first characters of the API token">{profile.tokenPrefix}…</code>
      ) : null}
      {profile.jwt ? <code class="wrap-anywhere">{profile.jwt.issuer}</code> : null}
    </span>
  );
}

type Open =
  | { kind: 'create' }
  | { kind: 'edit'; profile: Profile }
  | { kind: 'regenerate'; profile: Profile }
  | { kind: 'delete'; profile: Profile }
  | { kind: 'issued'; issued: IssuedProfile };

function ProfilesPage() {
  const { open, setOpen, reloadKey, notice, changed } = useChanges<Open>();
  const [error, setError] = useState<unknown>();
  const [policyNames, setPolicyNames] = useState<ReadonlyMap<number, string>>(new Map());

  useEffect(() => {
    allPolicies()
      .then((list) => setPolicyNames(new Map(list.map((p) => [p.id, p.name]))))
      .catch(setError);
  }, [reloadKey]);

  const { error: rowError, run } = useRowChange(changed);

  return (
    <>
      <ErrorBanner error={rowError ?? error} />
      <div class="page-actions">
        <p class="grow muted">
          An access profile lets a program call some API collections, with a credential of its own.
        </p>
        <button type="button" class="primary" onClick={() => setOpen({ kind: 'create' })}>
          Create access profile
        </button>
      </div>
      <output class="muted notice">{notice}</output>
      <Table<Profile>
        caption="Access profiles"
        rowKey={(p) => p.id}
        reloadKey={reloadKey}
        empty="No access profiles yet."
        load={({ limit, cursor }) =>
          unwrap(api.GET('/api/admin/v1/platform/profiles', { params: { query: { limit, cursor } } }))
        }
        columns={[
          { header: 'Name', cell: (p) => <strong id={`profile-${p.id}-name`}>{p.name}</strong> },
          { header: 'Authentication', cell: (p) => <Authentication profile={p} /> },
          {
            header: 'Collections',
            cell: (p) =>
              p.collections.length === 0 ? (
                <span class="muted">none</span>
              ) : (
                <span class="scopes">
                  {p.collections.map((c) => (
                    <code key={c.id} title={c.name}>
                      /{c.prefix}
                    </code>
                  ))}
                </span>
              ),
          },
          {
            header: 'IP allow-list',
            cell: (p) =>
              p.ipAllowList.length === 0 ? (
                <span class="muted">any address</span>
              ) : (
                <span class="scopes">
                  {p.ipAllowList.map((rule) => (
                    <code key={rule}>{rule}</code>
                  ))}
                </span>
              ),
          },
          {
            header: 'Policy',
            cell: (p) =>
              p.policyId === null ? (
                <span class="muted">no limits</span>
              ) : (
                (policyNames.get(p.policyId) ?? `#${p.policyId}`)
              ),
          },
          { header: 'Status', cell: (p) => <EnabledBadge enabled={p.enabled} /> },
          { header: 'Updated', className: 'nowrap', cell: (p) => <Time value={p.updatedAt} /> },
          {
            header: 'Actions',
            cell: (p) => (
              <Menu
                label="More"
                describedBy={`profile-${p.id}-name`}
                items={[
                  { label: 'Edit', onSelect: () => setOpen({ kind: 'edit', profile: p }) },
                  switchItem(p.name, p.enabled, run, (enabled) =>
                    unwrap(
                      api.PATCH('/api/admin/v1/platform/profiles/{id}', {
                        params: { path: { id: String(p.id) } },
                        body: { enabled },
                      }),
                    ),
                  ),
                  ...(p.authMethod === 'jwt'
                    ? []
                    : [
                        {
                          label: 'Regenerate credentials',
                          onSelect: () => setOpen({ kind: 'regenerate', profile: p }),
                        },
                      ]),
                  { label: 'Delete', danger: true, onSelect: () => setOpen({ kind: 'delete', profile: p }) },
                ]}
              />
            ),
          },
        ]}
      />
      {open?.kind === 'create' || open?.kind === 'edit' ? (
        <ProfileDialog
          profile={open.kind === 'edit' ? open.profile : undefined}
          onClose={() => setOpen(undefined)}
          onSaved={(saved, issued) =>
            changed(
              `${saved.name} was ${issued ? 'created' : 'saved'}.`,
              issued && issued.credentials.type !== 'jwt' ? { kind: 'issued', issued } : undefined,
            )
          }
        />
      ) : null}
      {open?.kind === 'regenerate' ? (
        <RegenerateDialog
          profile={open.profile}
          onClose={() => setOpen(undefined)}
          onIssued={(issued) =>
            changed(`${issued.profile.name} has new credentials.`, { kind: 'issued', issued })
          }
        />
      ) : null}
      {open?.kind === 'issued' ? (
        <CredentialsDialog issued={open.issued} onClose={() => setOpen(undefined)} />
      ) : null}
      {open?.kind === 'delete' ? (
        <ConfirmDialog
          title={`Delete the access profile “${open.profile.name}”?`}
          confirmLabel="Delete"
          onClose={() => setOpen(undefined)}
          onConfirm={async () => {
            await unwrap(
              api.DELETE('/api/admin/v1/platform/profiles/{id}', {
                params: { path: { id: String(open.profile.id) } },
              }),
            );
            changed(`${open.profile.name} was deleted.`);
          }}
        >
          <p>
            <strong>This cannot be undone.</strong> Its credentials stop working from the next call
            {open.profile.authMethod === 'oauth2' ? ', and its API client is revoked' : ''}.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}

export const page: PageDefinition = {
  path: '/platform/profiles',
  title: 'Access profiles',
  section: 'API platform',
  order: 56,
  anyOf: ['gateway.manage'],
  component: ProfilesPage,
};
