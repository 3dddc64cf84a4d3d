/**
 * The token endpoint (RFC 6749 §4.4, client credentials):
 * - `GET /oauth/token?grant_type=client_credentials&scope=…` with Basic (Domo, spec 001);
 * - `POST /oauth/token` and `POST /oauth2/token`, form or JSON body, Basic or body
 *   credentials (Workato, spec 003).
 * `/oauth/token` answers with Domo's body; `/oauth2/token` with Workato's. Asked for at a custom
 * domain (`https://api.example.com/oauth2/token`), the token's `iss` is that domain's.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { IssuedAccessToken } from '../services/tokens.js';
import { authenticateClient, readCredentials } from './client-auth.js';
import { noStore, type OAuthParameters, readParameters, requireParameter, sendJson } from './http.js';
import type { OAuthDeps } from './index.js';
import { grantScopes } from '../tokens/scopes.js';
import { tokensIssuedWithShape } from '../metrics.js';

export const TOKEN_PARAMETERS = ['grant_type', 'scope', 'client_id', 'client_secret'] as const;

export type TokenResponseShape = 'domo' | 'oauth2';

/** Step: only the client-credentials grant exists here. */
export function checkGrantType(params: OAuthParameters): void {
  const grantType = requireParameter(params, 'grant_type');
  if (grantType !== 'client_credentials') {
    const shown = grantType.length > 60 ? `${grantType.slice(0, 60)}…` : grantType;
    throw new OAuthError(
      'unsupported_grant_type',
      `Grant type ${JSON.stringify(shown)} is not supported; use client_credentials.`,
    );
  }
}

/** Domo's body (spec 001/002), keys in the order Domo sends them. */
function domoBody(issued: IssuedAccessToken) {
  const { claims } = issued;
  return {
    access_token: issued.accessToken,
    customer: claims.customer,
    expires_in: issued.expiresIn,
    jti: claims.jti,
    role: claims.role,
    scope: claims.scope.join(' '),
    token_type: 'bearer',
    userId: claims.userId,
  };
}

/** Workato's body (spec 003) plus the granted scope. */
function oauth2Body(issued: IssuedAccessToken) {
  return {
    access_token: issued.accessToken,
    token_type: 'bearer',
    expires_in: issued.expiresIn,
    scope: issued.claims.scope.join(' '),
  };
}

export function tokenHandler(deps: OAuthDeps, shape: TokenResponseShape) {
  const issuedTokens = tokensIssuedWithShape(shape);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    noStore(reply);
    const params = readParameters(request, TOKEN_PARAMETERS);
    const credentials = readCredentials(request, params);
    checkGrantType(params);
    const { client, owner } = await authenticateClient(credentials, request.ip, deps);
    const scopes = grantScopes(params.scope, client.scopes);
    // A custom domain's tokens carry its issuer (spec 003: the token endpoint follows the domain);
    // any other Host gets the configured one.
    const issuer = await deps.services.domains.issuerForHost(request.hostname);
    const issued = await deps.services.tokens.issue(client, owner, scopes, issuer);
    issuedTokens.inc(issued.alg);
    return sendJson(reply, 200, shape === 'domo' ? domoBody(issued) : oauth2Body(issued));
  };
}
