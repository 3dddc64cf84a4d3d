/**
 * The admin API's route schemas: one per request body, query, path and
 * response, in one place, so src/admin/*.ts only says which route uses which.
 *
 * Request schemas fix the *shape* (field names and JSON types; unknown fields
 * are a 400 naming the field). The *values* (an email that is an email, a
 * password long enough, a scope in the catalog, a TTL in range) are checked by
 * the services with the same messages the CLI gets; the limits they enforce are
 * imported from them here, so the document states what the service checks.
 * Response schemas list every property in the order the service builds the
 * object (fastify serializes through them; see src/schemas.ts).
 */
import { Type } from '@sinclair/typebox';
import {
  Cursor,
  CursorLimit,
  JsonObject,
  Literals,
  NoBody,
  Nullable,
  Obj,
  Page,
  Timestamp,
  userProfileFields,
} from '../schemas.js';
import { MAX_EXPIRY_DAYS } from '../services/access-tokens.js';
import { CLIENT_REF_LENGTH, MAX_SECRET_GRACE_SECONDS } from '../services/clients.js';
import { GRANTS } from '../services/grants.js';
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../services/users.js';
import { SCOPES } from '../tokens/scopes.js';
import { TOKEN_ALGS } from '../config.js';

// ---- shared pieces -------------------------------------------------------------------------

const GrantIdSchema = Literals(
  GRANTS.map((g) => g.id),
  { description: 'A grant id from the catalog (`GET /grants`).' },
);
const ScopeSchema = Literals(SCOPES, { description: 'An OAuth scope.' });
const Password = Type.String({
  maxLength: MAX_PASSWORD_LENGTH,
  description: `At least ${MIN_PASSWORD_LENGTH} characters.`,
});
const Email = Type.String({ maxLength: 320, examples: ['alice@example.com'] });
const UserSummary = Obj({ id: Type.Integer(), email: Type.String(), displayName: Type.String() });
const Items = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Obj({ items: Type.Array(item) });
const NoContent = NoBody('Done; no body.');

