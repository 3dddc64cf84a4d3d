/**
 * /v1/workflows: list (limit/offset, nameLike), create, read, update (a new
 * version), delete, and sharing.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { MAX_OFFSET } from '../../services/workflows.js';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';

const IdParams = Type.Object({ id: Type.String() });
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET })),
  nameLike: Type.Optional(Type.String({ maxLength: 200 })),
});
// Unknown fields are refused (400 naming the field), as on the admin API.
const CreateBody = Type.Object(
  {
    name: Type.Unknown(),
    description: Type.Optional(Type.Unknown()),
    definition: Type.Unknown(),
  },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  {
    name: Type.Optional(Type.Unknown()),
    description: Type.Optional(Type.Unknown()),
    definition: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);
const SharingBody = Type.Object({ userIds: Type.Unknown() }, { additionalProperties: false });

export async function workflowRoutes(app: FastifyInstance, { services }: WorkflowApiOptions): Promise<void> {
  app.get('/v1/workflows', { schema: { querystring: ListQuery } }, async (request) => {
    const query = request.query as { limit?: number; offset?: number; nameLike?: string };
    return services.workflows.list(principalOf(request), query);
  });

  app.post('/v1/workflows', { schema: { body: CreateBody } }, async (request, reply) => {
    const body = request.body as { name: unknown; description?: unknown; definition: unknown };
    const workflow = await services.workflows.create(body, principalOf(request), actorOf(request));
    return reply.code(201).send(workflow);
  });

  app.get('/v1/workflows/:id', { schema: { params: IdParams } }, async (request) => {
    return services.workflows.get((request.params as { id: string }).id, principalOf(request));
  });

  app.put('/v1/workflows/:id', { schema: { params: IdParams, body: UpdateBody } }, async (request) => {
    const { id } = request.params as { id: string };
    return services.workflows.update(id, request.body as Record<string, unknown>, principalOf(request), actorOf(request));
  });

  app.delete('/v1/workflows/:id', { schema: { params: IdParams } }, async (request, reply) => {
    await services.workflows.delete((request.params as { id: string }).id, principalOf(request), actorOf(request));
    return reply.code(204).send();
  });

  app.put('/v1/workflows/:id/sharing', { schema: { params: IdParams, body: SharingBody } }, async (request) => {
    const { id } = request.params as { id: string };
    const { userIds } = request.body as { userIds: unknown };
    return services.workflows.setSharing(id, userIds, principalOf(request), actorOf(request));
  });
}
