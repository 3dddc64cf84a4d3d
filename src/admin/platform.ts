/**
 * The API platform's admin routes (issue 14), all behind `gateway.manage`:
 *
 *   GET    /platform/collections                          ?limit&cursor → {items, nextCursor}
 *   POST   /platform/collections                          {name, prefix, upstreamUrl, description?, enabled?} → 201
 *   GET    /platform/collections/:id                      by id or prefix
 *   PATCH  /platform/collections/:id                      any of the create fields
 *   DELETE /platform/collections/:id                      with its endpoints → 204
 *   GET    /platform/collections/:id/endpoints            ?limit&cursor
 *   POST   /platform/collections/:id/endpoints            {name, method, path, upstreamPath?, timeoutMs?, enabled?} → 201
 *   GET    /platform/collections/:id/endpoints/:endpointId
 *   PATCH  /platform/collections/:id/endpoints/:endpointId
 *   DELETE /platform/collections/:id/endpoints/:endpointId → 204
 *   POST   /platform/collections/:id/import               ?dryRun&replace; an OpenAPI 3 document (JSON or
 *                                                        YAML) or {url} → {dryRun, created, replaced, skipped, endpoints}
 *   GET    /platform/profiles                             ?limit&cursor
 *   POST   /platform/profiles                             {name, authMethod, collections?, ipAllowList?, enabled?, jwt?}
 *                                                        → 201 {profile, credentials} (credentials only here)
 *   GET    /platform/profiles/:id                         by id or name
 *   PATCH  /platform/profiles/:id
 *   POST   /platform/profiles/:id/credentials             {graceSeconds?} → {profile, credentials}
 *   DELETE /platform/profiles/:id                         (an oauth2 profile's client is revoked) → 204
 *   GET    /platform/policies                             ?limit&cursor
 *   POST   /platform/policies                             {name, description?, rateLimit?, quota?, concurrency?} → 201
 *   GET    /platform/policies/:id                         by id or name
 *   PATCH  /platform/policies/:id                         any of the create fields (null turns a limit off)
 *   DELETE /platform/policies/:id                         409 while a profile uses it → 204
 *
 * The service checks `gateway.manage` too (the CLI calls it directly); the hook here answers
 * before the body is read.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_OPENAPI_BYTES } from '../services/platform/openapi.js';
import type { AdminRouteOptions } from './index.js';
import {
  createCollectionSchema,
  createEndpointSchema,
  createPolicySchema,
  createProfileSchema,
  deleteCollectionSchema,
  deleteEndpointSchema,
  deletePolicySchema,
  deleteProfileSchema,
  getCollectionSchema,
  getEndpointSchema,
  getPolicySchema,
  getProfileSchema,
  importEndpointsSchema,
  listCollectionsSchema,
  listEndpointsSchema,
  listPoliciesSchema,
  listProfilesSchema,
  regenerateProfileSchema,
  updateCollectionSchema,
  updateEndpointSchema,
  updatePolicySchema,
  updateProfileSchema,
} from './platform-schemas.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function platformRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const platform = services.platform;
  const manage = needsGrant('gateway.manage');

  r.get('/platform/collections', { schema: listCollectionsSchema, onRequest: manage }, async (request) =>
    platform.listCollections(request.query, requirePrincipal(request)),
  );
  r.post(
    '/platform/collections',
    { schema: createCollectionSchema, onRequest: manage },
    async (request, reply) => {
      const created = await platform.createCollection(
        request.body,
        requirePrincipal(request),
        actorOf(request),
      );
      return reply.code(201).send(created);
    },
  );
  r.get('/platform/collections/:id', { schema: getCollectionSchema, onRequest: manage }, async (request) =>
    platform.getCollection(request.params.id, requirePrincipal(request)),
  );
  r.patch(
    '/platform/collections/:id',
    { schema: updateCollectionSchema, onRequest: manage },
    async (request) =>
      platform.updateCollection(request.params.id, request.body, requirePrincipal(request), actorOf(request)),
  );
  r.delete(
    '/platform/collections/:id',
    { schema: deleteCollectionSchema, onRequest: manage },
    async (request, reply) => {
      await platform.deleteCollection(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );

  r.get(
    '/platform/collections/:id/endpoints',
    { schema: listEndpointsSchema, onRequest: manage },
    async (request) => platform.listEndpoints(request.params.id, request.query, requirePrincipal(request)),
  );
  r.post(
    '/platform/collections/:id/endpoints',
    { schema: createEndpointSchema, onRequest: manage },
    async (request, reply) => {
      const created = await platform.createEndpoint(
        request.params.id,
        request.body,
        requirePrincipal(request),
        actorOf(request),
      );
      return reply.code(201).send(created);
    },
  );
  r.get(
    '/platform/collections/:id/endpoints/:endpointId',
    { schema: getEndpointSchema, onRequest: manage },
    async (request) =>
      platform.getEndpoint(request.params.id, request.params.endpointId, requirePrincipal(request)),
  );
  r.patch(
    '/platform/collections/:id/endpoints/:endpointId',
    { schema: updateEndpointSchema, onRequest: manage },
    async (request) =>
      platform.updateEndpoint(
        request.params.id,
        request.params.endpointId,
        request.body,
        requirePrincipal(request),
        actorOf(request),
      ),
  );
  r.delete(
    '/platform/collections/:id/endpoints/:endpointId',
    { schema: deleteEndpointSchema, onRequest: manage },
    async (request, reply) => {
      await platform.deleteEndpoint(
        request.params.id,
        request.params.endpointId,
        requirePrincipal(request),
        actorOf(request),
      );
      return reply.code(204).send();
    },
  );

  // An OpenAPI document may come as YAML: the text, parsed by the service (src/services/platform/openapi.ts).
  app.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'],
    { parseAs: 'string', bodyLimit: MAX_OPENAPI_BYTES },
    (_request, body, done) => done(null, body),
  );
  r.post(
    '/platform/collections/:id/import',
    { schema: importEndpointsSchema, onRequest: manage, bodyLimit: MAX_OPENAPI_BYTES },
    async (request) => {
      const body = request.body;
      const source =
        typeof body === 'string'
          ? { text: body }
          : typeof body.url === 'string' && body.openapi === undefined
            ? { url: body.url }
            : { document: body };
      return platform.importEndpoints(
        request.params.id,
        source,
        { dryRun: request.query.dryRun, replace: request.query.replace },
        requirePrincipal(request),
        actorOf(request),
      );
    },
  );

  r.get('/platform/profiles', { schema: listProfilesSchema, onRequest: manage }, async (request) =>
    platform.listProfiles(request.query, requirePrincipal(request)),
  );
  r.post('/platform/profiles', { schema: createProfileSchema, onRequest: manage }, async (request, reply) => {
    const issued = await platform.createProfile(request.body, requirePrincipal(request), actorOf(request));
    return reply.code(201).send(issued);
  });
  r.get('/platform/profiles/:id', { schema: getProfileSchema, onRequest: manage }, async (request) =>
    platform.getProfile(request.params.id, requirePrincipal(request)),
  );
  r.patch('/platform/profiles/:id', { schema: updateProfileSchema, onRequest: manage }, async (request) =>
    platform.updateProfile(request.params.id, request.body, requirePrincipal(request), actorOf(request)),
  );
  r.post(
    '/platform/profiles/:id/credentials',
    { schema: regenerateProfileSchema, onRequest: manage },
    async (request) =>
      platform.regenerateCredentials(
        request.params.id,
        { graceSeconds: request.body?.graceSeconds },
        requirePrincipal(request),
        actorOf(request),
      ),
  );
  r.delete(
    '/platform/profiles/:id',
    { schema: deleteProfileSchema, onRequest: manage },
    async (request, reply) => {
      await platform.deleteProfile(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );

  r.get('/platform/policies', { schema: listPoliciesSchema, onRequest: manage }, async (request) =>
    platform.listPolicies(request.query, requirePrincipal(request)),
  );
  r.post('/platform/policies', { schema: createPolicySchema, onRequest: manage }, async (request, reply) => {
    const created = await platform.createPolicy(request.body, requirePrincipal(request), actorOf(request));
    return reply.code(201).send(created);
  });
  r.get('/platform/policies/:id', { schema: getPolicySchema, onRequest: manage }, async (request) =>
    platform.getPolicy(request.params.id, requirePrincipal(request)),
  );
  r.patch('/platform/policies/:id', { schema: updatePolicySchema, onRequest: manage }, async (request) =>
    platform.updatePolicy(request.params.id, request.body, requirePrincipal(request), actorOf(request)),
  );
  r.delete(
    '/platform/policies/:id',
    { schema: deletePolicySchema, onRequest: manage },
    async (request, reply) => {
      await platform.deletePolicy(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );
}
