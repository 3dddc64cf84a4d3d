/** What every Workflows API route shares: the guard and the access it requires. */
import type { Guard } from '../../guard/index.js';
import type { Services } from '../../services/index.js';

export { actorOf, principalOf } from '../../guard/index.js';

export interface WorkflowApiOptions {
  services: Services;
  guard: Guard;
}

/** Workflow API grant for developer tokens; scope `workflow` plus the owner's grant for client tokens. */
export const WORKFLOW_ACCESS = { grant: 'workflow.api', scope: 'workflow' } as const;
