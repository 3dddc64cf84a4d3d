/**
 * /v1/workflows: list (limit/offset, nameLike), create, read, update (a new
 * version), delete, and sharing.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';
import {
  createWorkflowSchema,
  deleteWorkflowSchema,
  getWorkflowSchema,
  listWorkflowsSchema,
  sharingSchema,
  updateWorkflowSchema,
} from './schemas.js';

export async function workflowRoutes(app: FastifyInstance, { services }: WorkflowApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/v1/workflows', { schema: listWorkflowsSchema }, async (request) => {
    return services.workflows.list(principalOf(request), request.query);
  });

  r.post('/v1/workflows', { schema: createWorkflowSchema }, async (request, reply) => {
    const workflow = await services.workflows.create(request.body, principalOf(request), actorOf(request));
    return reply.code(201).send(workflow);
  });

  r.get('/v1/workflows/:id', { schema: getWorkflowSchema }, async (request) => {
    return services.workflows.get(request.params.id, principalOf(request));
  });

  r.put('/v1/workflows/:id', { schema: updateWorkflowSchema }, async (request) => {
    return services.workflows.update(request.params.id, request.body, principalOf(request), actorOf(request));
  });

  r.delete('/v1/workflows/:id', { schema: deleteWorkflowSchema }, async (request, reply) => {
    await services.workflows.delete(request.params.id, principalOf(request), actorOf(request));
    return reply.code(204).send();
  });

  r.put('/v1/workflows/:id/sharing', { schema: sharingSchema }, async (request) => {
    return services.workflows.setSharing(
      request.params.id,
      request.body,
      principalOf(request),
      actorOf(request),
    );
  });
}
