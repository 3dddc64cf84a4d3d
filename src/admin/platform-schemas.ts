/**
 * Schemas of the API platform's admin routes (src/admin/platform.ts), beside src/admin/schemas.ts
 * and built from the same pieces: request schemas fix the shape, the service (src/services/platform/)
 * checks the values with the messages the CLI gets, response schemas list every property in the
 * order the service builds it.
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
} from '../schemas.js';
import { MAX_SECRET_GRACE_SECONDS } from '../services/clients.js';
import {
  AUTH_METHODS,
  DEFAULT_ENDPOINT_TIMEOUT_MS,
  ENDPOINT_METHODS,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENDPOINT_TIMEOUT_MS,
  MAX_IP_RULES,
  MAX_NAME_LENGTH,
  MAX_PATH_LENGTH,
  MAX_URL_LENGTH,
  MIN_ENDPOINT_TIMEOUT_MS,
  MAX_CONCURRENCY_LIMIT,
  MAX_QUEUE_SIZE,
  MAX_QUEUE_WAIT_MS,
  MAX_QUOTA_LIMIT,
  MAX_RATE_LIMIT,
  QUOTA_UNITS,
  RATE_UNITS,
} from '../services/platform/model.js';
import { MAX_IMPORTED_ENDPOINTS, MAX_OPENAPI_BYTES } from '../services/platform/openapi.js';

const NoContent = NoBody('Done; no body.');
const Name = Type.String({
  maxLength: 1000,
  description: `1–${MAX_NAME_LENGTH} characters, unique (case-insensitive).`,
});
const Description = Type.String({
  maxLength: 4000,
  description: `At most ${MAX_DESCRIPTION_LENGTH} characters.`,
});
const Enabled = Type.Boolean({
  description: 'false: calls answer 404 (collections, endpoints) or 401 (profiles) until enabled again.',
});

// ---- collections -----------------------------------------------------------------------------

export const ApiCollection = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    prefix: Type.String({
      description: 'Calls reach the collection at `/<prefix>/<endpoint path>`.',
      examples: ['orders-api'],
    }),
    description: Type.String(),
    upstreamUrl: Type.String({
      description: 'The base URL endpoints are forwarded to.',
      examples: ['https://orders.internal.example.com/v2'],
    }),
    enabled: Type.Boolean(),
    endpointCount: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'API collection' },
);

const Prefix = Type.String({
  maxLength: 200,
  description:
    "One lower-case path segment (letters, digits, `-`, `_`, `.`); unique; not one of Gatehouse's own (`api`, `oauth`, `oauth2`, `v1`, `admin`, `docs`, …).",
});
const UpstreamUrl = Type.String({
  maxLength: MAX_URL_LENGTH + 100,
  description: 'An http(s) URL without query or fragment.',
});

export const CollectionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The collection id or prefix.' }),
});
export const EndpointParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100, description: 'The collection id or prefix.' }),
  endpointId: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }),
});
export const ProfileParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1000, description: 'The profile id or name.' }),
});
const ListQuery = Type.Object(
  { limit: Type.Optional(CursorLimit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);

export const CreateCollectionBody = Type.Object(
  {
    name: Name,
    prefix: Prefix,
    upstreamUrl: UpstreamUrl,
    description: Type.Optional(Description),
    enabled: Type.Optional(Enabled),
  },
  {
    additionalProperties: false,
    examples: [
      { name: 'Orders', prefix: 'orders-api', upstreamUrl: 'https://orders.internal.example.com/v2' },
    ],
  },
);
export const UpdateCollectionBody = Type.Object(
  {
    name: Type.Optional(Name),
    prefix: Type.Optional(Prefix),
    upstreamUrl: Type.Optional(UpstreamUrl),
    description: Type.Optional(Description),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false },
);

export const listCollectionsSchema = {
  summary: 'List API collections',
  description: 'Needs `gateway.manage`. By id.',
  querystring: ListQuery,
  response: { 200: Page(ApiCollection) },
};
export const createCollectionSchema = {
  summary: 'Create an API collection',
  body: CreateCollectionBody,
  response: { 201: ApiCollection },
};
export const getCollectionSchema = {
  summary: 'An API collection',
  params: CollectionParams,
  response: { 200: ApiCollection },
};
export const updateCollectionSchema = {
  summary: 'Change an API collection',
  description: 'Disabling it makes every call to it answer 404, on every node, from the next call.',
  params: CollectionParams,
  body: UpdateCollectionBody,
  response: { 200: ApiCollection },
};
export const deleteCollectionSchema = {
  summary: 'Delete an API collection and its endpoints',
  params: CollectionParams,
  response: { 204: NoContent },
};

// ---- endpoints -------------------------------------------------------------------------------

const Method = Literals(ENDPOINT_METHODS);
const PathPattern = Type.String({
  maxLength: MAX_PATH_LENGTH + 100,
  description: 'Starts with `/`; literal segments and parameters like `:id`.',
  examples: ['/orders/:id'],
});

export const ApiEndpoint = Obj(
  {
    id: Type.Integer(),
    collectionId: Type.Integer(),
    name: Type.String(),
    method: Method,
    path: Type.String({ examples: ['/orders/:id'] }),
    upstreamPath: Type.String({
      description: "Appended to the collection's upstream URL, parameters filled in.",
      examples: ['/v2/orders/:id'],
    }),
    timeoutMs: Type.Integer(),
    enabled: Type.Boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'API endpoint' },
);

const Timeout = Type.Integer({
  description: `Milliseconds the upstream has to answer (${MIN_ENDPOINT_TIMEOUT_MS}–${MAX_ENDPOINT_TIMEOUT_MS}; default ${DEFAULT_ENDPOINT_TIMEOUT_MS}); past it → 504.`,
});
export const CreateEndpointBody = Type.Object(
  {
    name: Name,
    method: Type.String({ maxLength: 20, description: `One of ${ENDPOINT_METHODS.join(', ')}.` }),
    path: PathPattern,
    upstreamPath: Type.Optional(Nullable(PathPattern, { description: 'Default: the same as `path`.' })),
    timeoutMs: Type.Optional(Timeout),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false, examples: [{ name: 'Get order', method: 'GET', path: '/orders/:id' }] },
);
export const UpdateEndpointBody = Type.Object(
  {
    name: Type.Optional(Name),
    method: Type.Optional(Type.String({ maxLength: 20 })),
    path: Type.Optional(PathPattern),
    upstreamPath: Type.Optional(Nullable(PathPattern)),
    timeoutMs: Type.Optional(Timeout),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false },
);

export const listEndpointsSchema = {
  summary: "List a collection's endpoints",
  params: CollectionParams,
  querystring: ListQuery,
  response: { 200: Page(ApiEndpoint) },
};
export const createEndpointSchema = {
  summary: 'Add an endpoint to a collection',
  description: 'One endpoint per method and path pattern (parameter names aside): another is a 409.',
  params: CollectionParams,
  body: CreateEndpointBody,
  response: { 201: ApiEndpoint },
};
export const getEndpointSchema = {
  summary: 'An endpoint',
  params: EndpointParams,
  response: { 200: ApiEndpoint },
};
export const updateEndpointSchema = {
  summary: 'Change an endpoint',
  params: EndpointParams,
  body: UpdateEndpointBody,
  response: { 200: ApiEndpoint },
};
export const deleteEndpointSchema = {
  summary: 'Delete an endpoint',
  params: EndpointParams,
  response: { 204: NoContent },
};

export const EndpointImport = Obj(
  {
    dryRun: Type.Boolean({ description: 'true: nothing was written; the answer says what would be.' }),
    collectionId: Type.Integer(),
    created: Type.Integer(),
    replaced: Type.Integer(),
    skipped: Type.Integer({
      description:
        'Operations the collection has an endpoint for already (same method and path), left as they were.',
    }),
    endpoints: Type.Array(
      Obj({
        action: Literals(['created', 'replaced', 'skipped'] as const),
        id: Nullable(Type.Integer(), {
          description: 'The endpoint created, replaced or in the way; null for one a dry run would create.',
        }),
        name: Type.String(),
        method: Method,
        path: Type.String({ examples: ['/pets/:petId'] }),
        upstreamPath: Type.String(),
        pointer: Type.String({
          description: "The operation's JSON pointer in the document.",
          examples: ['/paths/~1pets~1{petId}/get'],
        }),
      }),
    ),
  },
  { title: 'Endpoint import' },
);

export const ImportQuery = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Report what would be created; write nothing.' })),
    replace: Type.Optional(
      Type.Boolean({
        description:
          'An operation whose method and path the collection has already replaces that endpoint’s name, path and upstream path (its timeout and enabled state stay). Default: skipped and reported.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const importEndpointsSchema = {
  summary: "Import a collection's endpoints from an OpenAPI 3 document",
  description:
    `The body is the document (OpenAPI 3.0 or 3.1, as JSON, or as YAML with \`Content-Type: application/yaml\`), ` +
    'or `{"url": "https://…"}` to fetch it from a URL under one of the prefixes of `GATEHOUSE_PLATFORM_IMPORT_URLS` ' +
    `(none by default: URL import off). At most ${MAX_OPENAPI_BYTES / 1024 / 1024} MiB and ${MAX_IMPORTED_ENDPOINTS} operations. ` +
    'Every path + method becomes an endpoint (`{id}` → `:id`; named by operationId, else summary, else "METHOD path"; ' +
    "servers[0]'s path is put before the upstream path unless the collection's upstream URL ends with it). " +
    'One transaction: all or nothing, one `api_collection.imported` audit event. A bad document is a 400 whose ' +
    '`details.pointer` is the JSON pointer of the offending part.',
  params: CollectionParams,
  querystring: ImportQuery,
  body: Type.Union(
    [JsonObject, Type.String({ description: 'YAML text (Content-Type: application/yaml).' })],
    {
      description: 'The OpenAPI 3 document, or {"url": "…"}.',
    },
  ),
  response: { 200: EndpointImport },
};

// ---- access profiles -------------------------------------------------------------------------

const Jwt = Obj(
  {
    jwksUrl: Type.String({ description: 'https (http only on loopback).' }),
    issuer: Type.String({ description: 'The `iss` its tokens carry.' }),
    audience: Nullable(Type.String(), { description: 'The `aud` required; null: not checked.' }),
    requiredClaims: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
      description: 'Claim → value the token must carry (equal, or in an array claim).',
    }),
  },
  { description: 'jwt profiles: the outside identity provider.' },
);

export const AccessProfile = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    description: Type.String(),
    authMethod: Literals(AUTH_METHODS),
    collections: Type.Array(Obj({ id: Type.Integer(), name: Type.String(), prefix: Type.String() })),
    ipAllowList: Type.Array(Type.String(), { description: 'CIDRs; empty: any address.' }),
    policyId: Nullable(Type.Integer(), {
      description: 'Its policy (rate limit, quota, concurrency); null: no limits.',
    }),
    enabled: Type.Boolean(),
    clientId: Nullable(Type.String(), {
      description: 'oauth2: the partial id of its API client, as client lists show it.',
    }),
    tokenPrefix: Nullable(Type.String(), {
      description: 'token: `gh_api_` and the first characters of the token.',
    }),
    jwt: Nullable(Jwt),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Access profile' },
);

const Credentials = Type.Union(
  [
    Obj({
      type: Type.Literal('oauth2'),
      clientId: Type.String({ description: 'The full client ID for `POST /oauth2/token`.' }),
      clientSecret: Type.String({ description: 'Shown only in this answer.' }),
    }),
    Obj({
      type: Type.Literal('token'),
      apiToken: Type.String({ description: 'Send as `api-token`; shown only in this answer.' }),
    }),
    Obj({ type: Type.Literal('jwt') }, { description: 'The identity provider issues the tokens.' }),
  ],
  { description: 'Shown once.' },
);
const IssuedProfile = Obj({ profile: AccessProfile, credentials: Credentials });

const JwtInput = Type.Object(
  {
    jwksUrl: Type.String({ maxLength: MAX_URL_LENGTH + 100 }),
    issuer: Type.String({ maxLength: MAX_URL_LENGTH + 100 }),
    audience: Type.Optional(Nullable(Type.String({ maxLength: MAX_URL_LENGTH + 100 }))),
    requiredClaims: Type.Optional(
      Type.Record(
        Type.String({ maxLength: 100 }),
        Type.Union([Type.String({ maxLength: 1000 }), Type.Number(), Type.Boolean()]),
      ),
    ),
  },
  { additionalProperties: false },
);
const CollectionRefs = Type.Array(
  Type.Union([Type.Integer({ minimum: 1 }), Type.String({ maxLength: 100 })]),
  {
    maxItems: 500,
    description: 'Collection ids or prefixes this profile may call.',
  },
);
const PolicyRef = Nullable(
  Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 1000 })]),
  { description: 'A policy id or name; null: no policy (no limits).' },
);
const IpAllowList = Type.Array(Type.String({ maxLength: 100 }), {
  maxItems: MAX_IP_RULES,
  description: 'CIDRs (`203.0.113.0/24`, `2001:db8::/32`) or addresses; a call from elsewhere → 403.',
});

export const CreateProfileBody = Type.Object(
  {
    name: Name,
    authMethod: Type.String({ maxLength: 20, description: `One of ${AUTH_METHODS.join(', ')}.` }),
    description: Type.Optional(Description),
    collections: Type.Optional(CollectionRefs),
    ipAllowList: Type.Optional(IpAllowList),
    enabled: Type.Optional(Enabled),
    jwt: Type.Optional(JwtInput),
    policyId: Type.Optional(PolicyRef),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'Partner A', authMethod: 'oauth2', collections: ['orders-api'], policyId: 1 }],
  },
);
export const UpdateProfileBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    collections: Type.Optional(CollectionRefs),
    ipAllowList: Type.Optional(IpAllowList),
    enabled: Type.Optional(Enabled),
    jwt: Type.Optional(JwtInput),
    policyId: Type.Optional(PolicyRef),
  },
  { additionalProperties: false },
);
export const RegenerateBody = Type.Union(
  [
    Type.Object(
      {
        graceSeconds: Type.Optional(
          Type.Integer({
            description: `oauth2: how long the previous secret keeps working, 0–${MAX_SECRET_GRACE_SECONDS} s (default 0).`,
          }),
        ),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional.' },
);

export const listProfilesSchema = {
  summary: 'List access profiles',
  querystring: ListQuery,
  response: { 200: Page(AccessProfile) },
};
export const createProfileSchema = {
  summary: 'Create an access profile',
  description:
    'oauth2: an API client (scope `gateway`, owned by you; you need `api.clients.create` too) is made with it; ' +
    'token: a static API token. Either credential is in this answer only.',
  body: CreateProfileBody,
  response: { 201: IssuedProfile },
};
export const getProfileSchema = {
  summary: 'An access profile',
  params: ProfileParams,
  response: { 200: AccessProfile },
};
export const updateProfileSchema = {
  summary: 'Change an access profile',
  description: 'Disabling it refuses its next call on every node. The authentication method cannot change.',
  params: ProfileParams,
  body: UpdateProfileBody,
  response: { 200: AccessProfile },
};
export const regenerateProfileSchema = {
  summary: "Regenerate an access profile's credentials",
  description:
    'oauth2: a new client secret; token: a new API token (the old one stops at once). Shown once; 409 for jwt profiles.',
  params: ProfileParams,
  body: RegenerateBody,
  response: { 200: IssuedProfile },
};
export const deleteProfileSchema = {
  summary: 'Delete an access profile',
  description: 'An oauth2 profile’s API client is revoked with it.',
  params: ProfileParams,
  response: { 204: NoContent },
};

// ---- policies --------------------------------------------------------------------------------

const RateLimitSetting = Obj(
  {
    limit: Type.Integer({ description: 'Calls per window.' }),
    per: Literals(RATE_UNITS, { description: 'Windows start on whole seconds or minutes (UTC).' }),
  },
  { description: 'null: no rate limit.' },
);
const QuotaSetting = Obj(
  {
    limit: Type.Integer({ description: 'Calls per window.' }),
    per: Literals(QUOTA_UNITS, { description: 'A calendar day or month in UTC.' }),
  },
  { description: 'null: no quota.' },
);
const ConcurrencySetting = Obj(
  {
    limit: Type.Integer({ description: 'Calls in flight at once, over every node.' }),
    queueSize: Type.Integer({ description: 'Calls that may wait for a slot (0: none).' }),
    maxWaitMs: Type.Integer({ description: 'How long a queued call waits before its 429.' }),
  },
  { description: 'null: no concurrency limit.' },
);

export const Policy = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    description: Type.String(),
    rateLimit: Nullable(RateLimitSetting),
    quota: Nullable(QuotaSetting),
    concurrency: Nullable(ConcurrencySetting),
    profileCount: Type.Integer({ description: 'The access profiles that use it.' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Policy' },
);

const RateLimitInput = Nullable(
  Type.Object(
    {
      limit: Type.Integer({ description: `1–${MAX_RATE_LIMIT}.` }),
      per: Type.String({ maxLength: 20, description: `One of ${RATE_UNITS.join(', ')}.` }),
    },
    { additionalProperties: false },
  ),
  { description: 'Calls per second or minute; null: none.' },
);
const QuotaInput = Nullable(
  Type.Object(
    {
      limit: Type.Integer({ description: `1–${MAX_QUOTA_LIMIT}.` }),
      per: Type.String({ maxLength: 20, description: `One of ${QUOTA_UNITS.join(', ')} (UTC calendar).` }),
    },
    { additionalProperties: false },
  ),
  { description: 'Calls per UTC day or month; null: none.' },
);
const ConcurrencyInput = Nullable(
  Type.Object(
    {
      limit: Type.Integer({ description: `1–${MAX_CONCURRENCY_LIMIT}.` }),
      queueSize: Type.Optional(Type.Integer({ description: `0–${MAX_QUEUE_SIZE} (default 0).` })),
      maxWaitMs: Type.Optional(
        Type.Integer({ description: `0–${MAX_QUEUE_WAIT_MS} ms (default 0; above 0 when queueSize is).` }),
      ),
    },
    { additionalProperties: false },
  ),
  { description: 'Calls in flight; null: none.' },
);

export const PolicyParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1000, description: 'The policy id or name.' }),
});

export const CreatePolicyBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    rateLimit: Type.Optional(RateLimitInput),
    quota: Type.Optional(QuotaInput),
    concurrency: Type.Optional(ConcurrencyInput),
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'Partner standard',
        rateLimit: { limit: 10, per: 'second' },
        quota: { limit: 100000, per: 'month' },
        concurrency: { limit: 5, queueSize: 10, maxWaitMs: 2000 },
      },
    ],
  },
);
export const UpdatePolicyBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    rateLimit: Type.Optional(RateLimitInput),
    quota: Type.Optional(QuotaInput),
    concurrency: Type.Optional(ConcurrencyInput),
  },
  { additionalProperties: false },
);

export const listPoliciesSchema = {
  summary: 'List policies',
  description: 'Needs `gateway.manage`. By id.',
  querystring: ListQuery,
  response: { 200: Page(Policy) },
};
export const createPolicySchema = {
  summary: 'Create a policy',
  description:
    'Rate limit, quota and concurrency limit, each optional. Give it to access profiles with their `policyId`.',
  body: CreatePolicyBody,
  response: { 201: Policy },
};
export const getPolicySchema = {
  summary: 'A policy',
  params: PolicyParams,
  response: { 200: Policy },
};
export const updatePolicySchema = {
  summary: 'Change a policy',
  description: 'null turns a limit off. Every node enforces the change from its next call.',
  params: PolicyParams,
  body: UpdatePolicyBody,
  response: { 200: Policy },
};
export const deletePolicySchema = {
  summary: 'Delete a policy',
  description: 'Only a policy no access profile uses: otherwise 409, naming the profiles.',
  params: PolicyParams,
  response: { 204: NoContent },
};
