/**
 * Domo-compatible start and status calls under /api/workflow/v1/instances,
 * answering exactly `{id, modelId, modelName, modelVersion, createdBy,
 * createdOn, updatedBy, updatedOn, status}`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { pickDomo } from '../../services/workflows.js';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';

const MessageBody = Type.Object({
  messageName: Type.Optional(Type.Unknown()),
  version: Type.Optional(Type.Unknown()),
  modelId: Type.Optional(Type.Unknown()),
  data: Type.Optional(Type.Unknown()),
});
const IdParams = Type.Object({ id: Type.String() });

export async function domoInstanceRoutes(app: FastifyInstance, { services }: WorkflowApiOptions): Promise<void> {
  app.post('/api/workflow/v1/instances/message', { schema: { body: MessageBody } }, async (request) => {
    return services.workflows.startByMessage(request.body as Record<string, unknown>, principalOf(request), actorOf(request));
  });

  app.get('/api/workflow/v1/instances/:id', { schema: { params: IdParams } }, async (request) => {
    return pickDomo(await services.workflows.getInstance((request.params as { id: string }).id, principalOf(request)));
  });

  app.post('/api/workflow/v1/instances/:id/cancel', { schema: { params: IdParams } }, async (request) => {
    const { id } = request.params as { id: string };
    return pickDomo(await services.workflows.cancel(id, principalOf(request), actorOf(request)));
  });
}
