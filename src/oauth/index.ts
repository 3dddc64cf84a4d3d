/**
 * The authorization server's routes. Token, introspection and revocation live in
 * one encapsulated scope with the form-body parser, the no-store headers and an
 * error handler that answers RFC 6749 bodies; discovery (JWKS, metadata) is
 * cacheable and lives outside it. Background work (epoch polling, key rotation,
 * pruning) is started by the serving process (src/background.ts), not here.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Services } from '../services/index.js';
import { addFormParser, oauthErrorHandler } from './http.js';
import { introspectHandler } from './introspect.js';
import { JWKS_PATH, jwksHandler } from './jwks.js';
import { METADATA_PATH, metadataHandler } from './metadata.js';
import { revokeHandler } from './revoke.js';
import {
  introspectSchema,
  jwksSchema,
  metadataSchema,
  oauth2TokenSchema,
  revokeSchema,
  tokenGetSchema,
  tokenPostSchema,
} from './schemas.js';
import { tokenHandler } from './token.js';

export interface OAuthRouteOptions {
  services: Services;
  config: Config;
}

export interface OAuthDeps {
  services: Services;
  config: Config;
  clients: Services['clients'];
  throttle: Services['throttle'];
  limits: Config['throttle'];
}

export async function oauthRoutes(app: FastifyInstance, options: OAuthRouteOptions): Promise<void> {
  const { services, config } = options;
  const deps: OAuthDeps = {
    services,
    config,
    clients: services.clients,
    throttle: services.throttle,
    limits: config.throttle,
  };

  app.get(JWKS_PATH, { schema: jwksSchema }, jwksHandler(deps));
  app.get(METADATA_PATH, { schema: metadataSchema }, metadataHandler(deps));

  await app.register(async (scope) => {
    addFormParser(scope);
    scope.setErrorHandler(oauthErrorHandler);
    // The request schemas document the parameters; the endpoints check them (RFC 6749 error bodies).
    scope.setValidatorCompiler(() => () => true);
    const token = tokenHandler(deps, 'domo');
    scope.get('/oauth/token', { schema: tokenGetSchema }, token);
    scope.post('/oauth/token', { schema: tokenPostSchema }, token);
    scope.post('/oauth2/token', { schema: oauth2TokenSchema }, tokenHandler(deps, 'oauth2'));
    scope.post('/oauth/introspect', { schema: introspectSchema }, introspectHandler(deps));
    scope.post('/oauth/revoke', { schema: revokeSchema }, revokeHandler(deps));
  });
}
