/**
 * JWTs from an access profile's outside identity provider in `Authorization: Bearer` (spec 003's
 * "JWT" authentication). A bearer JWT whose unverified `iss` is none of Gatehouse's own issuers
 * (the configured one and the enabled custom domains', an in-memory set: no I/O to decide once it
 * is loaded) is this resolver's; the platform service then verifies it against the JWKS of the
 * enabled jwt profiles of that issuer (signature, exp/nbf with 30 s of skew, audience, required
 * claims). The principal is the profile; the upstream learns the caller from `client_id`, `azp`
 * or `sub`.
 */
import { decodeJwt } from 'jose';
import type { Services } from '../../services/index.js';
import { profilePrincipal } from '../../services/principal.js';
import { bearerToken, isJwtShaped } from '../credentials.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

function callerOf(claims: Record<string, unknown>): string | undefined {
  for (const name of ['client_id', 'azp', 'sub']) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return value.slice(0, 200);
  }
  return undefined;
}

/** The `iss` a JWT claims (unverified: only which resolver it belongs to), or undefined. */
function claimedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export function idpJwtResolver(services: Services): CredentialResolver {
  const { domains } = services;
  return {
    kind: 'idp_jwt',
    // Before the client-JWT resolver, which takes every other bearer token.
    precedence: PRECEDENCE.anyBearer - 10,
    // The own issuers change with the custom domains: loaded once per change, before `find` decides.
    ready: () => (domains.current() === undefined ? domains.table() : undefined),
    find(request) {
      const token = bearerToken(request);
      if (token === undefined || !isJwtShaped(token)) return undefined;
      // A token verified here before is one of Gatehouse's own: its issuer is known without a decode.
      const iss = services.tokens.verifiedIssuer(token) ?? claimedIssuer(token);
      return iss !== undefined && !domains.isOwnIssuer(iss) ? token : undefined;
    },
    async resolve(token) {
      const verified = await services.platform.verifyIdpJwt(token);
      if (!verified) throw invalidToken();
      const { profile, claims } = verified;
      return profilePrincipal({ id: profile.id, name: profile.name }, 'idp_jwt', callerOf(claims));
    },
  };
}
