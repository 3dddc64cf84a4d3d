/**
 * The typed admin API client: openapi-fetch over the types generated from Gatehouse's own
 * /openapi.json at build time (./openapi.d.ts), so a changed route or field fails `npm run build`.
 *
 * The session is the HttpOnly cookie (the browser sends it; this code never sees it). The CSRF
 * token lives in this module's memory only, never in storage or the URL, and goes out as
 * `X-CSRF-Token` on every write. A 401 from any call but sign-in means the session is gone: the
 * handler set with `onSessionExpired` takes the user back to sign-in.
 */
import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from './openapi';

export type { paths } from './openapi';

/** The JSON body of a path's method's answer with the given status. */
export type Answer<
  P extends keyof paths,
  M extends keyof paths[P],
  S extends number = 200,
> = paths[P][M] extends { responses: infer R }
  ? S extends keyof R
    ? R[S] extends { content: { 'application/json': infer B } }
      ? B
      : never
    : never
  : never;

export type Me = Answer<'/api/admin/v1/me', 'get'>;
/** A grant id of the catalog (the union the server documents). */
export type Grant = Me['grants'][number];
export type User = Me['user'];
export type ApiClient = Answer<'/api/admin/v1/clients/{id}', 'get'>;
export type IssuedClient = Answer<'/api/admin/v1/clients', 'post', 201>;
export type AccessToken = Answer<'/api/admin/v1/access-tokens/{id}', 'get'>;
export type ScopeInfo = Answer<'/api/admin/v1/scopes', 'get'>['items'][number];

/** An error answer of the API: `{error, message, details?}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | undefined;
let expiredHandler: (() => void) | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when a request answers 401 (the session expired or was ended elsewhere). */
export function onSessionExpired(handler: () => void): void {
  expiredHandler = handler;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const session: Middleware = {
  onRequest({ request }) {
    if (csrfToken !== undefined && UNSAFE.has(request.method)) request.headers.set('x-csrf-token', csrfToken);
    return request;
  },
  onResponse({ request, response }) {
    const signingIn = new URL(request.url).pathname === '/api/admin/v1/session' && request.method === 'POST';
    if (response.status === 401 && !signingIn) expiredHandler?.();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin' });
api.use(session);

/**
 * The data of an openapi-fetch result, or an ApiError carrying the server's `message`.
 * Usage: `const me = await unwrap(api.GET('/api/admin/v1/me'))`.
 */
export async function unwrap<D>(
  call: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<D> {
  let result: { data?: D; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (cause) {
    throw new ApiError(
      0,
      'network_error',
      'Gatehouse did not answer. Check the connection and try again.',
      cause,
    );
  }
  const { data, error, response } = result;
  if (response.ok) return data as D;
  const body = (error ?? {}) as {
    error?: unknown;
    message?: unknown;
    error_description?: unknown;
    details?: unknown;
  };
  const message =
    typeof body.message === 'string'
      ? body.message
      : typeof body.error_description === 'string'
        ? body.error_description
        : `The server answered ${response.status} ${response.statusText}.`;
  throw new ApiError(
    response.status,
    typeof body.error === 'string' ? body.error : 'error',
    message,
    body.details,
  );
}
