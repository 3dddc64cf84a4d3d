/**
 * The access-token signing keys, for admins only (a principal holding every grant):
 *
 *   GET  /keys          {items}: kid, alg, status, createdAt, retireAfter; never private material
 *   POST /keys/rotate   201 {key, items}: a new active key; audited as `signing_key.rotated`
 *
 * Admin-only rather than a grant of its own: a key rotation touches every token verifier of the
 * instance, and a new grant would change which roles count as admin (holding every grant) and what
 * every existing custom role may hand out. The CLI's `gatehouse keys` does the same.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminRouteOptions } from './index.js';
import { actorOf, needsAdmin } from './principal.js';
import { listKeysSchema, rotateKeySchema } from './schemas.js';

export async function keyRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const adminOnly = needsAdmin('Managing signing keys');

  r.get('/keys', { schema: listKeysSchema, onRequest: adminOnly }, async () => {
    return { items: await services.keys.list() };
  });

  r.post('/keys/rotate', { schema: rotateKeySchema, onRequest: adminOnly }, async (request, reply) => {
    const key = await services.keys.rotate(actorOf(request), 'manual');
    return reply.code(201).send({ key, items: await services.keys.list() });
  });
}
