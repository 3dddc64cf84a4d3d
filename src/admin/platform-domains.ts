/**
 * Custom domains of the API platform (issue 14), behind `gateway.manage`:
 *
 *   GET    /platform/domains        ?limit&cursor → {items, nextCursor}
 *   POST   /platform/domains        {hostname, certificate?, privateKey?, enabled?} → 201
 *   GET    /platform/domains/:id    by id or host name
 *   PATCH  /platform/domains/:id    {certificate + privateKey | null + null, enabled?}
 *   DELETE /platform/domains/:id    → 204
 *
 * The private key goes in, never out: answers, audit events and logs show the certificate's
 * summary only.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminRouteOptions } from './index.js';
import {
  createDomainSchema,
  DOMAIN_BODY_LIMIT,
  deleteDomainSchema,
  getDomainSchema,
  listDomainsSchema,
  updateDomainSchema,
} from './platform-domains-schemas.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function platformDomainRoutes(
  app: FastifyInstance,
  { services }: AdminRouteOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const domains = services.domains;
  const manage = needsGrant('gateway.manage');

  r.get('/platform/domains', { schema: listDomainsSchema, onRequest: manage }, async (request) =>
    domains.list(request.query, requirePrincipal(request)),
  );
  r.post(
    '/platform/domains',
    { schema: createDomainSchema, onRequest: manage, bodyLimit: DOMAIN_BODY_LIMIT },
    async (request, reply) => {
      const created = await domains.create(request.body, requirePrincipal(request), actorOf(request));
      return reply.code(201).send(created);
    },
  );
  r.get('/platform/domains/:id', { schema: getDomainSchema, onRequest: manage }, async (request) =>
    domains.get(request.params.id, requirePrincipal(request)),
  );
  r.patch(
    '/platform/domains/:id',
    { schema: updateDomainSchema, onRequest: manage, bodyLimit: DOMAIN_BODY_LIMIT },
    async (request) =>
      domains.update(request.params.id, request.body, requirePrincipal(request), actorOf(request)),
  );
  r.delete(
    '/platform/domains/:id',
    { schema: deleteDomainSchema, onRequest: manage },
    async (request, reply) => {
      await domains.delete(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );
}
