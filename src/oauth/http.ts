/**
 * What every OAuth endpoint shares: the no-store and security headers Domo's
 * token endpoint sends (spec 001), reading parameters from the query or a
 * form/JSON body, the form-body parser, and the mapping of any error on these
 * routes (fastify's own included) to an RFC 6749 §5.2 body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, DatabaseBusyError, isSqliteBusy, OAuthError, serializeError } from '../errors.js';
import { noteError } from '../request-log.js';
import { NO_STORE_HEADERS } from '../security-headers.js';

export { NO_STORE_HEADERS } from '../security-headers.js';

export const JSON_CONTENT_TYPE = 'application/json;charset=utf-8';

/** Step: every answer of a token-bearing endpoint is uncacheable. */
export function noStore(reply: FastifyReply): void {
  void reply.headers(NO_STORE_HEADERS);
}

/** Sends `body` serialized in the key order given, with the exact Content-Type of spec 001. */
export function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(JSON_CONTENT_TYPE).send(JSON.stringify(body));
}

export type OAuthParameters = Partial<Record<string, string>>;

const CREDENTIAL_PARAMETERS = new Set(['client_id', 'client_secret']);

/**
 * The named parameters of a request: the query string for GET, the body (plus
 * the query string) for POST. A parameter given twice, or not as a string, is
 * `invalid_request` (RFC 6749 §3.2); client credentials never come from the URL.
 */
export function readParameters(request: FastifyRequest, names: readonly string[]): OAuthParameters {
  const query = (request.query ?? {}) as Record<string, unknown>;
  let body: Record<string, unknown> = {};
  if (
    request.method === 'POST' &&
    request.body !== undefined &&
    request.body !== null &&
    request.body !== ''
  ) {
    if (typeof request.body !== 'object' || Array.isArray(request.body)) {
      throw new OAuthError('invalid_request', 'The request body must be a form or a JSON object.');
    }
    body = request.body as Record<string, unknown>;
  }
  const out: OAuthParameters = {};
  for (const name of names) {
    const fromQuery = Object.hasOwn(query, name) ? query[name] : undefined;
    const fromBody = Object.hasOwn(body, name) ? body[name] : undefined;
    if (fromQuery !== undefined && CREDENTIAL_PARAMETERS.has(name)) {
      throw new OAuthError('invalid_request', `"${name}" must not be sent in the URL.`);
    }
    if (fromQuery !== undefined && fromBody !== undefined) {
      throw new OAuthError('invalid_request', `Parameter "${name}" is given more than once.`);
    }
    const value = fromBody ?? fromQuery;
    if (value === undefined) continue;
    if (Array.isArray(value))
      throw new OAuthError('invalid_request', `Parameter "${name}" is given more than once.`);
    if (typeof value !== 'string')
      throw new OAuthError('invalid_request', `Parameter "${name}" must be a string.`);
    out[name] = value;
  }
  return out;
}

/**
 * Step: the named parameter must be present. Empty counts as absent (RFC 6749 §3.1).
 */
export function requireParameter(params: OAuthParameters, name: string): string {
  const value = params[name];
  if (value === undefined || value === '')
    throw new OAuthError('invalid_request', `Missing parameter "${name}".`);
  return value;
}

/** `application/x-www-form-urlencoded` bodies; a JSON document sent under that type is refused. */
export function addFormParser(app: FastifyInstance): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (_request, body, done) => {
      const text = String(body);
      if (/^\s*[[{]/.test(text)) {
        done(
          new OAuthError(
            'invalid_request',
            'The body is JSON but Content-Type says application/x-www-form-urlencoded.',
          ),
        );
        return;
      }
      const out: Record<string, string | string[]> = {};
      for (const [key, value] of new URLSearchParams(text)) {
        const existing = out[key];
        if (existing === undefined) out[key] = value;
        else out[key] = Array.isArray(existing) ? [...existing, value] : [existing, value];
      }
      done(null, out);
    },
  );
}

/** Any error raised on an OAuth route, as the OAuth error it means. */
export function toOAuthError(error: unknown): OAuthError | undefined {
  if (error instanceof OAuthError) return error;
  if (isSqliteBusy(error)) return toOAuthError(new DatabaseBusyError(error));
  if (error instanceof AppError) {
    if (error.status === 503)
      return new OAuthError('temporarily_unavailable', error.message, 503, { ...error.headers });
    if (error.status === 429) return new OAuthError('slow_down', error.message, 429, { ...error.headers });
    if (error.status < 500) return new OAuthError('invalid_request', error.message);
    return undefined;
  }
  const fe = error as { statusCode?: unknown; code?: unknown } | null;
  const status = typeof fe?.statusCode === 'number' ? fe.statusCode : undefined;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  const code = typeof fe?.code === 'string' ? fe.code : '';
  if (status === 413 || code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new OAuthError('invalid_request', 'The request body is too large.');
  }
  if (status === 415 || code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new OAuthError(
      'invalid_request',
      'Send the parameters as application/x-www-form-urlencoded or application/json.',
    );
  }
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return new OAuthError('invalid_request', 'The JSON body is empty.');
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new OAuthError('invalid_request', 'Content-Length does not match the body.');
  }
  if (error instanceof SyntaxError || code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new OAuthError('invalid_request', 'The body is not valid JSON.');
  }
  return new OAuthError('invalid_request', 'The request is malformed.');
}

/** Error handler for the OAuth routes: RFC 6749 bodies with the no-store headers, never the admin shape. */
export function oauthErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const oauthError = toOAuthError(error) ?? new OAuthError('server_error', 'Internal server error.', 500);
  noteError(reply, oauthError.oauthCode, oauthError.description);
  if (oauthError.status >= 500 && oauthError.oauthCode === 'server_error') {
    request.log.error(
      {
        err: error,
        method: request.method,
        url: request.url.split('?')[0],
        status: oauthError.status,
        error: oauthError.oauthCode,
        message: oauthError.description,
      },
      'OAuth request failed',
    );
  }
  const { status, headers, body } = serializeError(oauthError);
  noStore(reply);
  void sendJson(reply.headers(headers), status, body);
}
