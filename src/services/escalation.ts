/**
 * Nobody grants what they do not hold (as in Keycloak's fine-grained admin permissions, and Domo,
 * where only an Admin may make someone an Admin). Every write that could hand out grants calls
 * these checks with the acting `Principal`:
 *
 * - assigning a role (creating a user with it, moving a user to it): the caller holds every grant of the role;
 * - creating a role with grants, adding grants to a role, copying a role: the caller holds every such grant;
 * - changing a user (email, name, role, status, password) or a role (rename, grants, delete): the caller
 *   holds every grant the user's or role's current grants include, so nobody takes over, renames or
 *   strips someone or something that outranks them;
 * - a developer token acting as another user: the caller holds every grant of that user's role;
 * - nobody changes their own role: neither assigning themselves another role nor editing the role
 *   they hold (granting, removing a grant, renaming, re-describing, deleting), whatever grants they hold.
 *   Another holder of `users.manage`/`roles.manage` who outranks them does it.
 *
 * The operator (the CLI) holds every grant and has no role, so it passes every check. The last-Admin
 * rule (src/services/users.ts, roles.ts) is separate: it guards the instance, not the caller.
 */
import { EscalationDeniedError, OwnRoleError } from '../errors.js';
import { findGrant, type GrantId } from './grants.js';
import { missingGrants, type Principal } from './principal.js';

/** What the caller is trying to do, for the message naming the grant they lack. */
export type Conferral =
  | { readonly kind: 'assign_role'; readonly role: string }
  | { readonly kind: 'create_role'; readonly role: string }
  | { readonly kind: 'add_grants'; readonly role: string }
  | { readonly kind: 'copy_role'; readonly role: string }
  | { readonly kind: 'change_role'; readonly role: string }
  | { readonly kind: 'change_user'; readonly user: string; readonly role: string }
  | { readonly kind: 'developer_token'; readonly user: string; readonly role: string };

function named(grant: GrantId): string {
  return `"${grant}" (${findGrant(grant)?.name ?? grant})`;
}

function message(what: Conferral, missing: readonly GrantId[]): string {
  const first = named(missing[0]!);
  const more =
    missing.length > 1
      ? ` (and ${missing.length - 1} more grant${missing.length > 2 ? 's' : ''} you do not hold)`
      : '';
  const holds = `holds the grant ${first}, which you do not hold${more}.`;
  switch (what.kind) {
    case 'assign_role':
      return `You cannot assign the role "${what.role}": it ${holds}`;
    case 'copy_role':
      return `You cannot copy the role "${what.role}": it ${holds}`;
    case 'change_role':
      return `You cannot change the role "${what.role}": it ${holds}`;
    case 'create_role':
      return `You cannot create the role "${what.role}" with the grant ${first}, which you do not hold${more}.`;
    case 'add_grants':
      return `You cannot add the grant ${first} to the role "${what.role}": you do not hold it${more}.`;
    case 'change_user':
      return `You cannot change the user "${what.user}": their role "${what.role}" ${holds}`;
    case 'developer_token':
      return `You cannot create a developer token acting as "${what.user}": their role "${what.role}" ${holds}`;
  }
}

/** 403 `escalation_denied` unless the principal holds every grant in `grants`. */
export function assertMayConfer(principal: Principal, grants: Iterable<GrantId>, what: Conferral): void {
  const missing = missingGrants(principal.grants, grants);
  if (missing.length > 0) throw new EscalationDeniedError(message(what, missing), missing);
}

/** 403 `own_role` when `role` is the role the principal's user holds (an edit of it changes their own role). */
export function assertNotOwnRole(
  principal: Principal,
  role: { readonly id: number; readonly name: string },
): void {
  if (principal.user === null || principal.user.role.id !== role.id) return;
  throw new OwnRoleError(
    `You cannot change the role "${role.name}": it is your own role; another user holding "roles.manage" must do it.`,
    role.name,
  );
}

/** 403 `own_role` when the principal would move their own user to another role. */
export function assertNotOwnUserRole(
  principal: Principal,
  user: { readonly id: number; readonly role: { readonly id: number; readonly name: string } },
  newRoleId: number,
): void {
  if (principal.user === null || principal.user.id !== user.id || user.role.id === newRoleId) return;
  throw new OwnRoleError(
    'You cannot change your own role; another user holding "users.manage" must do it.',
    user.role.name,
  );
}
