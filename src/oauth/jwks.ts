/**
 * `GET /.well-known/jwks.json` (RFC 7517): the active key and every earlier key
 * that may still have signed a live token. Cacheable for five minutes; a
 * verifier meeting an unknown `kid` should fetch again (jose's remote key set does).
 * Every host (the default and each custom domain) signs with the same keys, so every host
 * serves the same set; the metadata at a domain points here on that domain.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendJson } from './http.js';
import type { OAuthDeps } from './index.js';

export const JWKS_PATH = '/.well-known/jwks.json';
export const JWKS_CACHE_CONTROL = 'public, max-age=300';

export function jwksHandler(deps: OAuthDeps) {
  return async (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    void reply.header('cache-control', JWKS_CACHE_CONTROL);
    return sendJson(reply, 200, await deps.services.keys.jwks());
  };
}
