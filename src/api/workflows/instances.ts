/**
 * Runs: POST /v1/workflows/{id}/execute → 202, the runs of a workflow, one run,
 * its cancel and its logs (limit/offset).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_OFFSET } from '../../services/workflows.js';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';

const IdParams = Type.Object({ id: Type.String() });
const InstanceParams = Type.Object({ instanceId: Type.String() });
const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
});
/** The run list also takes the `cursor` its `Link: <…>; rel="next"` header names. */
const InstanceListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
  cursor: Type.Optional(Type.String({ maxLength: 400 })),
});
const ExecuteBody = Type.Union([
  Type.Object({ input: Type.Optional(Type.Unknown()), version: Type.Optional(Type.Unknown()) }, { additionalProperties: false }),
  Type.Null(),
]);

export async function instanceRoutes(app: FastifyInstance, { services }: WorkflowApiOptions): Promise<void> {
  app.post('/v1/workflows/:id/execute', { schema: { params: IdParams, body: ExecuteBody } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const body = (request.body ?? {}) as { input?: unknown; version?: unknown };
    const instance = await services.workflows.start(id, body, principalOf(request), actorOf(request));
    return reply.code(202).send(instance);
  });

  // The body stays Domo's array of runs; the next page, when there is one, is named by an RFC 8288
  // `Link: </v1/workflows/{id}/instances?limit=…&cursor=…>; rel="next"` header.
  app.get('/v1/workflows/:id/instances', { schema: { params: IdParams, querystring: InstanceListQuery } }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const query = request.query as { limit?: number; offset?: number; cursor?: string };
    const page = await services.workflows.pageInstances(id, principalOf(request), query);
    if (page.nextCursor !== null) {
      const next = new URL(request.url, 'http://gatehouse.invalid');
      next.searchParams.delete('offset');
      next.searchParams.set('cursor', page.nextCursor);
      reply.header('link', `<${next.pathname}${next.search}>; rel="next"`);
    }
    return page.items;
  });

  app.get('/v1/workflows/instances/:instanceId', { schema: { params: InstanceParams } }, async (request) => {
    return services.workflows.getInstance((request.params as { instanceId: string }).instanceId, principalOf(request));
  });

  app.post('/v1/workflows/instances/:instanceId/cancel', { schema: { params: InstanceParams } }, async (request) => {
    const { instanceId } = request.params as { instanceId: string };
    return services.workflows.cancel(instanceId, principalOf(request), actorOf(request));
  });

  app.get('/v1/workflows/instances/:instanceId/logs', { schema: { params: InstanceParams, querystring: PageQuery } }, async (request) => {
    const { instanceId } = request.params as { instanceId: string };
    return services.workflows.logs(instanceId, principalOf(request), request.query as { limit?: number; offset?: number });
  });
}
