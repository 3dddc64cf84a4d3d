/**
 * The service container: one instance of each service over one store. The
 * HTTP layer, the CLI and the admin UI all go through these.
 */
import { AuditService } from './audit.js';
import type { ServiceContext } from './context.js';
import { RolesService } from './roles.js';
import { SessionsService } from './sessions.js';
import { ThrottleService } from './throttle.js';
import { UsersService } from './users.js';

export interface Services {
  readonly ctx: ServiceContext;
  readonly audit: AuditService;
  readonly roles: RolesService;
  readonly users: UsersService;
  readonly throttle: ThrottleService;
  readonly sessions: SessionsService;
}

export function createServices(ctx: ServiceContext): Services {
  const audit = new AuditService(ctx.store, ctx.clock);
  const roles = new RolesService(ctx, audit);
  const users = new UsersService(ctx, roles, audit);
  const throttle = new ThrottleService(ctx.store, ctx.clock);
  const sessions = new SessionsService(ctx, users, throttle, audit);
  return { ctx, audit, roles, users, throttle, sessions };
}
