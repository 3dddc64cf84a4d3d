/**
 * The error vocabulary. Every error a client can cause is one of these classes,
 * each with a stable `code` and HTTP status. `serializeError` is the only place
 * that turns an error into a response body; anything unknown becomes
 * `500 server_error` with no detail (the log gets the detail).
 *
 * OAuth endpoints (RFC 6749 §5.2) use `OAuthError`, whose body is
 * `{error, error_description}`; everything else uses `{error, message, details?}`.
 */

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Extra response headers (WWW-Authenticate, Retry-After, Allow …). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { details?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

/** 400: the request is malformed or a field is invalid. `details` may name the field. */
export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super(400, 'validation_error', message, { details });
  }
}

/** 400: the request itself is malformed (a body that cannot be read as sent), before any field is looked at. */
export class InvalidRequestError extends AppError {
  constructor(message: string, details?: unknown) {
    super(400, 'invalid_request', message, { details });
  }
}

/**
 * 400 from a DataSet query: the SQL cannot be parsed, or asks for something a query may not do
 * (another table, a catalogue, a function off the allow-list, a second statement, a write).
 * `details.refused` names it when there is one thing to name.
 */
export class InvalidQueryError extends AppError {
  constructor(message: string, details?: unknown) {
    super(400, 'invalid_query', message, { details });
  }
}

/**
 * 400 from a DataSet query that ran into a limit: `query_timeout` (wall-clock time) or
 * `query_result_too_large` (rows). `details` names the setting and its value.
 */
export class QueryLimitError extends AppError {
  constructor(
    code: 'query_timeout' | 'query_result_too_large',
    message: string,
    details: { setting: string; limit: number },
  ) {
    super(400, code, message, { details });
  }
}

/** 401: no or bad credentials. */
export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication required.', headers?: Record<string, string>) {
    super(401, 'unauthenticated', message, { headers });
  }
}

/** 403: authenticated but lacking a grant (or a CSRF token, or must change password first). */
export class ForbiddenError extends AppError {
  constructor(message: string, details?: unknown, headers?: Record<string, string>) {
    super(403, 'forbidden', message, { details, headers });
  }
}

/** 403 raised when a principal lacks a named grant. */
export class MissingGrantError extends ForbiddenError {
  constructor(readonly grant: string) {
    super(`This action needs the grant "${grant}".`, { grant });
  }
}

/**
 * 403: the change would give someone (the caller included) a grant the caller does not hold:
 * assigning a role, creating, copying or editing a role, acting on a user whose role holds more,
 * or a developer token for such a user. `details` names the first missing grant and lists all.
 */
export class EscalationDeniedError extends AppError {
  constructor(
    message: string,
    readonly missingGrants: readonly string[],
  ) {
    super(403, 'escalation_denied', message, { details: { grant: missingGrants[0], missingGrants } });
  }
}

/** 403: a change of the caller's own role (assigning themselves another one, or editing the one they hold). */
export class OwnRoleError extends AppError {
  constructor(message: string, role: string) {
    super(403, 'own_role', message, { details: { role } });
  }
}

/** 401 from sign-in: the same body whether the email, the password or the account status was wrong. */
export class InvalidCredentialsError extends AppError {
  constructor() {
    super(401, 'invalid_credentials', 'Email or password is incorrect.');
  }
}

/** 403: a cookie-authenticated write without the session's X-CSRF-Token. */
export class CsrfError extends AppError {
  constructor() {
    super(
      403,
      'csrf_failed',
      'Missing or invalid X-CSRF-Token header; send the csrfToken returned at sign-in.',
    );
  }
}

/** 403: the account's password was generated or reset and must be changed before anything else. */
export class PasswordChangeRequiredError extends AppError {
  constructor() {
    super(
      403,
      'password_change_required',
      'You must change your password first: POST /api/admin/v1/me/password with currentPassword and newPassword.',
    );
  }
}

