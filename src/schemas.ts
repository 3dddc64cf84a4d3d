/**
 * Schema pieces every HTTP area shares: the two error bodies of src/errors.ts,
 * a cursor page, nullable values, and the numeric ranges of paging parameters.
 *
 * Route schemas do two jobs: fastify validates requests with them (TypeBox type
 * provider) and serializes responses through them (fast-json-stringify, which
 * writes the properties in schema order and drops any property a schema does not
 * name), and @fastify/swagger turns them into /openapi.json. So a response schema
 * lists every property, in the order the service builds the object, and is
 * closed (`additionalProperties: false`): the tests validate every response
 * against it (test/helpers/app.ts), so a property missing from a schema fails a
 * test instead of silently vanishing from the wire.
 */
import AjvCompiler from '@fastify/ajv-compiler';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './services/pagination.js';
import { MAX_PROFILE_TEXT } from './services/users.js';
import { type TObject, type TProperties, type TSchema, type TUnsafe, Type } from '@sinclair/typebox';

const ajvValidators = AjvCompiler();

/**
 * fastify's own validator factory (`schemaController.compilersFactory.buildValidator`), except
 * that JSON bodies are not coerced: a query string or path parameter is text, so `?limit=5`
 * becomes 5, but a JSON body already carries its types, and `{"name": 42}` or
 * `{"scopes": "data"}` is a 400 naming the field, not a name "42" or a list of one.
 */
export const buildValidator: AjvCompiler.BuildCompilerFromPool = (externalSchemas, options) => {
  const coercing = ajvValidators(externalSchemas, options);
  const exact = ajvValidators(externalSchemas, {
    ...options,
    customOptions: { ...options?.customOptions, coerceTypes: false },
  } as typeof options);
  return (route) => (route.httpPart === 'body' ? exact(route) : refusingNonFinite(coercing(route)));
};

type CompiledValidator = ReturnType<ReturnType<AjvCompiler.BuildCompilerFromPool>>;

/**
 * Ajv coerces `1e400` (and `Infinity`) in a query or path parameter to Infinity, which then
 * passes `type: integer` and skips `maximum` (both only look at finite numbers), so an id of
 * 1e400 would reach the database. After coercion, a parameter that became a non-finite
 * number is refused as the schema would have refused it.
 */
function refusingNonFinite(validate: CompiledValidator): CompiledValidator {
  const checked = ((data: unknown) => {
    const valid = validate(data);
    if (valid !== true) {
      checked.errors = validate.errors;
      return valid;
    }
    const field = nonFiniteProperty(data);
    if (field === undefined) {
      checked.errors = null;
      return true;
    }
    checked.errors = [
      {
        instancePath: `/${field}`,
        schemaPath: '',
        keyword: 'type',
        params: {},
        message: 'must be a finite number',
      },
    ];
    return false;
  }) as CompiledValidator;
  return checked;
}

/** The first property of a (flat) query, params or headers object holding a non-finite number. */
function nonFiniteProperty(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  for (const [name, value] of Object.entries(data)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'number' && !Number.isFinite(v))) return name;
  }
  return undefined;
}

