/**
 * `GET /.well-known/oauth-authorization-server` (RFC 8414), per host: at a custom domain it names
 * the domain's issuer and endpoints (RFC 8414 §3.3: `issuer` must be the issuer of the tokens
 * asked for there); at any other host, the configured issuer's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendJson } from './http.js';
import type { OAuthDeps } from './index.js';
import { JWKS_PATH } from './jwks.js';
import { SCOPES } from '../tokens/scopes.js';

export const METADATA_PATH = '/.well-known/oauth-authorization-server';

export function authorizationServerMetadata(issuer: string) {
  const auth = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer,
    token_endpoint: `${issuer}/oauth/token`,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    scopes_supported: [...SCOPES],
    response_types_supported: [],
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: auth,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    introspection_endpoint_auth_methods_supported: auth,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    revocation_endpoint_auth_methods_supported: auth,
  };
}

export function metadataHandler(deps: OAuthDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const issuer = await deps.services.domains.issuerForHost(request.hostname);
    void reply.header('cache-control', 'public, max-age=300');
    return sendJson(reply, 200, authorizationServerMetadata(issuer));
  };
}