export const User = Obj(
  {
    id: Type.Integer({ description: "Numeric user id (Domo's `userId`)." }),
    email: Type.String(),
    displayName: Type.String(),
    role: Obj({ id: Type.Integer(), name: Type.String() }),
    status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
    mustChangePassword: Type.Boolean(),
    profile: Obj(userProfileFields, {
      description: "Domo's profile fields that are set (changed through Domo's `PUT /v1/users/{id}`).",
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'User' },
);

export const UserWithGrants = Obj(
  {
    ...User.properties,
    grants: Type.Array(GrantIdSchema, { description: 'The grants their role holds now.' }),
  },
  { title: 'User with grants' },
);

export const Role = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    description: Type.String(),
    system: Type.Boolean({
      description: 'System roles are kept in sync with the code; copy them to change them.',
    }),
    grants: Type.Array(GrantIdSchema),
    userCount: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Role' },
);

export const Grant = Obj(
  { id: GrantIdSchema, name: Type.String(), description: Type.String() },
  { title: 'Grant' },
);

export const AuditEvent = Obj(
  {
    id: Type.Integer(),
    occurredAt: Timestamp,
    actor: Obj({
      type: Type.Union([
        Type.Literal('user'),
        Type.Literal('client'),
        Type.Literal('cli'),
        Type.Literal('system'),
      ]),
      id: Nullable(Type.String()),
      label: Nullable(Type.String()),
    }),
    action: Type.String({ examples: ['user.created'] }),
    target: Nullable(Obj({ type: Type.String(), id: Type.String() })),
    ip: Nullable(Type.String()),
    details: JsonObject,
  },
  { title: 'Audit event' },
);

export const AccessToken = Obj(
  {
    id: Type.Integer(),
    prefix: Type.String({
      description: '`gh_dev_` and the first characters of the token.',
      examples: ['gh_dev_AbCd1234'],
    }),
    description: Type.String(),
    user: UserSummary,
    createdBy: Nullable(Type.Integer()),
    createdAt: Timestamp,
    expiresAt: Nullable(Timestamp, { description: 'null: never expires.' }),
    lastUsedAt: Nullable(Timestamp),
    revokedAt: Nullable(Timestamp),
    status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  },
  { title: 'Developer access token' },
);

export const ApiClient = Obj(
  {
    id: Type.String({
      description: `The first ${CLIENT_REF_LENGTH} characters of the client ID: its handle in URLs and the CLI.`,
      examples: ['441e307a-b2a1'],
    }),
    name: Type.String(),
    description: Type.String(),
    scopes: Type.Array(ScopeSchema),
    tokenTtlSeconds: Type.Integer(),
    owner: UserSummary,
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    createdAt: Timestamp,
    lastUsedAt: Nullable(Timestamp),
    revokedAt: Nullable(Timestamp),
  },
  { title: 'API client' },
);

const ClientCredentials = {
  client_id: Type.String({
    description: 'The full client ID (a UUID).',
    examples: ['441e307a-b2a1-4a99-8561-174e5b193eea'],
  }),
  client_secret: Type.String({ description: 'Shown only in this answer: 64 hex characters.' }),
  client: ApiClient,
};

// ---- session and me --------------------------------------------------------------------------

export const SignInBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const signInSchema = {
  summary: 'Sign in',
  description:
    'Sets the HttpOnly `SameSite=Strict` cookie `gatehouse_session` and returns the `csrfToken` that writes made ' +
    'with the cookie must send as `X-CSRF-Token`. Failed attempts are throttled per account and per address.',
  body: SignInBody,
  response: { 200: Obj({ user: User, csrfToken: Type.String() }) },
};

export const signOutSchema = { summary: 'Sign out', response: { 204: NoContent } };

export const meSchema = {
  summary: 'The signed-in user, role and grants',
  response: {
    200: Obj({
      user: User,
      role: Obj({ id: Type.Integer(), name: Type.String() }),
      grants: Type.Array(GrantIdSchema, { description: 'In catalog order.' }),
      admin: Type.Boolean({
        description: 'Holds every grant of the catalog: may use admin-only routes (signing keys).',
      }),
      mustChangePassword: Type.Boolean(),
      csrfToken: Type.Optional(Type.String({ description: 'With a session cookie only.' })),
    }),
  },
};

export const ChangePasswordBody = Type.Object(
  {
    currentPassword: Type.String({ minLength: 1, maxLength: 1024 }),
    newPassword: Password,
  },
  { additionalProperties: false },
);

export const changePasswordSchema = {
  summary: 'Change your own password',
  description: 'Clears a forced change; other sessions of the user end.',
  body: ChangePasswordBody,
  response: { 204: NoContent },
};

export const ScopeInfo = Obj(
  { id: ScopeSchema, description: Type.String({ description: 'What a token with this scope may reach.' }) },
  { title: 'Scope' },
);

export const scopesSchema = {
  summary: 'The OAuth scope catalog',
  description: 'Every scope an API client may hold, in catalog order, with its meaning.',
  response: { 200: Items(ScopeInfo) },
};

export const grantsSchema = {
  summary: 'The grant catalog',
  response: { 200: Items(Grant) },
};

// ---- users -----------------------------------------------------------------------------------

export const UserParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 320, description: 'The user id or email.' }),
});
const RoleRef = Type.Union([Type.String({ maxLength: 100 }), Type.Integer({ minimum: 1 })], {
  description: 'A role id or name.',
});

export const ListUsersQuery = Type.Object(
  {
    limit: Type.Optional(CursorLimit),
    cursor: Type.Optional(Cursor),
    q: Type.Optional(Type.String({ maxLength: 200, description: 'Matches email or display name.' })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('disabled')])),
    role: Type.Optional(Type.String({ maxLength: 100, description: 'A role id or name.' })),
  },
  { additionalProperties: false },
);

