/** What every Workflows API route shares: the guard, and the viewer/actor of the request. */
import type { FastifyRequest } from 'fastify';
import type { Guard, Principal } from '../../guard/index.js';
import type { Actor } from '../../services/context.js';
import type { Services } from '../../services/index.js';
import type { WorkflowViewer } from '../../services/workflows.js';

export interface WorkflowApiOptions {
  services: Services;
  guard: Guard;
}

/** Workflow API grant for developer tokens; scope `workflow` plus the owner's grant for client tokens. */
export const WORKFLOW_ACCESS = { grant: 'workflow.api', scope: 'workflow' } as const;

export function principalOf(request: FastifyRequest): Principal {
  const principal = request.apiPrincipal;
  if (!principal) throw new Error('route registered without the guard');
  return principal;
}

export function viewerOf(request: FastifyRequest): WorkflowViewer {
  const principal = principalOf(request);
  return { userId: principal.userId, isAdmin: principal.isAdmin };
}

export function apiActorOf(request: FastifyRequest): Actor {
  const principal = principalOf(request);
  return principal.kind === 'client'
    ? { type: 'client', clientId: principal.clientId!, userId: principal.userId, ip: request.ip }
    : { type: 'user', userId: principal.userId, label: principal.email, ip: request.ip };
}
