/**
 * Runs: POST /v1/workflows/{id}/execute → 202, the runs of a workflow, one run,
 * its cancel and its logs (limit/offset).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';
import {
  cancelInstanceSchema,
  executeSchema,
  getInstanceSchema,
  instanceLogsSchema,
  listInstancesSchema,
} from './schemas.js';

export async function instanceRoutes(app: FastifyInstance, { services }: WorkflowApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post('/v1/workflows/:id/execute', { schema: executeSchema }, async (request, reply) => {
    const instance = await services.workflows.start(
      request.params.id,
      request.body ?? {},
      principalOf(request),
      actorOf(request),
    );
    return reply.code(202).send(instance);
  });

  // The body stays Domo's array of runs; the next page, when there is one, is named by an RFC 8288
  // `Link: </v1/workflows/{id}/instances?limit=…&cursor=…>; rel="next"` header.
  r.get('/v1/workflows/:id/instances', { schema: listInstancesSchema }, async (request, reply) => {
    const page = await services.workflows.pageInstances(
      request.params.id,
      principalOf(request),
      request.query,
    );
    if (page.nextCursor !== null) {
      const next = new URL(request.url, 'http://gatehouse.invalid');
      next.searchParams.delete('offset');
      next.searchParams.set('cursor', page.nextCursor);
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    return page.items;
  });

  r.get('/v1/workflows/instances/:instanceId', { schema: getInstanceSchema }, async (request) => {
    return services.workflows.getInstance(request.params.instanceId, principalOf(request));
  });

  r.post('/v1/workflows/instances/:instanceId/cancel', { schema: cancelInstanceSchema }, async (request) => {
    return services.workflows.cancel(request.params.instanceId, principalOf(request), actorOf(request));
  });

  r.get('/v1/workflows/instances/:instanceId/logs', { schema: instanceLogsSchema }, async (request) => {
    return services.workflows.logs(request.params.instanceId, principalOf(request), request.query);
  });
}