export const CreateUserBody = Type.Object(
  {
    email: Email,
    displayName: Type.Optional(
      Type.String({ maxLength: 1000, description: 'Default: the part of the email before @.' }),
    ),
    role: Type.Optional(RoleRef),
    password: Type.Optional(Password),
    mustChangePassword: Type.Optional(
      Type.Boolean({
        description:
          'Default true when a password is given: an admin-chosen password is replaced at first sign-in.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const UpdateUserBody = Type.Object(
  {
    email: Type.Optional(Email),
    displayName: Type.Optional(Type.String({ maxLength: 1000 })),
    role: Type.Optional(RoleRef),
  },
  { additionalProperties: false },
);

export const SetPasswordBody = Type.Object(
  { password: Type.Optional(Password) },
  { additionalProperties: false, description: 'No password: one is generated and shown once.' },
);

export const listUsersSchema = {
  summary: 'List users',
  querystring: ListUsersQuery,
  response: { 200: Page(User) },
};
export const createUserSchema = { summary: 'Create a user', body: CreateUserBody, response: { 201: User } };
export const getUserSchema = {
  summary: 'A user and their grants',
  params: UserParams,
  response: { 200: UserWithGrants },
};
export const updateUserSchema = {
  summary: 'Change a user',
  params: UserParams,
  body: UpdateUserBody,
  response: { 200: User },
};
export const disableUserSchema = {
  summary: 'Disable a user',
  description: 'Their sessions end and their tokens stop working; not yourself, not the last active Admin.',
  params: UserParams,
  response: { 200: User },
};
export const enableUserSchema = { summary: 'Enable a user', params: UserParams, response: { 200: User } };
export const setPasswordSchema = {
  summary: "Reset a user's password",
  description: 'The user must change it at their next sign-in.',
  params: UserParams,
  body: SetPasswordBody,
  response: {
    200: Obj({
      user: User,
      password: Type.Optional(Type.String({ description: 'The generated password, shown once.' })),
    }),
  },
};

// ---- roles -----------------------------------------------------------------------------------

export const RoleParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The role id or name.' }),
});
export const RoleGrantParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The role id or name.' }),
  grantId: Type.String({ minLength: 1, maxLength: 100, description: 'A grant id.' }),
});
const RoleName = Type.String({
  maxLength: 1000,
  description: '1–100 characters, unique (case-insensitive).',
});
const RoleDescription = Type.String({ maxLength: 2000 });
const GrantList = Type.Array(Type.String({ maxLength: 100 }), {
  maxItems: 100,
  description: 'Grant ids from the catalog (`GET /grants`).',
});

export const CreateRoleBody = Type.Object(
  { name: RoleName, description: Type.Optional(RoleDescription), grants: Type.Optional(GrantList) },
  { additionalProperties: false },
);
export const UpdateRoleBody = Type.Object(
  { name: Type.Optional(RoleName), description: Type.Optional(RoleDescription) },
  { additionalProperties: false },
);
export const CopyRoleBody = Type.Object(
  { name: RoleName, description: Type.Optional(RoleDescription) },
  { additionalProperties: false },
);
export const RoleGrantsBody = Type.Object({ grants: GrantList }, { additionalProperties: false });

export const listRolesSchema = { summary: 'List roles', response: { 200: Items(Role) } };
export const getRoleSchema = { summary: 'A role', params: RoleParams, response: { 200: Role } };
export const createRoleSchema = {
  summary: 'Create a custom role',
  body: CreateRoleBody,
  response: { 201: Role },
};
export const updateRoleSchema = {
  summary: 'Rename a custom role or change its description',
  params: RoleParams,
  body: UpdateRoleBody,
  response: { 200: Role },
};
export const copyRoleSchema = {
  summary: 'Copy a role (system roles too) into a new custom role',
  params: RoleParams,
  body: CopyRoleBody,
  response: { 201: Role },
};
export const addRoleGrantsSchema = {
  summary: 'Add grants to a custom role',
  params: RoleParams,
  body: RoleGrantsBody,
  response: { 200: Role },
};
export const removeRoleGrantSchema = {
  summary: 'Remove a grant from a custom role',
  params: RoleGrantParams,
  response: { 200: Role },
};
export const deleteRoleSchema = {
  summary: 'Delete a custom role',
  description: '409 while users hold it.',
  params: RoleParams,
  response: { 204: NoContent },
};