/** A response object: every property listed, nothing else sent. */
export function Obj<T extends TProperties>(properties: T, options: Record<string, unknown> = {}): TObject<T> {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/** One of the given strings (an enum, as JSON Schema `anyOf` of `const`s). */
export function Literals<T extends string>(
  values: readonly T[],
  options: Record<string, unknown> = {},
): TUnsafe<T> {
  return Type.Unsafe<T>(
    Type.Union(
      values.map((value) => Type.Literal(value)),
      options,
    ),
  );
}

export function Nullable<T extends TSchema>(schema: T, options: Record<string, unknown> = {}) {
  return Type.Union([schema, Type.Null()], options);
}

/** An ISO-8601 timestamp as the services write them (`2026-01-31T12:00:00.000Z`). */
export const Timestamp = Type.String({ format: 'date-time', examples: ['2026-01-31T12:00:00.000Z'] });

/** Any JSON object (details, variables, outputs …). */
export const JsonObject = Type.Record(Type.String(), Type.Unknown());

/** A response without a body (204, or the empty 200 of `/oauth/revoke`). */
export function NoBody(description: string) {
  return Type.Unsafe<void>({ type: 'null', description });
}

/** `{error, message, details?}`: every non-OAuth error (src/errors.ts `serializeError`). */
export const ErrorBody = Obj(
  {
    error: Type.String({
      description: 'Stable error code, e.g. `validation_error`, `not_found`, `forbidden`.',
    }),
    message: Type.String({ description: 'A sentence for people; may change between versions.' }),
    details: Type.Optional(
      Type.Unknown({
        description: 'Machine-readable particulars, e.g. `{"field": "name"}` or `{"grant": "users.manage"}`.',
      }),
    ),
  },
  {
    title: 'Error',
    examples: [
      { error: 'validation_error', message: 'Client name must not be empty.', details: { field: 'name' } },
    ],
  },
);

/** RFC 6749 §5.2: the token, introspection and revocation endpoints' errors. */
export const OAuthErrorBody = Obj(
  {
    error: Literals([
      'invalid_request',
      'invalid_client',
      'invalid_grant',
      'unauthorized_client',
      'unsupported_grant_type',
      'invalid_scope',
      'unsupported_token_type',
      'server_error',
      'temporarily_unavailable',
      'slow_down',
    ]),
    error_description: Type.String(),
  },
  {
    title: 'OAuth error (RFC 6749 §5.2)',
    examples: [{ error: 'invalid_client', error_description: 'Client authentication failed.' }],
  },
);

/** A cursor page (`src/services/pagination.ts`): `nextCursor` is null on the last page. */
export function Page<T extends TSchema>(item: T, options: Record<string, unknown> = {}) {
  return Obj(
    {
      items: Type.Array(item),
      nextCursor: Nullable(Type.String(), {
        description: 'Pass as `cursor` for the next page; null on the last page.',
      }),
    },
    options,
  );
}

/** `limit` of a cursor-paged admin list (`pagination.ts` MAX_PAGE_SIZE). */
export const CursorLimit = Type.Integer({
  minimum: 1,
  maximum: MAX_PAGE_SIZE,
  description: `Page size (default ${DEFAULT_PAGE_SIZE}).`,
});
export const Cursor = Type.String({ maxLength: 200, description: 'The `nextCursor` of the previous page.' });

/** `GET /healthz` and `GET /readyz` (src/app.ts). */
export const healthSchema = {
  summary: 'Liveness: the database answers',
  response: {
    200: Obj({ status: Type.Literal('ok') }, { description: 'Serving, and the database answers.' }),
    503: Obj(
      { status: Type.Literal('unavailable'), message: Type.String() },
      { description: 'The database does not answer.' },
    ),
  },
};

const ReadyCheck = Type.Union([Type.Literal('ok'), Type.Literal('failed')]);
const ReadyChecks = Obj(
  {
    database: ReadyCheck,
    migrations: ReadyCheck,
    signingKey: ReadyCheck,
  },
  {
    description:
      'database: it answers `select 1`; migrations: every migration is applied; signingKey: an active signing key exists and unseals with the secret key.',
  },
);

export const readySchema = {
  summary: 'Readiness: database answers, migrations applied, signing key usable',
  description:
    'Cheap enough to poll: one `select 1`, the cached signing key, and the migration list (read again only while migrations are pending, at most every 5 s).',
  response: {
    200: Obj({ status: Type.Literal('ready'), checks: ReadyChecks }, { description: 'Ready for requests.' }),
    503: Type.Union(
      [
        Obj({ status: Type.Literal('starting') }, { description: 'Still starting (running migrations).' }),
        Obj(
          { status: Type.Literal('unavailable'), checks: ReadyChecks, message: Type.String() },
          { description: 'A check failed: `checks` names it (`failed`), `message` says why and what to do.' },
        ),
      ],
      { description: 'Still starting, or a check failed.' },
    ),
  },
};

const ProfileText = (description: string) =>
  Type.Optional(Type.String({ maxLength: MAX_PROFILE_TEXT, description }));

/**
 * Domo's profile fields of a user (`PROFILE_FIELDS` in src/services/users.ts): the Domo Users API
 * takes and answers them beside the other fields, the admin API as `profile`. Only the ones set.
 */
export const userProfileFields = {
  title: ProfileText('Job title.'),
  alternateEmail: ProfileText('Second email address.'),
  phone: ProfileText('Phone number.'),
  location: ProfileText('Where the user works.'),
  timezone: ProfileText('IANA time zone, e.g. America/New_York.'),
  locale: ProfileText('Locale, e.g. en_US.'),
  employeeNumber: Type.Optional(
    Type.Union([Type.Integer(), Type.String({ maxLength: MAX_PROFILE_TEXT })], {
      description: 'Employee number (the Domo SDK sends a number; kept as it came).',
    }),
  ),
};
