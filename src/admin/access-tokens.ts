/**
 * Developer access tokens (spec 000) in the admin API. (Authenticating with one is the
 * guard's developer-token resolver: src/guard/resolvers/developer-token.ts.)
 *
 *   POST /access-tokens              {description, user?, expiresInDays? | never: true}
 *                                    → 201 {token, accessToken}; the token is shown once
 *   GET  /access-tokens              ?q&user&active&limit&cursor → {items, nextCursor}
 *   GET  /access-tokens/:id
 *   POST /access-tokens/:id/revoke   effective on the very next request; no undo
 *
 * Creating needs `access_tokens.create`; acting as another user (a service
 * account) needs `api.clients.manage_all` and every grant that user's role holds
 * (403 escalation_denied naming the one missing otherwise). Anyone signed in may list, read and
 * revoke the tokens they created or that act as them; `api.clients.manage_all`
 * sees and revokes all. A token the caller may not see is a 404.
 */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import { MAX_EXPIRY_DAYS } from '../services/access-tokens.js';
import type { AdminRouteOptions } from './index.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const UserRef = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 320 })]);

const CreateBody = Type.Object(
  {
    description: Type.String({ maxLength: 1000 }),
    /** The user the token acts as (id or email); default the caller. */
    user: Type.Optional(UserRef),
    /** Alias of `user`, for callers that think in ids. */
    userId: Type.Optional(Type.Integer({ minimum: 1 })),
    expiresInDays: Type.Optional(Type.Integer()),
    never: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 200 })),
    user: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    /** true: only tokens that still work (not revoked, not expired). */
    active: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export async function accessTokenRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/access-tokens',
    { schema: { body: CreateBody }, onRequest: needsGrant('access_tokens.create') },
    async (request, reply) => {
      const { description, user, userId, expiresInDays, never } = request.body;
      if (user !== undefined && userId !== undefined) {
        throw new ValidationError('Give either "user" or "userId", not both.', { field: 'user' });
      }
      // The expiry is chosen explicitly, in this API's field names (the service checks the range).
      if (never === true && expiresInDays !== undefined) {
        throw new ValidationError('Give either "expiresInDays" or "never": true, not both.', { field: 'expiresInDays' });
      }
      if (never !== true && expiresInDays === undefined) {
        throw new ValidationError(`Choose an expiry: "expiresInDays" (1–${MAX_EXPIRY_DAYS}) or "never": true.`, {
          field: 'expiresInDays',
        });
      }
      const created = await services.accessTokens.create(
        { description, user: user ?? userId, expiresInDays, neverExpires: never === true },
        requirePrincipal(request),
        actorOf(request),
      );
      void reply.header('cache-control', 'no-store');
      return reply.code(201).send(created);
    },
  );

  r.get('/access-tokens', { schema: { querystring: ListQuery } }, async (request) => {
    const { q, user, active, limit, cursor } = request.query;
    return services.accessTokens.list(
      { q, user, includeInactive: active !== true, limit, cursor },
      requirePrincipal(request),
    );
  });

  r.get('/access-tokens/:id', { schema: { params: IdParams } }, async (request) => {
    return services.accessTokens.get(request.params.id, requirePrincipal(request));
  });

  r.post('/access-tokens/:id/revoke', { schema: { params: IdParams } }, async (request) => {
    return services.accessTokens.revoke(request.params.id, requirePrincipal(request), actorOf(request));
  });
}