/** 404: does not exist, or the caller may not see it (the two are indistinguishable on purpose). */
export class NotFoundError extends AppError {
  constructor(what: string, id?: string | number) {
    super(404, 'not_found', id === undefined ? `${what} not found.` : `${what} ${id} not found.`);
  }
}

/** 405: the resource exists but the method makes no sense for it. */
export class MethodNotAllowedError extends AppError {
  constructor(message: string, allow: string) {
    super(405, 'method_not_allowed', message, { headers: { allow } });
  }
}

/** 409: the request conflicts with current state (duplicate name, role in use …). */
export class ConflictError extends AppError {
  constructor(message: string, details?: unknown) {
    super(409, 'conflict', message, { details });
  }
}

/** 413: body too large. */
export class PayloadTooLargeError extends AppError {
  constructor(message = 'Request body is too large.') {
    super(413, 'payload_too_large', message);
  }
}

/**
 * 499 (nginx's "client closed request"): the client went away before its request body was read
 * to the end. Nobody receives the answer; the status is for the access log and the metrics, so a
 * dropped upload is not counted as a server error.
 */
export class ClientClosedRequestError extends AppError {
  constructor(message = 'The client closed the connection before the request body was complete.') {
    super(499, 'client_closed_request', message);
  }
}

/** 415: a body of a media type the route does not take. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
  }
}

/** 429: throttled. `headers` may add the RateLimit-* headers (they win over the default Retry-After). */
export class TooManyRequestsError extends AppError {
  constructor(message: string, retryAfterSeconds: number, headers: Record<string, string> = {}) {
    super(429, 'too_many_requests', message, {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))), ...headers },
      details: { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterSeconds)) },
    });
  }
}

/**
 * 429 from an API platform policy: `rate_limited` (calls per second or minute), `quota_exceeded`
 * (calls per UTC day or month) or `concurrency_limited` (calls in flight, after the queue). The
 * headers carry Retry-After and, for a rate or quota, the RateLimit-* fields.
 */
export class PolicyLimitError extends AppError {
  constructor(
    code: 'rate_limited' | 'quota_exceeded' | 'concurrency_limited',
    message: string,
    headers: Record<string, string>,
    details: Record<string, unknown>,
  ) {
    super(429, code, message, { headers, details });
  }
}

/** 502: the API platform could not reach an endpoint's upstream (the message names the endpoint, never the upstream). */
export class BadGatewayError extends AppError {
  constructor(message: string, details?: unknown) {
    super(502, 'bad_gateway', message, { details });
  }
}

/** 504: an endpoint's upstream did not answer within the endpoint's timeout. */
export class GatewayTimeoutError extends AppError {
  constructor(message: string, details?: unknown) {
    super(504, 'gateway_timeout', message, { details });
  }
}

/** 503: not ready (migrations running, database unreachable) or busy; `retryAfterSeconds` adds Retry-After. */
export class UnavailableError extends AppError {
  constructor(message: string, retryAfterSeconds?: number) {
    super(
      503,
      'unavailable',
      message,
      retryAfterSeconds === undefined ? {} : { headers: { 'retry-after': String(retryAfterSeconds) } },
    );
  }
}

/**
 * 503: SQLite's write lock stayed with other processes (the cluster's other workers, a CLI
 * command) for the whole lock wait (src/store/sqlite-lock.ts); the write was not made. `cause` is
 * SQLite's own error, for the log.
 */
export class DatabaseBusyError extends UnavailableError {
  constructor(cause?: unknown) {
    super('The database is busy with other writes; nothing was changed. Try again shortly.', 1);
    if (cause !== undefined) this.cause = cause;
  }
}

