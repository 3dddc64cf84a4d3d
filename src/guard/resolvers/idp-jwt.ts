/**
 * JWTs from an access profile's outside identity provider in `Authorization: Bearer` (spec 003's
 * "JWT" authentication). A bearer JWT whose unverified `iss` is not Gatehouse's own issuer is this
 * resolver's (no I/O to decide); the platform service then verifies it against the JWKS of the
 * enabled jwt profiles of that issuer (signature, exp/nbf with 30 s of skew, audience, required
 * claims). The principal is the profile; the upstream learns the caller from `client_id`, `azp`
 * or `sub`.
 */
import type { Services } from '../../services/index.js';
import { foreignIssuer } from '../../services/platform/catalog.js';
import { profilePrincipal } from '../../services/principal.js';
import { bearerToken } from '../credentials.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

function callerOf(claims: Record<string, unknown>): string | undefined {
  for (const name of ['client_id', 'azp', 'sub']) {
    const value = claims[name];
    if (typeof value === 'string' && value !== '') return value.slice(0, 200);
  }
  return undefined;
}

export function idpJwtResolver(services: Services): CredentialResolver {
  const ownIssuer = services.ctx.config.issuer;
  return {
    kind: 'idp_jwt',
    // Before the client-JWT resolver, which takes every other bearer token.
    precedence: PRECEDENCE.anyBearer - 10,
    find(request) {
      const token = bearerToken(request);
      if (token === undefined || !JWT_SHAPE.test(token)) return undefined;
      return foreignIssuer(token, ownIssuer) ? token : undefined;
    },
    async resolve(token) {
      const verified = await services.platform.verifyIdpJwt(token);
      if (!verified) throw invalidToken();
      const { profile, claims } = verified;
      return profilePrincipal({ id: profile.id, name: profile.name }, 'idp_jwt', callerOf(claims));
    },
  };
}
