/**
 * Nobody grants what they do not hold, over HTTP on both dialects: every path that could hand
 * out a grant (role assignment on user create and update, role create, grant add, role copy,
 * changing a user or role that holds more, a developer token acting as a user who holds more)
 * and every change of one's own role answers 403 with
 * the exact body and writes nothing; the allowed cases still work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS, type GrantId } from '../../src/services/grants.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1';
const ALL = GRANTS.map((g) => g.id);
const allBut = (...held: GrantId[]) => ALL.filter((id) => !held.includes(id));

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`no self-escalation over HTTP (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    /** Admin (system role). */
    let root: SignedIn;
    /** "User Admins": users.manage, data.view. */
    let ua: SignedIn;
    /** "Role Admins": roles.manage, audit.view, data.view. */
    let ra: SignedIn;
    /** "Ops": a custom role holding every grant. */
    let ops: SignedIn;
    /** "Token Admins": access_tokens.create, api.clients.manage_all, data.view. */
    let tokens: SignedIn;
    const ids: Record<string, number> = {};

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store);
      const role = async (name: string, grants: GrantId[]) =>
        (await t.services.roles.create({ name, grants }, OPERATOR, CLI_ACTOR)).id;
      ids.userAdmins = await role('User Admins', ['users.manage', 'data.view']);
      ids.roleAdmins = await role('Role Admins', ['roles.manage', 'audit.view', 'data.view']);
      ids.helpers = await role('Helpers', ['users.manage', 'roles.manage', 'data.view']);
      ids.readers = await role('Readers', ['data.view']);
      ids.opsRole = await role('Ops', ALL);
      ids.tokenAdmins = await role('Token Admins', [
        'access_tokens.create',
        'api.clients.manage_all',
        'data.view',
      ]);
      ids.root = (await createUser(t.services, 'root@example.com', 'Admin')).id;
      ids.ua = (await createUser(t.services, 'ua@example.com', 'User Admins')).id;
      ids.ra = (await createUser(t.services, 'ra@example.com', 'Role Admins')).id;
      ids.opsUser = (await createUser(t.services, 'ops@example.com', 'Ops')).id;
      ids.reader = (await createUser(t.services, 'reader@example.com', 'Readers')).id;
      ids.tokens = (await createUser(t.services, 'tokens@example.com', 'Token Admins')).id;
      root = await signIn(t.app, 'root@example.com');
      ua = await signIn(t.app, 'ua@example.com');
      ra = await signIn(t.app, 'ra@example.com');
      ops = await signIn(t.app, 'ops@example.com');
      tokens = await signIn(t.app, 'tokens@example.com');
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const call = (
      s: SignedIn,
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      payload?: Record<string, unknown>,
    ) =>
      t.app.inject({
        method,
        url: `${API}${url}`,
        headers: s.headers,
        ...(payload === undefined ? {} : { payload }),
      });

    /** Everything a refused write could have touched. */
    const snapshot = async () => ({
      users: await ts.store.db.selectFrom('users').selectAll().orderBy('id').execute(),
      roles: await ts.store.db.selectFrom('roles').selectAll().orderBy('id').execute(),
      grants: await ts.store.db
        .selectFrom('role_grants')
        .selectAll()
        .orderBy('role_id')
        .orderBy('grant_id')
        .execute(),
      sessions: await ts.store.db.selectFrom('sessions').select('id').orderBy('id').execute(),
      accessTokens: await ts.store.db.selectFrom('access_tokens').select('id').orderBy('id').execute(),
      audit: await ts.store.db.selectFrom('audit_events').select('id').orderBy('id').execute(),
    });

    /** The request is refused with exactly `status` and `body`, and nothing changes. */
    async function refused(
      s: SignedIn,
      method: 'POST' | 'PATCH' | 'DELETE',
      url: string,
      payload: Record<string, unknown> | undefined,
      body: unknown,
    ) {
      const before = await snapshot();
      const res = await call(s, method, url, payload);
      expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 403, body });
      expect(await snapshot()).toEqual(before);
    }

    const escalation = (message: string, missing: GrantId[]) => ({
      error: 'escalation_denied',
      message,
      details: { grant: missing[0], missingGrants: missing },
    });
    const ownRole = (message: string, role: string) => ({ error: 'own_role', message, details: { role } });

    describe('assigning a role', () => {
      it('creating a user with a role holding a grant one lacks: 403 naming it', async () => {
        await refused(
          ua,
          'POST',
          '/users',
          { email: 'new@example.com', role: 'Helpers' },
          escalation(
            'You cannot assign the role "Helpers": it holds the grant "roles.manage" (Manage Roles), which you do not hold.',
            ['roles.manage'],
          ),
        );
        await refused(
          ua,
          'POST',
          '/users',
          { email: 'new@example.com', role: 'Admin' },
          escalation(
            'You cannot assign the role "Admin": it holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 7 more grants you do not hold).',
            allBut('users.manage', 'data.view'),
          ),
        );
      });

      it('moving a user to a role holding a grant one lacks: 403 naming it', async () => {
        await refused(
          ua,
          'PATCH',
          `/users/${ids.reader}`,
          { displayName: 'Promoted', role: 'Helpers' },
          escalation(
            'You cannot assign the role "Helpers": it holds the grant "roles.manage" (Manage Roles), which you do not hold.',
            ['roles.manage'],
          ),
        );
        await refused(
          ua,
          'PATCH',
          `/users/${ids.reader}`,
          { role: 'Ops' },
          escalation(
            'You cannot assign the role "Ops": it holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 7 more grants you do not hold).',
            allBut('users.manage', 'data.view'),
          ),
        );
      });

      it('a role within one’s own grants may be assigned, on create and on update', async () => {
        const created = await call(ua, 'POST', '/users', { email: 'plain@example.com', role: 'Readers' });
        expect(created.statusCode).toBe(201);
        // The default role (Participant: data.view) is within them too.
        const defaulted = await call(ua, 'POST', '/users', { email: 'default@example.com' });
        expect(defaulted.json()).toMatchObject({ role: { name: 'Participant' } });
        const moved = await call(ua, 'PATCH', `/users/${created.json().id}`, { role: 'User Admins' });
        expect(moved.json()).toMatchObject({ role: { name: 'User Admins' } });
        const event = (await t.services.audit.query({ action: 'user.updated' })).items[0]!;
        expect(event).toMatchObject({
          actor: { type: 'user', id: String(ids.ua) },
          details: { role: { from: 'Readers', to: 'User Admins' } },
        });
      });

      it('an Admin (every grant) assigns any role, a custom all-grants role included', async () => {
        const res = await call(root, 'POST', '/users', { email: 'admin3@example.com', role: 'Admin' });
        expect(res.statusCode).toBe(201);
        expect((await call(ops, 'PATCH', `/users/${res.json().id}`, { role: 'Ops' })).statusCode).toBe(200);
        expect((await call(ops, 'PATCH', `/users/${res.json().id}`, { role: 'Admin' })).statusCode).toBe(200);
      });
    });

    describe('one’s own role', () => {
      it('nobody moves themselves to another role, with fewer grants or as an Admin', async () => {
        await refused(
          ua,
          'PATCH',
          `/users/${ids.ua}`,
          { role: 'Readers' },
          ownRole(
            'You cannot change your own role; another user holding "users.manage" must do it.',
            'User Admins',
          ),
        );
        await refused(
          root,
          'PATCH',
          `/users/${ids.root}`,
          { role: 'Ops' },
          ownRole(
            'You cannot change your own role; another user holding "users.manage" must do it.',
            'Admin',
          ),
        );
      });

      it('naming one’s current role while changing other fields is no change of role', async () => {
        const res = await call(ua, 'PATCH', `/users/${ids.ua}`, { displayName: 'UA', role: 'User Admins' });
        expect(res.json()).toMatchObject({ displayName: 'UA', role: { name: 'User Admins' } });
      });

      it('nobody edits the role they hold: grant, ungrant, rename, re-describe, delete', async () => {
        const mine = ownRole(
          'You cannot change the role "Role Admins": it is your own role; another user holding "roles.manage" must do it.',
          'Role Admins',
        );
        const url = `/roles/${ids.roleAdmins}`;
        // Even a grant one holds (and one that would be an escalation: the own-role answer comes first).
        await refused(ra, 'POST', `${url}/grants`, { grants: ['users.manage'] }, mine);
        await refused(ra, 'DELETE', `${url}/grants/audit.view`, undefined, mine);
        await refused(ra, 'PATCH', url, { name: 'Renamed' }, mine);
        await refused(ra, 'PATCH', url, { description: 'Only the description' }, mine);
        await refused(ra, 'DELETE', url, undefined, mine);
        // A custom all-grants role's holders may change every role but their own.
        await refused(
          ops,
          'PATCH',
          `/roles/${ids.opsRole}`,
          { name: 'Operators' },
          ownRole(
            'You cannot change the role "Ops": it is your own role; another user holding "roles.manage" must do it.',
            'Ops',
          ),
        );
      });
    });

    describe('changing roles', () => {
      it('creating a role with a grant one lacks: 403 naming it', async () => {
        await refused(
          ra,
          'POST',
          '/roles',
          { name: 'Sneaky', grants: ['audit.view', 'users.manage'] },
          escalation(
            'You cannot create the role "Sneaky" with the grant "users.manage" (Manage Users), which you do not hold.',
            ['users.manage'],
          ),
        );
        await refused(
          ra,
          'POST',
          '/roles',
          { name: 'Sneakier', grants: ALL },
          escalation(
            'You cannot create the role "Sneakier" with the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 6 more grants you do not hold).',
            allBut('roles.manage', 'audit.view', 'data.view'),
          ),
        );
      });

      it('adding a grant one lacks to another role: 403 naming it', async () => {
        await refused(
          ra,
          'POST',
          `/roles/${ids.readers}/grants`,
          { grants: ['audit.view', 'users.manage'] },
          escalation(
            'You cannot add the grant "users.manage" (Manage Users) to the role "Readers": you do not hold it.',
            ['users.manage'],
          ),
        );
      });

      it('copying a role holding a grant one lacks: 403 naming it', async () => {
        await refused(
          ra,
          'POST',
          '/roles/Admin/copy',
          { name: 'My Admin' },
          escalation(
            'You cannot copy the role "Admin": it holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 6 more grants you do not hold).',
            allBut('roles.manage', 'audit.view', 'data.view'),
          ),
        );
      });

      it('renaming, ungranting or deleting a role holding a grant one lacks: 403 naming it', async () => {
        const outranked = escalation(
          'You cannot change the role "Ops": it holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 6 more grants you do not hold).',
          allBut('roles.manage', 'audit.view', 'data.view'),
        );
        await refused(ra, 'PATCH', `/roles/${ids.opsRole}`, { name: 'Renamed Ops' }, outranked);
        await refused(ra, 'DELETE', `/roles/${ids.opsRole}/grants/gateway.manage`, undefined, outranked);
        await refused(ra, 'POST', `/roles/${ids.opsRole}/grants`, { grants: ['data.view'] }, outranked);
        await refused(
          ra,
          'DELETE',
          `/roles/${ids.helpers}`,
          undefined,
          escalation(
            'You cannot change the role "Helpers": it holds the grant "users.manage" (Manage Users), which you do not hold.',
            ['users.manage'],
          ),
        );
      });

      it('a roles.manage holder grants what it holds to another role, creates and copies within it', async () => {
        const added = await call(ra, 'POST', `/roles/${ids.readers}/grants`, { grants: ['audit.view'] });
        expect(added.json()).toMatchObject({ name: 'Readers', grants: ['audit.view', 'data.view'] });
        const removed = await call(ra, 'DELETE', `/roles/${ids.readers}/grants/audit.view`);
        expect(removed.json()).toMatchObject({ grants: ['data.view'] });
        const created = await call(ra, 'POST', '/roles', {
          name: 'Auditors',
          grants: ['audit.view', 'data.view', 'roles.manage'],
        });
        expect(created.statusCode).toBe(201);
        const copied = await call(ra, 'POST', '/roles/Role Admins/copy', { name: 'Role Admins 2' });
        expect(copied.json()).toMatchObject({ grants: ['roles.manage', 'audit.view', 'data.view'] });
        const renamed = await call(ra, 'PATCH', `/roles/${copied.json().id}`, { name: 'Role Admins Two' });
        expect(renamed.json()).toMatchObject({ name: 'Role Admins Two' });
        expect((await call(ra, 'DELETE', `/roles/${copied.json().id}`)).statusCode).toBe(204);
        const actions = (await t.services.audit.query({ targetType: 'role', targetId: String(ids.readers) }))
          .items;
        expect(actions.slice(0, 2).map((e) => [e.action, e.actor.id, e.details])).toEqual([
          ['role.grant_removed', String(ids.ra), { grants: ['audit.view'] }],
          ['role.grant_added', String(ids.ra), { grants: ['audit.view'] }],
        ]);
      });

      it('an Admin changes any role but its own: a custom all-grants role, copies of Admin', async () => {
        const copy = await call(root, 'POST', '/roles/Admin/copy', { name: 'Admin Copy' });
        expect(copy.json()).toMatchObject({ grants: ALL });
        const all = await call(root, 'POST', '/roles', { name: 'Everything', grants: ALL });
        expect(all.statusCode).toBe(201);
        expect(
          (await call(root, 'PATCH', `/roles/${ids.opsRole}`, { description: 'Operators' })).statusCode,
        ).toBe(200);
        expect(
          (await call(root, 'POST', `/roles/${ids.readers}/grants`, { grants: ['users.manage'] })).statusCode,
        ).toBe(200);
        expect((await call(root, 'DELETE', `/roles/${ids.readers}/grants/users.manage`)).statusCode).toBe(
          200,
        );
      });
    });

    describe('changing a user who holds more', () => {
      it('users.manage does not reach a user holding a grant one lacks: edit, disable, enable, password', async () => {
        const outranked = escalation(
          'You cannot change the user "root@example.com": their role "Admin" holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 7 more grants you do not hold).',
          allBut('users.manage', 'data.view'),
        );
        await refused(ua, 'PATCH', `/users/${ids.root}`, { email: 'mine@example.com' }, outranked);
        await refused(ua, 'POST', `/users/${ids.root}/disable`, undefined, outranked);
        await refused(ua, 'POST', `/users/${ids.root}/enable`, undefined, outranked);
        // A reset would let the caller sign in as the Admin.
        await refused(
          ua,
          'POST',
          `/users/${ids.root}/password`,
          { password: 'now I know it 123' },
          outranked,
        );
        await refused(ua, 'POST', `/users/${ids.root}/password`, {}, outranked);
      });

      it('a user within one’s grants can be edited, disabled, enabled and reset', async () => {
        const user = `/users/${ids.reader}`;
        expect((await call(ua, 'PATCH', user, { displayName: 'Reader' })).statusCode).toBe(200);
        expect((await call(ua, 'POST', `${user}/disable`)).json()).toMatchObject({ status: 'disabled' });
        expect((await call(ua, 'POST', `${user}/enable`)).json()).toMatchObject({ status: 'active' });
        expect((await call(ua, 'POST', `${user}/password`, {})).statusCode).toBe(200);
      });
    });

    describe('developer tokens', () => {
      it('a token acting as a user holding a grant one lacks: 403 naming it', async () => {
        await refused(
          tokens,
          'POST',
          '/access-tokens',
          { description: 'act as root', user: 'root@example.com', expiresInDays: 1 },
          escalation(
            'You cannot create a developer token acting as "root@example.com": their role "Admin" holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 6 more grants you do not hold).',
            allBut('access_tokens.create', 'api.clients.manage_all', 'data.view'),
          ),
        );
        await refused(
          tokens,
          'POST',
          '/access-tokens',
          { description: 'act as ua', userId: ids.ua, never: true },
          escalation(
            'You cannot create a developer token acting as "ua@example.com": their role "User Admins" holds the grant "users.manage" (Manage Users), which you do not hold.',
            ['users.manage'],
          ),
        );
      });

      it('a token for oneself, or for a user within one’s grants, is created; an Admin’s for anyone', async () => {
        const own = await call(tokens, 'POST', '/access-tokens', { description: 'mine', expiresInDays: 1 });
        expect(own.json()).toMatchObject({
          accessToken: { user: { id: ids.tokens }, createdBy: ids.tokens },
        });
        const reader = await call(tokens, 'POST', '/access-tokens', {
          description: 'reader robot',
          user: 'reader@example.com',
          expiresInDays: 1,
        });
        expect(reader.json()).toMatchObject({
          accessToken: { user: { id: ids.reader }, createdBy: ids.tokens },
        });
        const asOps = await call(root, 'POST', '/access-tokens', {
          description: 'ops robot',
          user: ids.opsUser,
          expiresInDays: 1,
        });
        expect(asOps.statusCode).toBe(201);
      });
    });
  });
}
