/**
 * Domo-compatible start and status calls under /api/workflow/v1/instances,
 * answering exactly `{id, modelId, modelName, modelVersion, createdBy,
 * createdOn, updatedBy, updatedOn, status}`.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { pickDomo } from '../../services/workflows.js';
import { actorOf, principalOf, type WorkflowApiOptions } from './context.js';
import { domoCancelSchema, domoGetSchema, domoStartSchema } from './schemas.js';

export async function domoInstanceRoutes(
  app: FastifyInstance,
  { services }: WorkflowApiOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post('/api/workflow/v1/instances/message', { schema: domoStartSchema }, async (request) => {
    return services.workflows.startByMessage(request.body, principalOf(request), actorOf(request));
  });

  r.get('/api/workflow/v1/instances/:id', { schema: domoGetSchema }, async (request) => {
    return pickDomo(await services.workflows.getInstance(request.params.id, principalOf(request)));
  });

  r.post('/api/workflow/v1/instances/:id/cancel', { schema: domoCancelSchema }, async (request) => {
    return pickDomo(
      await services.workflows.cancel(request.params.id, principalOf(request), actorOf(request)),
    );
  });
}