// ---- audit -----------------------------------------------------------------------------------

export const AuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ maxLength: 40, description: 'ISO-8601 time, inclusive.' })),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'ISO-8601 time, exclusive.' })),
    actorType: Type.Optional(
      Type.Union([Type.Literal('user'), Type.Literal('client'), Type.Literal('cli'), Type.Literal('system')]),
    ),
    actorId: Type.Optional(
      Type.String({
        maxLength: 320,
        description:
          'A user id, or a user’s email (with `actorType=user` or none), or a client id (with `actorType=client`).',
      }),
    ),
    action: Type.Optional(
      Type.String({ maxLength: 100, description: 'An action, or a family as `user.*`.' }),
    ),
    targetType: Type.Optional(Type.String({ maxLength: 100 })),
    targetId: Type.Optional(
      Type.String({
        maxLength: 320,
        description: 'The target’s id; with `targetType=user`, a user id or email.',
      }),
    ),
    limit: Type.Optional(CursorLimit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const auditSchema = {
  summary: 'The audit log, newest first',
  querystring: AuditQuery,
  response: { 200: Page(AuditEvent) },
};

// ---- developer access tokens ----------------------------------------------------------------

export const AccessTokenParams = Type.Object({ id: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) });

export const CreateAccessTokenBody = Type.Object(
  {
    description: Type.String({ maxLength: 1000 }),
    user: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 320 })], {
        description:
          'The user the token acts as (id or email); default yourself. Another user needs `api.clients.manage_all`.',
      }),
    ),
    userId: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Alias of `user`, for callers that think in ids.' }),
    ),
    expiresInDays: Type.Optional(Type.Integer({ description: `1–${MAX_EXPIRY_DAYS}; or \`never: true\`.` })),
    never: Type.Optional(Type.Boolean({ description: 'A token that does not expire, chosen explicitly.' })),
  },
  {
    additionalProperties: false,
    examples: [{ description: 'nightly sync', user: 'robot@example.com', expiresInDays: 90 }],
  },
);

export const ListAccessTokensQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({ maxLength: 200, description: 'Matches description, user email or name.' }),
    ),
    user: Type.Optional(
      Type.String({ minLength: 1, maxLength: 320, description: 'Only tokens acting as this user.' }),
    ),
    active: Type.Optional(Type.Boolean({ description: 'true: only tokens that still work.' })),
    limit: Type.Optional(CursorLimit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const createAccessTokenSchema = {
  summary: 'Create a developer access token',
  description: 'The token is in this answer only; it is stored as an HMAC.',
  body: CreateAccessTokenBody,
  response: {
    201: Obj({
      token: Type.String({ description: 'The token itself (`gh_dev_…`), shown once.' }),
      accessToken: AccessToken,
    }),
  },
};
export const listAccessTokensSchema = {
  summary: 'List developer access tokens',
  description: 'Your own (created by you or acting as you); all with `api.clients.manage_all`.',
  querystring: ListAccessTokensQuery,
  response: { 200: Page(AccessToken) },
};
export const getAccessTokenSchema = {
  summary: 'A developer access token (never the token itself)',
  params: AccessTokenParams,
  response: { 200: AccessToken },
};
export const revokeAccessTokenSchema = {
  summary: 'Revoke a developer access token',
  description: 'Effective on the very next request; no undo.',
  params: AccessTokenParams,
  response: { 200: AccessToken },
};

// ---- API clients ----------------------------------------------------------------------------

export const ClientParams = Type.Object({
  id: Type.String({
    minLength: 1,
    maxLength: 100,
    description: 'The partial client ID lists show, or the full ID.',
  }),
});

export const ListClientsQuery = Type.Object(
  {
    limit: Type.Optional(CursorLimit),
    cursor: Type.Optional(Cursor),
    name: Type.Optional(Type.String({ maxLength: 100 })),
    owner: Type.Optional(Type.String({ maxLength: 320, description: 'Owner id or email.' })),
    status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('revoked')])),
  },
  { additionalProperties: false },
);