/** RFC 6749 §5.2 error codes used by the token, introspection and revocation endpoints. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'slow_down';

export class OAuthError extends AppError {
  constructor(
    readonly oauthCode: OAuthErrorCode,
    readonly description: string,
    status = oauthCode === 'invalid_client' ? 401 : 400,
    headers?: Record<string, string>,
  ) {
    super(status, oauthCode, description, { headers });
  }
}

/** RFC 6750 errors from the bearer guard; the body follows the admin vocabulary, the header RFC 6750 §3. */
export class BearerError extends AppError {
  constructor(
    status: 401 | 403,
    code: string,
    message: string,
    headers: Record<string, string>,
    details?: unknown,
  ) {
    super(status, code, message, { headers, details });
  }
}

export interface SerializedError {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody | { error: string; error_description: string };
}

/** Errors fastify itself raises for client mistakes (bad JSON, body too large, bad content type …). */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  validation?: ReadonlyArray<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
  message?: string;
}

/**
 * A PostgreSQL data exception (SQLSTATE class 22: a number out of range, text the encoding cannot
 * hold, input syntax a type refuses). The HTTP layer refuses such values before they reach the
 * store (row ids past 2^31, NUL characters, non-finite numbers); this is the net behind it, so a
 * value some future route forgets to check is a 400 that changed nothing (the transaction rolled
 * back), not a 500. The log still gets the database's own message, at warn.
 */
export function isDatabaseDataException(error: unknown): boolean {
  const e = error as { code?: unknown; severity?: unknown } | null;
  return typeof e?.code === 'string' && /^22[0-9A-Z]{3}$/.test(e.code) && typeof e.severity === 'string';
}

/**
 * SQLite could not take a lock: SQLITE_BUSY or an extended code of it (SQLITE_BUSY_SNAPSHOT: a
 * transaction that read, then tried to write after another connection wrote; SQLITE_BUSY_RECOVERY
 * …); "database is locked" in its message. The store waits and retries these and then throws
 * DatabaseBusyError; `serializeError` answers one that got past it with that error's 503 too.
 */
export function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof OAuthError) {
    return {
      status: error.status,
      headers: { ...error.headers },
      body: { error: error.oauthCode, error_description: error.description },
    };
  }
  if (error instanceof AppError) {
    const body: ErrorBody = { error: error.code, message: error.message };
    if (error.details !== undefined) body.details = error.details;
    return { status: error.status, headers: { ...error.headers }, body };
  }
  const fe = error as FastifyLikeError | null;
  if (fe && Array.isArray(fe.validation)) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? 'body';
    // A missing or unexpected property is named by ajv in params, not in the path.
    const named = first?.params?.missingProperty ?? first?.params?.additionalProperty;
    const field = [
      first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : '',
      typeof named === 'string' ? named : '',
    ]
      .filter((part) => part !== '')
      .join('.');
    const message = field
      ? `Invalid ${where}: "${field}" ${first?.message ?? 'is invalid'}.`
      : `Invalid ${where}: ${first?.message ?? 'validation failed'}.`;
    return {
      status: 400,
      headers: {},
      body: { error: 'validation_error', message, details: { in: where, field: field || undefined } },
    };
  }
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.code ?? '';
    if (fe.statusCode === 413 || code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return {
        status: 413,
        headers: {},
        body: { error: 'payload_too_large', message: 'Request body is too large.' },
      };
    }
    if (fe.statusCode === 415 || code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return {
        status: 415,
        headers: {},
        body: {
          error: 'unsupported_media_type',
          message: 'Unsupported Content-Type; send application/json.',
        },
      };
    }
    // Malformed JSON, empty JSON body, bad content length …: the message is fastify's and safe to show.
    return {
      status: 400,
      headers: {},
      body: { error: 'invalid_request', message: fe.message ?? 'The request is malformed.' },
    };
  }
  if (isSqliteBusy(error)) return serializeError(new DatabaseBusyError(error));
  if (isDatabaseDataException(error)) {
    return {
      status: 400,
      headers: {},
      body: {
        error: 'invalid_request',
        message:
          'A value in the request cannot be stored or compared: a number is out of range or a text is not valid.',
      },
    };
  }
  return {
    status: 500,
    headers: {},
    body: { error: 'server_error', message: 'Internal server error.' },
  };
}
