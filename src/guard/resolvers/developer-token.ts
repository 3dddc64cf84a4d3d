/**
 * Developer access tokens (`gh_dev_…`) in `Authorization: Bearer` or `X-DOMO-Developer-Token`,
 * acting as their user with the grants the user's role holds now. The token itself is
 * checked by the access-token service (`authenticate`: known, not revoked, not expired);
 * a header cannot be forged by a cross-site page, so no CSRF token is needed.
 */
import { isDeveloperToken } from '../../services/access-tokens.js';
import type { Services } from '../../services/index.js';
import { userPrincipal } from '../../services/principal.js';
import { bearerToken, developerTokenHeader } from '../credentials.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

export function developerTokenResolver(services: Services): CredentialResolver {
  return {
    kind: 'developer_token',
    precedence: PRECEDENCE.prefixedHeader,
    find(request) {
      // Authorization comes first: with a Bearer header, X-DOMO-Developer-Token is not read.
      const bearer = bearerToken(request);
      if (bearer !== undefined) return isDeveloperToken(bearer) ? bearer : undefined;
      return developerTokenHeader(request);
    },
    async resolve(token) {
      const found = await services.accessTokens.authenticate(token);
      if (!found) throw invalidToken();
      const live = await services.liveUsers.active(found.userId);
      if (!live) throw invalidToken();
      return userPrincipal(live, 'developer_token', { tokenId: found.tokenId });
    },
  };
}
