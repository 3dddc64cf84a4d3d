/**
 * The Workflows API (spec 000): every route behind the bearer guard with the
 * Workflow API grant (and, for client tokens, the `workflow` scope). The guard
 * runs at onRequest, so credentials are checked before the body is.
 */
import type { FastifyInstance } from 'fastify';
import { domoInstanceRoutes } from './domo.js';
import { WORKFLOW_ACCESS, type WorkflowApiOptions } from './context.js';
import { instanceRoutes } from './instances.js';
import { workflowRoutes } from './workflows.js';

export async function workflowApiRoutes(app: FastifyInstance, options: WorkflowApiOptions): Promise<void> {
  const shared: WorkflowApiOptions = { services: options.services, guard: options.guard };
  app.addHook('onRequest', options.guard.require(WORKFLOW_ACCESS));
  await app.register(workflowRoutes, shared);
  await app.register(instanceRoutes, shared);
  await app.register(domoInstanceRoutes, shared);
}
