/**
 * The service container: one instance of each service over one store. The
 * HTTP layer, the CLI and the admin UI all go through these.
 */
import { AccessTokensService } from './access-tokens.js';
import { AuditService } from './audit.js';
import type { ServiceContext } from './context.js';
import { RolesService } from './roles.js';
import { UsersService } from './users.js';
import { WorkflowsService } from './workflows.js';

export interface Services {
  readonly ctx: ServiceContext;
  readonly audit: AuditService;
  readonly roles: RolesService;
  readonly users: UsersService;
  readonly workflows: WorkflowsService;
  /** Developer access tokens (`gh_dev_…`). */
  readonly accessTokens: AccessTokensService;
}

export function createServices(ctx: ServiceContext): Services {
  const audit = new AuditService(ctx.store, ctx.clock);
  const roles = new RolesService(ctx, audit);
  const users = new UsersService(ctx, roles, audit);
  const workflows = new WorkflowsService(ctx, audit);
  const accessTokens = new AccessTokensService(ctx, users, audit);
  return { ctx, audit, roles, users, workflows, accessTokens };
}
