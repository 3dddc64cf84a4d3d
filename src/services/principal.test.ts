/** `can`, `isAdmin` and the principal constructors: pure functions, no store. */
import { describe, expect, it } from 'vitest';
import { GRANTS, type GrantId } from './grants.js';
import type { LiveUser } from './live-users.js';
import {
  actorFor,
  can,
  clientPrincipal,
  holdsAll,
  isAdmin,
  missingGrants,
  OPERATOR,
  userPrincipal,
} from './principal.js';
import type { User } from './users.js';

function live(grants: GrantId[], roleName = 'Custom'): LiveUser {
  const user: User = {
    id: 7,
    email: 'ann@example.com',
    displayName: 'ann',
    role: { id: 9, name: roleName },
    status: 'active',
    mustChangePassword: false,
    profile: {},
    createdAt: '2026-03-01T12:00:00.000Z',
    updatedAt: '2026-03-01T12:00:00.000Z',
  };
  return { id: user.id, email: user.email, status: user.status, roleName, grants: new Set(grants), user };
}

const EVERY_GRANT = GRANTS.map((g) => g.id);

describe('can', () => {
  it('a user principal: holds exactly the grants of their role; a scope asked for does not limit it', () => {
    const ann = userPrincipal(live(['workflow.api', 'data.view']), 'developer_token', { tokenId: 3 });
    expect(can(ann, 'workflow.api')).toBe(true);
    expect(can(ann, 'workflow.api', 'workflow')).toBe(true);
    expect(can(ann, 'workflow.api', 'audit')).toBe(true);
    expect(can(ann, 'users.manage')).toBe(false);
    expect(can(ann, 'users.manage', 'workflow')).toBe(false);
  });

  it('a client principal: needs the owner to hold the grant and the token to carry the scope', () => {
    const client = clientPrincipal(live(['workflow.api']), 'c1', ['workflow', 'data']);
    expect(can(client, 'workflow.api', 'workflow')).toBe(true);
    expect(can(client, 'workflow.api', 'audit')).toBe(false);
    expect(can(client, 'audit.view', 'audit')).toBe(false);
    expect(can(client, 'audit.view', 'workflow')).toBe(false);
    // Without a scope asked for, the owner's grant decides.
    expect(can(client, 'workflow.api')).toBe(true);
    const noScopes = clientPrincipal(live(['workflow.api']), 'c2', []);
    expect(can(noScopes, 'workflow.api', 'workflow')).toBe(false);
  });

  it('the operator holds every grant and is not scope-limited', () => {
    for (const grant of EVERY_GRANT) expect(can(OPERATOR, grant, 'workflow')).toBe(true);
    expect(OPERATOR.user).toBeNull();
    expect(Object.isFrozen(OPERATOR)).toBe(true);
  });
});

describe('isAdmin', () => {
  it('is holding every grant, whatever the role is called', () => {
    expect(isAdmin(OPERATOR)).toBe(true);
    expect(isAdmin(userPrincipal(live(EVERY_GRANT, 'Everything'), 'session'))).toBe(true);
    expect(
      isAdmin(
        userPrincipal(
          live(
            EVERY_GRANT.filter((g) => g !== 'gateway.manage'),
            'Admin',
          ),
          'session',
        ),
      ),
    ).toBe(false);
    expect(isAdmin(userPrincipal(live([], 'Admin'), 'session'))).toBe(false);
  });

  it('holdsAll and missingGrants (catalog order)', () => {
    const held = new Set<GrantId>(['audit.view', 'users.manage']);
    expect(holdsAll(held, ['users.manage'])).toBe(true);
    expect(holdsAll(held, ['users.manage', 'roles.manage'])).toBe(false);
    expect(holdsAll(held, [])).toBe(true);
    expect(missingGrants(held, ['data.view', 'roles.manage', 'audit.view', 'api.clients.create'])).toEqual([
      'api.clients.create',
      'roles.manage',
      'data.view',
    ]);
  });
});

describe('principals and actors', () => {
  it('records how the principal authenticated, and the audit actor follows its kind', () => {
    const session = userPrincipal(live(['audit.view']), 'session', { sessionId: 's1' });
    expect(session).toMatchObject({ kind: 'user', via: 'session', sessionId: 's1', scopes: null });
    expect(actorFor(session, '10.0.0.1')).toEqual({
      type: 'user',
      userId: 7,
      label: 'ann@example.com',
      ip: '10.0.0.1',
    });
    const client = clientPrincipal(live(['audit.view']), 'c1', ['audit']);
    expect(client).toMatchObject({ kind: 'client', via: 'client_jwt', clientId: 'c1' });
    expect(actorFor(client, '10.0.0.2')).toEqual({
      type: 'client',
      clientId: 'c1',
      userId: 7,
      ip: '10.0.0.2',
    });
    expect(actorFor(OPERATOR)).toEqual({ type: 'cli' });
  });
});