export const CreateClientBody = Type.Object(
  {
    name: Type.String({ description: '1–100 characters, unique among active clients (case-insensitive).' }),
    description: Type.Optional(Type.String({ description: 'At most 1000 characters.' })),
    scopes: Type.Array(Type.String(), {
      description: `A non-empty subset of the scope catalog: ${SCOPES.join(', ')}.`,
      examples: [['data', 'user']],
    }),
    tokenTtlSeconds: Type.Optional(
      Type.Integer({ description: 'Access-token lifetime, 60–86400 s (default the server setting).' }),
    ),
  },
  { additionalProperties: false },
);

export const RotateSecretBody = Type.Union(
  [
    Type.Object(
      {
        graceSeconds: Type.Optional(
          Type.Integer({
            description: `How long the previous secret keeps working: 0–${MAX_SECRET_GRACE_SECONDS} s (default 86400; 0 ends it now).`,
          }),
        ),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional: no body means the default grace period.' },
);

export const listClientsSchema = {
  summary: 'List API clients',
  description: 'Your own; all with `api.clients.manage_all`. Newest first.',
  querystring: ListClientsQuery,
  response: { 200: Page(ApiClient) },
};
export const createClientSchema = {
  summary: 'Create an API client',
  description: 'The secret is in this answer only; it is stored as an HMAC.',
  body: CreateClientBody,
  response: { 201: Obj(ClientCredentials) },
};
export const getClientSchema = {
  summary: 'An API client',
  params: ClientParams,
  response: { 200: ApiClient },
};
export const revokeClientSchema = {
  summary: 'Revoke an API client',
  description: 'Final, no undo; the owner or `api.clients.manage_all`.',
  params: ClientParams,
  response: { 200: ApiClient },
};
export const rotateSecretSchema = {
  summary: "Rotate an API client's secret",
  description: 'Owner only. The new secret is shown once; the previous one works for the grace period.',
  params: ClientParams,
  body: RotateSecretBody,
  response: {
    200: Obj({ ...ClientCredentials, previousSecretExpiresAt: Nullable(Timestamp) }),
  },
};

const MethodNotAllowed = {
  405: Obj(
    {
      error: Type.Literal('method_not_allowed'),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    },
    { description: 'API clients cannot be edited: create a new one and revoke the old.' },
  ),
};
export const editClientSchema = {
  summary: 'Not allowed: API clients cannot be edited',
  response: MethodNotAllowed,
};

// ---- signing keys ----------------------------------------------------------------------------

export const SigningKey = Obj(
  {
    kid: Type.String({
      description: 'The key id (its RFC 7638 JWK thumbprint), as in the JWKS and the JWT header.',
    }),
    alg: Literals(TOKEN_ALGS),
    status: Literals(['active', 'published', 'retired'] as const, {
      description:
        '`active`: signs new tokens; `published`: verifies only, still in the JWKS until the tokens it signed expire; `retired`: gone from the JWKS.',
    }),
    createdAt: Timestamp,
    retireAfter: Nullable(Timestamp, {
      description: 'When a published key leaves the JWKS; null for the active key.',
    }),
  },
  { title: 'Signing key', description: 'Public facts only: never the private key.' },
);

export const listKeysSchema = {
  summary: 'List the signing keys, newest first',
  description: 'Admins only (a role holding every grant).',
  response: { 200: Items(SigningKey) },
};
export const rotateKeySchema = {
  summary: 'Rotate the signing key',
  description:
    'Admins only. Makes a new active key (`GATEHOUSE_TOKEN_ALG`); earlier keys stay published until every token ' +
    'they signed has expired. Audited as `signing_key.rotated`.',
  response: { 201: Obj({ key: SigningKey, items: Type.Array(SigningKey) }) },
};
