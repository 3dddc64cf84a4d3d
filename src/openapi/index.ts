/**
 * The API description: `GET /openapi.json` (OpenAPI 3.1, @fastify/swagger) and
 * `GET /docs` (Swagger UI from @fastify/swagger-ui, every asset served by
 * Gatehouse itself, no CDN).
 *
 * Route files declare what is particular to a route (summary, request schemas,
 * success responses). What a whole area shares is added here, in one place, by
 * an `onRoute` hook that runs before the route's schemas are compiled, so the
 * document and the runtime agree: the tag, the security requirement, and the
 * error responses (`{error, message, details?}`, or RFC 6749's
 * `{error, error_description}` on the OAuth endpoints), which fastify then also
 * serializes through.
 *
 * Register before any route (src/app.ts does), or the hook misses them.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import type { Config } from '../config.js';
import { ErrorBody, OAuthErrorBody } from '../schemas.js';

export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

/** Security schemes named in `components.securitySchemes`. */
const SECURITY_SCHEMES = {
  clientBasic: {
    type: 'http',
    scheme: 'basic',
    description:
      'OAuth client authentication `client_secret_basic`: the client ID and secret, each form-url-encoded, as HTTP Basic ' +
      '(RFC 6749 §2.3.1). Alternatively (`client_secret_post`) send `client_id` and `client_secret` in the body, never both.',
  },
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'gatehouse_session',
    description: 'The HttpOnly session cookie set by `POST /api/admin/v1/session`.',
  },
  csrfToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-CSRF-Token',
    description:
      'The `csrfToken` returned at sign-in; required with the session cookie on POST, PUT, PATCH and DELETE.',
  },
  developerToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'gh_dev_…',
    description:
      'A developer access token (`gh_dev_…`) acting as its user with the grants the user holds now.',
  },
  domoDeveloperToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-DOMO-Developer-Token',
    description: "A developer access token in Domo's header, the same as `Authorization: Bearer gh_dev_…`.",
  },
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from `/oauth/token` or `/oauth2/token` (RFC 9068 JWT, `typ: at+jwt`).',
  },
} as const;

type Security = ReadonlyArray<Readonly<Record<string, readonly string[]>>>;

const NONE: Security = [];
const CLIENT_AUTH: Security = [{ clientBasic: [] }, {}];
const ADMIN_READ: Security = [{ sessionCookie: [] }, { developerToken: [] }, { domoDeveloperToken: [] }];
const ADMIN_WRITE: Security = [
  { sessionCookie: [], csrfToken: [] },
  { developerToken: [] },
  { domoDeveloperToken: [] },
];
const BEARER: Security = [{ accessToken: [] }, { developerToken: [] }, { domoDeveloperToken: [] }];
/** The Workflows API also takes the admin session cookie (the admin UI), with the CSRF header on writes. */
const WORKFLOW_READ: Security = [...BEARER, { sessionCookie: [] }];
const WORKFLOW_WRITE: Security = [...BEARER, { sessionCookie: [], csrfToken: [] }];

const TAGS = [
  {
    name: 'OAuth',
    description: 'Token endpoints (Domo `/oauth/token`, Workato `/oauth2/token`), introspection, revocation.',
  },
  { name: 'Discovery', description: 'Public keys (RFC 7517) and authorization server metadata (RFC 8414).' },
  { name: 'Session', description: 'Admin sign-in and sign-out, and the signed-in user.' },
  { name: 'Users', description: 'Users; grant `users.manage`.' },
  { name: 'Roles', description: 'Roles and their grants; grant `roles.manage`.' },
  { name: 'Grants', description: 'The grant catalog.' },
  { name: 'Scopes', description: 'The OAuth scope catalog.' },
  { name: 'Audit', description: 'The audit log; grant `audit.view`.' },
  { name: 'Access tokens', description: 'Developer access tokens (Domo "Access Tokens").' },
  { name: 'API clients', description: 'OAuth API clients (Domo "API Clients").' },
  {
    name: 'Signing keys',
    description: 'The keys that sign access tokens; admins only (a role holding every grant).',
  },
  {
    name: 'Workflows',
    description:
      'The Workflows API (`/v1/workflows`); grant `workflow.api`, scope `workflow`. Also takes the admin session cookie (with `X-CSRF-Token` on writes).',
  },
  { name: 'Workflows (Domo)', description: 'Domo-compatible workflow instance calls (`/api/workflow/v1`).' },
  {
    name: 'Users (Domo)',
    description:
      'Domo `/v1/users`: reads need scope `user` (client tokens); writes also grant `users.manage`.',
  },
  {
    name: 'Groups (Domo)',
    description:
      'Domo `/v1/groups`: reads need scope `user` (client tokens); writes also grant `users.manage`.',
  },
  { name: 'Audit (Domo)', description: 'Domo `/v1/audit` activity log: scope `audit`, grant `audit.view`.' },
  {
    name: 'DataSets',
    description:
      'Domo-compatible DataSets (`/v1/datasets`): metadata, CSV import and export, queries; grant `data.view` to read and `data.manage` to write, scope `data` for client tokens.',
  },
  {
    name: 'Streams',
    description:
      'Domo-compatible Streams (`/v1/streams`): large uploads into a DataSet in parts, committed at once; the DataSets grants and scope.',
  },
  { name: 'Health', description: 'Liveness, readiness and this description.' },
] as const;

