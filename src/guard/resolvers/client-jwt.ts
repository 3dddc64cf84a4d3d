/**
 * Client JWTs from the token endpoint in `Authorization: Bearer`, checked by the token
 * service's `verify` (signature against the current key set, typ, exp with
 * JWT_CLOCK_SKEW_SECONDS of tolerance, iss, aud, jti not revoked, client not revoked, owner
 * active). The principal is the client, with its owner's grants now and the token's scopes.
 */
import type { Services } from '../../services/index.js';
import type { CatalogProfile } from '../../services/platform/catalog.js';
import { clientPrincipal, type Principal } from '../../services/principal.js';
import { bearerToken, isJwtShaped } from '../credentials.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

/** Seconds a client JWT stays acceptable to the guard past its `exp`: clock skew between the nodes. */
export const JWT_CLOCK_SKEW_SECONDS = 30;

export function clientJwtResolver(services: Services): CredentialResolver {
  /** By the verified claims (the token cache's entry, so it lives as long as the token is cached). */
  const principals = new WeakMap<
    object,
    { owner: object; profile: CatalogProfile | undefined; principal: Principal }
  >();
  return {
    kind: 'client_jwt',
    precedence: PRECEDENCE.anyBearer,
    // Any bearer token no earlier resolver claimed: it is a client JWT or nothing.
    find: bearerToken,
    async resolve(token) {
      if (!isJwtShaped(token)) throw invalidToken();
      const verified = await services.tokens.verify(token, { clockToleranceSeconds: JWT_CLOCK_SKEW_SECONDS });
      if (!verified) throw invalidToken();
      const clientId = verified.claims.client_id;
      // An oauth2 access profile's client acts for its profile (the API platform); a disabled
      // profile's tokens are refused from its next call, as a revoked client's are.
      const profile = await services.platform.profileOfClient(clientId);
      if (profile && !profile.enabled)
        throw invalidToken(`The access profile "${profile.name}" is disabled.`);
      // The principal of a token is made again only when its owner's facts or its profile changed
      // (both are cache entries, replaced on every change): not a new scope set on every call.
      const known = principals.get(verified.claims);
      if (known !== undefined && known.owner === verified.owner && known.profile === profile)
        return known.principal;
      const principal = clientPrincipal(
        verified.owner,
        clientId,
        verified.claims.scope,
        profile ? { id: profile.id, name: profile.name } : undefined,
      );
      principals.set(verified.claims, { owner: verified.owner, profile, principal });
      return principal;
    },
  };
}
