/**
 * Client JWTs from the token endpoint in `Authorization: Bearer`, checked by the token
 * service's `verify` (signature against the current key set, typ, exp with
 * JWT_CLOCK_SKEW_SECONDS of tolerance, iss, aud, jti not revoked, client not revoked, owner
 * active). The principal is the client, with its owner's grants now and the token's scopes.
 */
import type { Services } from '../../services/index.js';
import { clientPrincipal } from '../../services/principal.js';
import { bearerToken } from '../credentials.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

/** Seconds a client JWT stays acceptable to the guard past its `exp`: clock skew between the nodes. */
export const JWT_CLOCK_SKEW_SECONDS = 30;

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

export function clientJwtResolver(services: Services): CredentialResolver {
  return {
    kind: 'client_jwt',
    precedence: PRECEDENCE.anyBearer,
    // Any bearer token no earlier resolver claimed: it is a client JWT or nothing.
    find: bearerToken,
    async resolve(token) {
      if (!JWT_SHAPE.test(token)) throw invalidToken();
      const verified = await services.tokens.verify(token, { clockToleranceSeconds: JWT_CLOCK_SKEW_SECONDS });
      if (!verified) throw invalidToken();
      const clientId = verified.claims.client_id;
      // An oauth2 access profile's client acts for its profile (the API platform); a disabled
      // profile's tokens are refused from its next call, as a revoked client's are.
      const profile = await services.platform.profileOfClient(clientId);
      if (profile && !profile.enabled)
        throw invalidToken(`The access profile "${profile.name}" is disabled.`);
      return clientPrincipal(
        verified.owner,
        clientId,
        verified.claims.scope,
        profile ? { id: profile.id, name: profile.name } : undefined,
      );
    },
  };
}