const ADMIN_PREFIX = '/api/admin/v1/';
const ADMIN_TAGS: Readonly<Record<string, string>> = {
  session: 'Session',
  me: 'Session',
  users: 'Users',
  roles: 'Roles',
  grants: 'Grants',
  scopes: 'Scopes',
  audit: 'Audit',
  'access-tokens': 'Access tokens',
  clients: 'API clients',
  keys: 'Signing keys',
};
const OAUTH_ENDPOINTS = new Set(['/oauth/token', '/oauth2/token', '/oauth/introspect', '/oauth/revoke']);
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad input: a malformed body, query or path parameter, or a value the service refuses.',
  401: 'No credentials, or credentials that are malformed, unknown, expired or revoked.',
  403: 'Authenticated, but lacking a grant or scope (named in `details`), a CSRF token, or a password change; or `escalation_denied` (the change would give out a grant the caller lacks, named in `details`) or `own_role` (changing one’s own role).',
  404: 'Does not exist, or the caller may not see it (the two answer the same).',
  409: 'Conflicts with the current state (a duplicate name, a role still assigned, a run that already ended …).',
  429: 'Too many attempts; `Retry-After` says when to try again.',
};

const OAUTH_ERROR_TEXT: Readonly<Record<number, string>> = {
  400: '`invalid_request`, `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2), with the no-store headers.',
  401: '`invalid_client`: one body for every authentication failure; `WWW-Authenticate: Basic` unless the credentials came in the body.',
  429: '`slow_down`: too many failed authentications for this client ID; `Retry-After` says when to try again.',
};

function errorResponse(status: number, body: TSchema = ErrorBody, text = ERROR_TEXT): TSchema {
  return { ...body, description: text[status] ?? 'Error.' };
}

interface AreaConventions {
  tags: string[];
  security: Security;
  errors: Record<number, TSchema>;
}

function methodsOf(route: RouteOptions): string[] {
  return Array.isArray(route.method) ? route.method : [route.method];
}

