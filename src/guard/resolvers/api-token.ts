/**
 * An access profile's static API token (`gh_api_…`) in the `api-token` header (spec 003's
 * "API token" authentication). Looked up by its HMAC in the platform catalog (one map read;
 * the catalog is rebuilt once per platform change on every node), so a regenerated token or a
 * disabled profile is refused on the next call. The principal is the profile.
 */
import type { Services } from '../../services/index.js';
import { API_TOKEN_HEADER } from '../../services/platform/model.js';
import { profilePrincipal } from '../../services/principal.js';
import { invalidToken } from '../errors.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

export function apiTokenResolver(services: Services): CredentialResolver {
  return {
    kind: 'api_token',
    // After the developer-token headers, before any bearer token: a named header of its own.
    precedence: PRECEDENCE.prefixedHeader + 5,
    find(request) {
      const header = request.headers[API_TOKEN_HEADER];
      if (header === undefined) return undefined;
      const value = Array.isArray(header) ? header[0] : header;
      if (typeof value !== 'string' || value.trim() === '')
        throw invalidToken('The api-token header is empty.');
      return value.trim();
    },
    async resolve(token) {
      const profile = await services.platform.profileOfApiToken(token);
      if (!profile) throw invalidToken('The API token is not valid.');
      if (!profile.enabled) throw invalidToken(`The access profile "${profile.name}" is disabled.`);
      return profilePrincipal({ id: profile.id, name: profile.name }, 'api_token');
    },
  };
}
