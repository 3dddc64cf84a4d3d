/**
 * `POST /oauth/introspect` (RFC 7662). The caller authenticates as an API
 * client; it may introspect its own tokens, and a client whose owner holds
 * `api.clients.manage_all` may introspect any. Everything else, and every token
 * Gatehouse would not accept now (expired, revoked, foreign, revoked client,
 * disabled owner), is `{"active": false}`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedAccessToken } from '../services/tokens.js';
import { type AuthenticatedClient, authenticateClient, readCredentials } from './client-auth.js';
import { noStore, readParameters, requireParameter, sendJson } from './http.js';
import type { OAuthDeps } from './index.js';

export const INTROSPECT_PARAMETERS = ['token', 'token_type_hint', 'client_id', 'client_secret'] as const;

/** Step: may this caller learn about this token? */
export function mayIntrospect(caller: AuthenticatedClient, token: VerifiedAccessToken): boolean {
  return token.client.id === caller.client.id || caller.owner.grants.has('api.clients.manage_all');
}

function activeBody(token: VerifiedAccessToken) {
  const { claims } = token;
  return {
    active: true,
    scope: claims.scope.join(' '),
    client_id: claims.client_id,
    token_type: 'bearer',
    exp: claims.exp,
    iat: claims.iat,
    sub: claims.sub,
    aud: claims.aud,
    iss: claims.iss,
    jti: claims.jti,
    role: claims.role,
    userId: claims.userId,
    customer: claims.customer,
    env: claims.env,
  };
}

export function introspectHandler(deps: OAuthDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    noStore(reply);
    const params = readParameters(request, INTROSPECT_PARAMETERS);
    const credentials = readCredentials(request, params);
    const token = requireParameter(params, 'token');
    const caller = await authenticateClient(credentials, request.ip, deps);
    const verified = await deps.services.tokens.verify(token);
    if (!verified || !mayIntrospect(caller, verified)) return sendJson(reply, 200, { active: false });
    return sendJson(reply, 200, activeBody(verified));
  };
}
