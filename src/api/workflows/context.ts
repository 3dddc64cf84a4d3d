/** What every Workflows API route shares: the guard, the surface it authenticates on and the access it requires. */
import { BEARER_OR_SESSION, type Guard, type Surface } from '../../guard/index.js';
import type { Services } from '../../services/index.js';

export { actorOf, principalOf } from '../../guard/index.js';

export interface WorkflowApiOptions {
  services: Services;
  guard: Guard;
}

/** Workflow API grant for developer tokens and sessions; scope `workflow` plus the owner's grant for client tokens. */
export const WORKFLOW_ACCESS = { grant: 'workflow.api', scope: 'workflow' } as const;

/** The bearer credentials plus the admin session cookie (with `X-CSRF-Token` on writes), for the admin UI. */
export const WORKFLOW_API: Surface = { ...BEARER_OR_SESSION, name: 'Workflows API' };
