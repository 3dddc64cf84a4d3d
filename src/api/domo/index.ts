/**
 * Domo's Users, Groups and Audit APIs on the bearer surface (client JWTs and developer tokens;
 * users and groups also take the admin session with `X-CSRF-Token` on writes, for the admin UI):
 *
 *   /v1/users*, /v1/groups*  reads: scope `user` (client tokens), no grant: any active user, as in Domo;
 *                            writes: scope `user` and grant `users.manage`
 *   GET /v1/audit            scope `audit` and grant `audit.view`
 *
 * One guard (`Guard.require` at onRequest, before the body is read) and one check (`can`): the
 * plugin-wide hook authenticates and checks the read access; write routes add `Guard.authorize`
 * with the write access on the same principal. Developer tokens carry no scopes, so they need the
 * grants only.
 */
import cookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { BEARER_OR_SESSION, refuseBeforePasswordChange } from '../../guard/index.js';
import { activityLogRoutes } from './audit.js';
import { AUDIT_READ, type DomoApiOptions, PEOPLE_READ } from './context.js';
import { groupRoutes } from './groups.js';
import { userRoutes } from './users.js';

export { AUDIT_READ, PEOPLE_READ, PEOPLE_WRITE } from './context.js';

export async function domoPeopleRoutes(app: FastifyInstance, options: DomoApiOptions): Promise<void> {
  const shared: DomoApiOptions = { services: options.services, guard: options.guard };
  await app.register(async (people) => {
    await people.register(cookie);
    people.addHook('onRequest', options.guard.require(PEOPLE_READ, BEARER_OR_SESSION));
    people.addHook('onRequest', refuseBeforePasswordChange);
    await people.register(userRoutes, shared);
    await people.register(groupRoutes, shared);
  });
  await app.register(async (audit) => {
    audit.addHook('onRequest', options.guard.require(AUDIT_READ));
    await audit.register(activityLogRoutes, shared);
  });
}
