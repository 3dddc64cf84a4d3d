/** What the Domo people routes share: the guard and the accesses they require. */
import type { FastifyRequest } from 'fastify';
import { type Access, type Guard, principalOf } from '../../guard/index.js';
import type { Services } from '../../services/index.js';

export interface DomoApiOptions {
  services: Services;
  guard: Guard;
}

/** Listing and reading users and groups: any active user; client tokens need scope `user`. */
export const PEOPLE_READ: Access = { grant: null, scope: 'user' };
/** Creating, changing and deleting users and groups, and group membership. */
export const PEOPLE_WRITE: Access = { grant: 'users.manage', scope: 'user' };
/** The activity log. */
export const AUDIT_READ: Access = { grant: 'audit.view', scope: 'audit' };

/** A route-level onRequest hook: the write access, on the principal the plugin's hook set. */
export function requireWrite(guard: Guard) {
  return async (request: FastifyRequest): Promise<void> => {
    guard.authorize(principalOf(request), PEOPLE_WRITE);
  };
}
