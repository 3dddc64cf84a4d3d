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
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import { MAX_EXPIRY_DAYS } from '../services/access-tokens.js';
import type { AdminRouteOptions } from './index.js';
import {
  createAccessTokenSchema,
  getAccessTokenSchema,
  listAccessTokensSchema,
  revokeAccessTokenSchema,
} from './schemas.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function accessTokenRoutes(
  app: FastifyInstance,
  { services }: AdminRouteOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/access-tokens',
    { schema: createAccessTokenSchema, onRequest: needsGrant('access_tokens.create') },
    async (request, reply) => {
      const { description, user, userId, expiresInDays, never } = request.body;
      if (user !== undefined && userId !== undefined) {
        throw new ValidationError('Give either "user" or "userId", not both.', { field: 'user' });
      }
      // The expiry is chosen explicitly, in this API's field names (the service checks the range).
      if (never === true && expiresInDays !== undefined) {
        throw new ValidationError('Give either "expiresInDays" or "never": true, not both.', {
          field: 'expiresInDays',
        });
      }
      if (never !== true && expiresInDays === undefined) {
        throw new ValidationError(
          `Choose an expiry: "expiresInDays" (1–${MAX_EXPIRY_DAYS}) or "never": true.`,
          {
            field: 'expiresInDays',
          },
        );
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

  r.get('/access-tokens', { schema: listAccessTokensSchema }, async (request) => {
    const { q, user, active, limit, cursor } = request.query;
    return services.accessTokens.list(
      { q, user, includeInactive: active !== true, limit, cursor },
      requirePrincipal(request),
    );
  });

  r.get('/access-tokens/:id', { schema: getAccessTokenSchema }, async (request) => {
    return services.accessTokens.get(request.params.id, requirePrincipal(request));
  });

  r.post('/access-tokens/:id/revoke', { schema: revokeAccessTokenSchema }, async (request) => {
    return services.accessTokens.revoke(request.params.id, requirePrincipal(request), actorOf(request));
  });
}
