/** `GET /.well-known/oauth-authorization-server` (RFC 8414). */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { sendJson } from './http.js';
import type { OAuthDeps } from './index.js';
import { JWKS_PATH } from './jwks.js';
import { SCOPES } from '../tokens/scopes.js';

export const METADATA_PATH = '/.well-known/oauth-authorization-server';

export function authorizationServerMetadata(config: Config) {
  const auth = ['client_secret_basic', 'client_secret_post'];
  return {
    issuer: config.issuer,
    token_endpoint: `${config.issuer}/oauth/token`,
    jwks_uri: `${config.issuer}${JWKS_PATH}`,
    scopes_supported: [...SCOPES],
    response_types_supported: [],
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: auth,
    introspection_endpoint: `${config.issuer}/oauth/introspect`,
    introspection_endpoint_auth_methods_supported: auth,
    revocation_endpoint: `${config.issuer}/oauth/revoke`,
    revocation_endpoint_auth_methods_supported: auth,
  };
}

export function metadataHandler(deps: OAuthDeps) {
  const body = authorizationServerMetadata(deps.config);
  return async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    void reply.header('cache-control', 'public, max-age=300');
    return sendJson(reply, 200, body);
  };
}
