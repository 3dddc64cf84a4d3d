/**
 * `POST /oauth/revoke` (RFC 7009): a client revokes one of its own tokens. The
 * answer is 200 whether or not the token was known (§2.2). The `jti` is kept
 * until the token's `exp`, then pruned; Gatehouse rejects the token at once,
 * offline verifiers keep accepting it until `exp`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { authenticateClient, readCredentials } from './client-auth.js';
import { noStore, readParameters, requireParameter } from './http.js';
import type { OAuthDeps } from './index.js';

export const REVOKE_PARAMETERS = ['token', 'token_type_hint', 'client_id', 'client_secret'] as const;

export function revokeHandler(deps: OAuthDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    noStore(reply);
    const params = readParameters(request, REVOKE_PARAMETERS);
    const credentials = readCredentials(request, params);
    const token = requireParameter(params, 'token');
    const { client, owner } = await authenticateClient(credentials, request.ip, deps);
    await deps.services.tokens.revoke(token, client, {
      type: 'client',
      clientId: client.id,
      userId: owner.id,
      ip: request.ip,
    });
    return reply.code(200).send('');
  };
}
