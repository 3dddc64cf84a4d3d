/**
 * The Workflows API (spec 000): every route behind the guard with the Workflow API
 * grant (and, for client tokens, the `workflow` scope). The guard runs at onRequest,
 * so credentials are checked before the body is. It takes client JWTs, developer
 * tokens and the admin session cookie (with `X-CSRF-Token` on writes; see `WORKFLOW_API`).
 */
import cookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { refuseBeforePasswordChange } from '../../guard/index.js';
import { domoInstanceRoutes } from './domo.js';
import { WORKFLOW_ACCESS, WORKFLOW_API, type WorkflowApiOptions } from './context.js';
import { instanceRoutes } from './instances.js';
import { workflowRoutes } from './workflows.js';

export async function workflowApiRoutes(app: FastifyInstance, options: WorkflowApiOptions): Promise<void> {
  const shared: WorkflowApiOptions = { services: options.services, guard: options.guard };
  // Parses the session cookie for this plugin's routes only (the token endpoints never read it).
  await app.register(cookie);
  app.addHook('onRequest', options.guard.require(WORKFLOW_ACCESS, WORKFLOW_API));
  app.addHook('onRequest', refuseBeforePasswordChange);
  await app.register(workflowRoutes, shared);
  await app.register(instanceRoutes, shared);
  await app.register(domoInstanceRoutes, shared);
}