/** The tag, security and error responses of the area a route's URL belongs to; undefined for undocumented routes. */
export function areaConventions(route: RouteOptions): AreaConventions | undefined {
  const url = route.url;
  const methods = methodsOf(route);
  const schema = (route.schema ?? {}) as FastifySchema;
  const hasInput =
    schema.body !== undefined || schema.querystring !== undefined || schema.params !== undefined;
  const hasId = url.includes(':');
  const writes = methods.some((m) => UNSAFE.has(m));
  const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, errorResponse(s)]));

  if (OAUTH_ENDPOINTS.has(url)) {
    return {
      tags: ['OAuth'],
      security: CLIENT_AUTH,
      errors: Object.fromEntries(
        [400, 401, 429].map((s) => [s, errorResponse(s, OAuthErrorBody, OAUTH_ERROR_TEXT)]),
      ),
    };
  }
  if (url.startsWith('/.well-known/')) return { tags: ['Discovery'], security: NONE, errors: {} };
  if (url.startsWith(ADMIN_PREFIX)) {
    const resource = url.slice(ADMIN_PREFIX.length).split('/')[0] ?? '';
    const isSignIn = resource === 'session' && methods.includes('POST');
    const statuses = [
      ...(hasInput ? [400] : []),
      ...(isSignIn ? [401, 429] : [401, 403]),
      ...(hasId ? [404] : []),
      ...(writes && !isSignIn ? [409] : []),
    ];
    return {
      tags: [ADMIN_TAGS[resource] ?? 'Admin'],
      security: isSignIn ? NONE : writes ? ADMIN_WRITE : ADMIN_READ,
      errors: errors(...statuses),
    };
  }
  if (url.startsWith('/v1/workflows') || url.startsWith('/api/workflow/v1/')) {
    return {
      tags: [url.startsWith('/v1/') ? 'Workflows' : 'Workflows (Domo)'],
      security: writes ? WORKFLOW_WRITE : WORKFLOW_READ,
      errors: errors(...(hasInput ? [400] : []), 401, 403, 404, ...(writes ? [409] : [])),
    };
  }
  if (/^\/v1\/(users|groups|audit)(\/|$)/.test(url)) {
    return {
      tags: [
        url.startsWith('/v1/audit')
          ? 'Audit (Domo)'
          : url.startsWith('/v1/groups')
            ? 'Groups (Domo)'
            : 'Users (Domo)',
      ],
      security: BEARER,
      errors: errors(...(hasInput ? [400] : []), 401, 403, ...(hasId ? [404] : []), ...(writes ? [409] : [])),
    };
  }
  if (url.startsWith('/v1/datasets')) {
    const imports = url.endsWith('/data') && methods.includes('PUT');
    return {
      tags: ['DataSets'],
      security: BEARER,
      errors: errors(
        ...(hasInput ? [400] : []),
        401,
        403,
        ...(hasId ? [404] : []),
        ...(writes ? [409] : []),
        ...(imports ? [413, 415] : []),
      ),
    };
  }
  if (url.startsWith('/v1/streams')) {
    const parts = url.includes('/part/');
    return {
      tags: ['Streams'],
      security: BEARER,
      errors: errors(
        ...(hasInput ? [400] : []),
        401,
        403,
        ...(hasId ? [404] : []),
        ...(writes ? [409] : []),
        ...(parts ? [413, 415] : []),
      ),
    };
  }
  if (url === '/healthz' || url === '/readyz' || url === OPENAPI_PATH) {
    return { tags: ['Health'], security: NONE, errors: {} };
  }
  return undefined;
}

/** onRoute: fills in the area's tag, security and error responses the route did not declare itself. */
function applyAreaConventions(route: RouteOptions): void {
  const schema = (route.schema ?? {}) as FastifySchema & {
    hide?: boolean;
    tags?: string[];
    security?: Security;
    response?: Record<string, unknown>;
  };
  if (schema.hide) return;
  const area = areaConventions(route);
  if (!area) return;
  route.schema = {
    ...schema,
    tags: schema.tags ?? area.tags,
    security: schema.security ?? area.security,
    response: { ...area.errors, ...schema.response },
  } as FastifySchema;
}

export async function registerOpenApi(app: FastifyInstance, config: Config): Promise<void> {
  // Before swagger's own onRoute hook, so the document sees the completed schemas.
  app.addHook('onRoute', applyAreaConventions);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse API',
        version: '0.1.0',
        description:
          'Self-hosted OAuth 2.0 client-credentials API access platform: the token service (Domo and Workato ' +
          'compatible), the admin API, and the protected APIs behind the bearer guard. Errors are ' +
          '`{error, message, details?}` with a stable `error` code; the OAuth endpoints answer RFC 6749 ' +
          '`{error, error_description}`.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      servers: [{ url: config.issuer }],
      tags: TAGS.map((tag) => ({ ...tag })),
      components: { securitySchemes: structuredClone(SECURITY_SCHEMES) as never },
    },
  });
  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    staticCSP: true,
    uiConfig: { deepLinking: true, docExpansion: 'list', defaultModelsExpandDepth: 0 },
    theme: { title: 'Gatehouse API reference' },
  });
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This API description (OpenAPI 3.1)',
        response: {
          200: Type.Object(
            { openapi: Type.String() },
            { additionalProperties: true, description: 'OpenAPI 3.1 document' },
          ),
        },
      },
    },
    async () => app.swagger(),
  );
}
