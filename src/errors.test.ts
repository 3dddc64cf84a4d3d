import { describe, expect, it } from 'vitest';
import {
  isDatabaseDataException,
  type AppError,
  BearerError,
  ConflictError,
  CsrfError,
  DatabaseBusyError,
  EscalationDeniedError,
  ForbiddenError,
  InvalidCredentialsError,
  InvalidQueryError,
  isSqliteBusy,
  MethodNotAllowedError,
  MissingGrantError,
  NotFoundError,
  OAuthError,
  OwnRoleError,
  PasswordChangeRequiredError,
  PayloadTooLargeError,
  QueryLimitError,
  serializeError,
  TooManyRequestsError,
  UnauthenticatedError,
  UnavailableError,
  ValidationError,
} from './errors.js';

describe('serializeError', () => {
  it.each<[string, AppError, ReturnType<typeof serializeError>]>([
    [
      'ValidationError',
      new ValidationError('Email must not be empty.', { field: 'email' }),
      {
        status: 400,
        headers: {},
        body: { error: 'validation_error', message: 'Email must not be empty.', details: { field: 'email' } },
      },
    ],
    [
      'UnauthenticatedError',
      new UnauthenticatedError(),
      { status: 401, headers: {}, body: { error: 'unauthenticated', message: 'Authentication required.' } },
    ],
    [
      'InvalidCredentialsError',
      new InvalidCredentialsError(),
      {
        status: 401,
        headers: {},
        body: { error: 'invalid_credentials', message: 'Email or password is incorrect.' },
      },
    ],
    [
      'ForbiddenError',
      new ForbiddenError('Not yours.'),
      { status: 403, headers: {}, body: { error: 'forbidden', message: 'Not yours.' } },
    ],
    [
      'MissingGrantError',
      new MissingGrantError('users.manage'),
      {
        status: 403,
        headers: {},
        body: {
          error: 'forbidden',
          message: 'This action needs the grant "users.manage".',
          details: { grant: 'users.manage' },
        },
      },
    ],
    [
      'EscalationDeniedError',
      new EscalationDeniedError('You cannot assign the role "Helpers": …', ['roles.manage', 'audit.view']),
      {
        status: 403,
        headers: {},
        body: {
          error: 'escalation_denied',
          message: 'You cannot assign the role "Helpers": …',
          details: { grant: 'roles.manage', missingGrants: ['roles.manage', 'audit.view'] },
        },
      },
    ],
    [
      'OwnRoleError',
      new OwnRoleError('You cannot change your own role; …', 'Ops'),
      {
        status: 403,
        headers: {},
        body: { error: 'own_role', message: 'You cannot change your own role; …', details: { role: 'Ops' } },
      },
    ],
    [
      'CsrfError',
      new CsrfError(),
      {
        status: 403,
        headers: {},
        body: {
          error: 'csrf_failed',
          message: 'Missing or invalid X-CSRF-Token header; send the csrfToken returned at sign-in.',
        },
      },
    ],
    [
      'PasswordChangeRequiredError',
      new PasswordChangeRequiredError(),
      {
        status: 403,
        headers: {},
        body: {
          error: 'password_change_required',
          message:
            'You must change your password first: POST /api/admin/v1/me/password with currentPassword and newPassword.',
        },
      },
    ],
    [
      'NotFoundError',
      new NotFoundError('Role', 'Wizards'),
      { status: 404, headers: {}, body: { error: 'not_found', message: 'Role Wizards not found.' } },
    ],
    [
      'MethodNotAllowedError',
      new MethodNotAllowedError('API clients cannot be edited.', 'GET, DELETE'),
      {
        status: 405,
        headers: { allow: 'GET, DELETE' },
        body: { error: 'method_not_allowed', message: 'API clients cannot be edited.' },
      },
    ],
    [
      'ConflictError',
      new ConflictError('Role "X" is assigned to 2 users; move them to another role first.', { users: 2 }),
      {
        status: 409,
        headers: {},
        body: {
          error: 'conflict',
          message: 'Role "X" is assigned to 2 users; move them to another role first.',
          details: { users: 2 },
        },
      },
    ],
    [
      'PayloadTooLargeError',
      new PayloadTooLargeError(),
      {
        status: 413,
        headers: {},
        body: { error: 'payload_too_large', message: 'Request body is too large.' },
      },
    ],
    [
      'TooManyRequestsError',
      new TooManyRequestsError('Too many sign-in attempts.', 12.2),
      {
        status: 429,
        headers: { 'retry-after': '13' },
        body: {
          error: 'too_many_requests',
          message: 'Too many sign-in attempts.',
          details: { retryAfterSeconds: 13 },
        },
      },
    ],
    [
      'InvalidQueryError',
      new InvalidQueryError('The function pg_read_file is not allowed.', { refused: 'pg_read_file' }),
      {
        status: 400,
        headers: {},
        body: {
          error: 'invalid_query',
          message: 'The function pg_read_file is not allowed.',
          details: { refused: 'pg_read_file' },
        },
      },
    ],
    [
      'QueryLimitError',
      new QueryLimitError('query_timeout', 'The query ran longer than 10 ms.', {
        setting: 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS',
        limit: 10,
      }),
      {
        status: 400,
        headers: {},
        body: {
          error: 'query_timeout',
          message: 'The query ran longer than 10 ms.',
          details: { setting: 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS', limit: 10 },
        },
      },
    ],
    [
      'UnavailableError',
      new UnavailableError('Gatehouse is starting.'),
      { status: 503, headers: {}, body: { error: 'unavailable', message: 'Gatehouse is starting.' } },
    ],
    [
      'DatabaseBusyError',
      new DatabaseBusyError(),
      {
        status: 503,
        headers: { 'retry-after': '1' },
        body: {
          error: 'unavailable',
          message: 'The database is busy with other writes; nothing was changed. Try again shortly.',
        },
      },
    ],
    [
      'BearerError',
      new BearerError(401, 'invalid_token', 'The access token expired.', {
        'www-authenticate': 'Bearer realm="gatehouse", error="invalid_token"',
      }),
      {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="gatehouse", error="invalid_token"' },
        body: { error: 'invalid_token', message: 'The access token expired.' },
      },
    ],
  ])('%s → its status, code and body', (_name, error, expected) => {
    expect(serializeError(error)).toEqual(expected);
  });

  it('gives OAuth errors the RFC 6749 §5.2 body, 401 for invalid_client and 400 otherwise', () => {
    expect(
      serializeError(
        new OAuthError('invalid_client', 'Client authentication failed.', undefined, {
          'www-authenticate': 'Basic realm="gatehouse"',
        }),
      ),
    ).toEqual({
      status: 401,
      headers: { 'www-authenticate': 'Basic realm="gatehouse"' },
      body: { error: 'invalid_client', error_description: 'Client authentication failed.' },
    });
    expect(
      serializeError(new OAuthError('invalid_scope', 'Scope "admin" is not allowed for this client.')),
    ).toEqual({
      status: 400,
      headers: {},
      body: { error: 'invalid_scope', error_description: 'Scope "admin" is not allowed for this client.' },
    });
  });

  it('does not share header objects between an error and its serialization', () => {
    const error = new TooManyRequestsError('Slow down.', 1);
    const { headers } = serializeError(error);
    headers['retry-after'] = '999';
    expect(error.headers['retry-after']).toBe('1');
  });

  it('turns fastify schema failures into a 400 naming the field', () => {
    const missing = Object.assign(new Error('body must have required property email'), {
      statusCode: 400,
      validationContext: 'body',
      validation: [
        {
          instancePath: '',
          message: "must have required property 'email'",
          params: { missingProperty: 'email' },
        },
      ],
    });
    expect(serializeError(missing)).toEqual({
      status: 400,
      headers: {},
      body: {
        error: 'validation_error',
        message: `Invalid body: "email" must have required property 'email'.`,
        details: { in: 'body', field: 'email' },
      },
    });
    const nested = Object.assign(new Error('bad'), {
      statusCode: 400,
      validationContext: 'querystring',
      validation: [{ instancePath: '/limit', message: 'must be <= 200', params: {} }],
    });
    expect(serializeError(nested).body).toEqual({
      error: 'validation_error',
      message: 'Invalid querystring: "limit" must be <= 200.',
      details: { in: 'querystring', field: 'limit' },
    });
  });

  it('maps fastify client errors: too large → 413, bad media type → 415, malformed JSON → 400', () => {
    expect(
      serializeError(
        Object.assign(new Error('Request body is too large'), {
          statusCode: 413,
          code: 'FST_ERR_CTP_BODY_TOO_LARGE',
        }),
      ),
    ).toEqual({
      status: 413,
      headers: {},
      body: { error: 'payload_too_large', message: 'Request body is too large.' },
    });
    expect(
      serializeError(
        Object.assign(new Error('Unsupported Media Type'), {
          statusCode: 415,
          code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        }),
      ),
    ).toEqual({
      status: 415,
      headers: {},
      body: { error: 'unsupported_media_type', message: 'Unsupported Content-Type; send application/json.' },
    });
    expect(
      serializeError(
        Object.assign(new SyntaxError('Unexpected token \'x\', "x" is not valid JSON'), {
          statusCode: 400,
          code: 'FST_ERR_CTP_INVALID_JSON_BODY',
        }),
      ),
    ).toEqual({
      status: 400,
      headers: {},
      body: { error: 'invalid_request', message: 'Unexpected token \'x\', "x" is not valid JSON' },
    });
  });

  it('answers anything else with 500 server_error and no detail (no message, stack or SQL)', () => {
    const leaky = new Error('SQLITE_ERROR: no such column: password_hash in SELECT * FROM users');
    const expected = {
      status: 500,
      headers: {},
      body: { error: 'server_error', message: 'Internal server error.' },
    };
    expect(serializeError(leaky)).toEqual(expected);
    expect(serializeError(Object.assign(new Error('boom'), { statusCode: 500 }))).toEqual(expected);
    expect(serializeError('a string')).toEqual(expected);
    expect(serializeError(null)).toEqual(expected);
    expect(serializeError(undefined)).toEqual(expected);
  });
  it('answers a PostgreSQL data exception (SQLSTATE 22xxx) with 400 invalid_request, without the database message', () => {
    // The shape pg gives a DatabaseError: the SQLSTATE in `code`, a `severity`, the value in the message.
    const outOfRange = Object.assign(
      new Error('value "9223372036854775808" is out of range for type integer'),
      {
        code: '22003',
        severity: 'ERROR',
      },
    );
    const nul = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), {
      code: '22021',
      severity: 'ERROR',
    });
    for (const error of [outOfRange, nul]) {
      expect(isDatabaseDataException(error)).toBe(true);
      expect(serializeError(error)).toEqual({
        status: 400,
        headers: {},
        body: {
          error: 'invalid_request',
          message:
            'A value in the request cannot be stored or compared: a number is out of range or a text is not valid.',
        },
      });
    }
    // Other database errors (a unique violation, a missing table) stay 500s: they are not the caller's doing.
    const missingTable = Object.assign(new Error('relation "users" does not exist'), {
      code: '42P01',
      severity: 'ERROR',
    });
    expect(isDatabaseDataException(missingTable)).toBe(false);
    expect(serializeError(missingTable).status).toBe(500);
    expect(isDatabaseDataException(Object.assign(new Error('x'), { code: '22003' }))).toBe(false);
  });
  it('answers a SQLite "database is locked" that got past the store’s lock wait with the 503, not a 500', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const snapshot = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY_SNAPSHOT' });
    for (const error of [busy, snapshot]) {
      expect(isSqliteBusy(error)).toBe(true);
      expect(serializeError(error)).toEqual(serializeError(new DatabaseBusyError()));
    }
    expect(isSqliteBusy(Object.assign(new Error('x'), { code: 'SQLITE_BUSYNESS' }))).toBe(false);
    expect(isSqliteBusy(Object.assign(new Error('locked table'), { code: 'SQLITE_LOCKED' }))).toBe(false);
  });
});
