/** What every Workflows API route shares: the guard, the surface it authenticates on and the access it requires. */
import { BEARER_API, type Guard, type Surface } from '../../guard/index.js';
import type { Services } from '../../services/index.js';

export { actorOf, principalOf } from '../../guard/index.js';

export interface WorkflowApiOptions {
  services: Services;
  guard: Guard;
}

/** Workflow API grant for developer tokens and sessions; scope `workflow` plus the owner's grant for client tokens. */
export const WORKFLOW_ACCESS = { grant: 'workflow.api', scope: 'workflow' } as const;

/**
 * The bearer credentials plus the admin session cookie, so the admin UI reaches workflows with
 * the same REST API as everyone else. The session resolver demands the session's `X-CSRF-Token`
 * on every unsafe method (a cross-site page can make the browser send the cookie, not the
 * header), and an explicit `Authorization` header wins over the cookie, as on the admin API.
 */
export const WORKFLOW_API: Surface = {
  ...BEARER_API,
  name: 'Workflows API',
  accepts: [...BEARER_API.accepts, 'session'],
};
