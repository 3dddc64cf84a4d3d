/** The admin REST API: grants checks, users, roles, grants, audit, and every bad-input case. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS } from '../../src/services/grants.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, TEST_PASSWORD, type TestApp, testApp } from '../helpers/app.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1';

describe('admin API', () => {
  let ts: TestStore;
  let t: TestApp;
  let admin: SignedIn;
  let editor: SignedIn;
  let adminId: number;

  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store);
    adminId = (await createUser(t.services, 'root@example.com', 'Admin')).id;
    await createUser(t.services, 'ed@example.com', 'Editor');
    admin = await signIn(t.app, 'root@example.com');
    editor = await signIn(t.app, 'ed@example.com');
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  const call = (s: SignedIn, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `${API}${url}`,
      headers: s.headers,
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  /** Row counts of every table a bad request could have written to. */
  const snapshot = async () => {
    const count = async (table: 'users' | 'roles' | 'role_grants' | 'audit_events') =>
      Number(
        (
          await ts.store.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      users: await count('users'),
      roles: await count('roles'),
      grants: await count('role_grants'),
      audit: await count('audit_events'),
    };
  };

  describe('grant checks', () => {
    it.each([
      ['GET', '/users', 'users.manage'],
      ['POST', '/users', 'users.manage'],
      ['POST', '/roles', 'roles.manage'],
      ['GET', '/roles', 'roles.manage'],
      ['DELETE', '/roles/1', 'roles.manage'],
      ['GET', '/audit', 'audit.view'],
    ] as const)('%s %s without %s → 403 naming the grant', async (method, url, grant) => {
      const res = await call(editor, method, url, method === 'GET' || method === 'DELETE' ? undefined : {});
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({
        error: 'forbidden',
        message: `This action needs the grant "${grant}".`,
        details: { grant },
      });
    });

    it('lets users.manage read roles but not change them', async () => {
      await t.services.roles.create({ name: 'User Admins', grants: ['users.manage'] }, OPERATOR, CLI_ACTOR);
      await createUser(t.services, 'ua@example.com', 'User Admins');
      const ua = await signIn(t.app, 'ua@example.com');
      expect((await call(ua, 'GET', '/roles')).statusCode).toBe(200);
      expect((await call(ua, 'GET', '/roles/Admin')).statusCode).toBe(200);
      expect((await call(ua, 'POST', '/roles', { name: 'X' })).statusCode).toBe(403);
    });

    it('GET /grants is the catalog, for any signed-in user', async () => {
      const res = await call(editor, 'GET', '/grants');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ items: GRANTS });
    });

    it('GET /scopes is the scope catalog with a meaning each, for any signed-in user', async () => {
      const res = await call(editor, 'GET', '/scopes');
      expect(res.statusCode).toBe(200);
      const items = res.json().items as Array<{ id: string; description: string }>;
      expect(items.map((s) => s.id)).toEqual([
        'account',
        'audit',
        'buzz',
        'dashboard',
        'data',
        'gateway',
        'user',
        'workflow',
      ]);
      expect(items.find((s) => s.id === 'data')).toEqual({
        id: 'data',
        description: 'Data: read, write and query data sets.',
      });
      expect((await t.app.inject({ method: 'GET', url: `${API}/scopes` })).statusCode).toBe(401);
    });

    it('401 before anything else when not signed in, even with a bad body', async () => {
      const res = await t.app.inject({ method: 'POST', url: `${API}/users`, payload: { nonsense: true } });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('unauthenticated');
    });
  });

  describe('users', () => {
    it('creates a user: 201, audited with actor, no password in the log', async () => {
      const res = await call(admin, 'POST', '/users', {
        email: 'New.Person@example.com',
        displayName: 'New Person',
        role: 'Editor',
        password: 'initial password 1',
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        email: 'New.Person@example.com',
        displayName: 'New Person',
        role: { name: 'Editor' },
        status: 'active',
        mustChangePassword: true,
      });
      const event = (await t.services.audit.query({ action: 'user.created' })).items[0]!;
      expect(event).toMatchObject({
        actor: { type: 'user', id: String(adminId), label: 'root@example.com' },
        target: { type: 'user', id: String(res.json().id) },
        details: { email: 'New.Person@example.com', displayName: 'New Person', role: 'Editor' },
      });
      expect(JSON.stringify(event)).not.toContain('initial password');
    });

    it.each([
      [
        'duplicate email',
        { email: 'ROOT@example.com' },
        409,
        {
          error: 'conflict',
          message: 'A user with email "ROOT@example.com" already exists.',
          details: { field: 'email' },
        },
      ],
      [
        'unknown role',
        { email: 'x1@example.com', role: 'Nope' },
        400,
        { error: 'validation_error', message: 'Unknown role "Nope".', details: { field: 'role' } },
      ],
      [
        'invalid email',
        { email: 'not-an-email' },
        400,
        {
          error: 'validation_error',
          message: '"not-an-email" is not a valid email address.',
          details: { field: 'email' },
        },
      ],
      [
        'empty name',
        { email: 'x2@example.com', displayName: '   ' },
        400,
        {
          error: 'validation_error',
          message: 'Display name must not be empty.',
          details: { field: 'displayName' },
        },
      ],
      [
        'short password',
        { email: 'x3@example.com', password: 'short' },
        400,
        {
          error: 'validation_error',
          message: 'Password must be at least 12 characters.',
          details: { field: 'password' },
        },
      ],
      [
        'missing email',
        { displayName: 'No Email' },
        400,
        {
          error: 'validation_error',
          message: 'Invalid body: "email" must have required property \'email\'.',
          details: { in: 'body', field: 'email' },
        },
      ],
      [
        'unknown field',
        { email: 'x4@example.com', admin: true },
        400,
        {
          error: 'validation_error',
          message: 'Invalid body: "admin" must NOT have additional properties.',
          details: { in: 'body', field: 'admin' },
        },
      ],
    ])('refuses %s with the exact error and writes nothing', async (_name, payload, status, body) => {
      const before = await snapshot();
      const res = await call(admin, 'POST', '/users', payload);
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual(body);
      expect(await snapshot()).toEqual(before);
    });

    it('answers malformed JSON with 400', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: `${API}/users`,
        headers: { ...admin.headers, 'content-type': 'application/json' },
        payload: '{"email":',
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toBe('invalid_request');
    });

    it('lists with filters and cursor pagination', async () => {
      for (const n of [1, 2, 3]) await createUser(t.services, `page${n}@example.com`, 'Social');
      const first = await call(admin, 'GET', '/users?role=Social&limit=2');
      expect(first.statusCode).toBe(200);
      expect(first.json().items.map((u: { email: string }) => u.email)).toEqual([
        'page1@example.com',
        'page2@example.com',
      ]);
      const second = await call(admin, 'GET', `/users?role=social&limit=2&cursor=${first.json().nextCursor}`);
      expect(second.json()).toMatchObject({ items: [{ email: 'page3@example.com' }], nextCursor: null });
      const q = await call(admin, 'GET', '/users?q=PAGE2');
      expect(q.json().items.map((u: { email: string }) => u.email)).toEqual(['page2@example.com']);
      expect((await call(admin, 'GET', '/users?status=disabled')).json().items).toEqual([]);
    });

    it.each([
      ['/users?limit=0', 'Invalid querystring: "limit" must be >= 1.', 'limit'],
      ['/users?status=gone', 'Invalid querystring: "status" must be equal to constant.', 'status'],
    ])('refuses the bad list query %s', async (url, message, field) => {
      const res = await call(admin, 'GET', url);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: 'validation_error',
        message,
        details: { in: 'querystring', field },
      });
    });

    it('refuses an unknown role filter and a foreign cursor', async () => {
      expect((await call(admin, 'GET', '/users?role=Nope')).json()).toEqual({
        error: 'validation_error',
        message: 'Unknown role "Nope".',
        details: { field: 'role' },
      });
      expect((await call(admin, 'GET', '/users?cursor=zzz')).json()).toEqual({
        error: 'validation_error',
        message: '"cursor" is not a cursor this list returned.',
        details: { field: 'cursor' },
      });
    });

    it('shows, updates, disables and enables a user', async () => {
      const created = (await call(admin, 'POST', '/users', { email: 'life@example.com' })).json();
      expect(created).toMatchObject({
        displayName: 'life',
        role: { name: 'Participant' },
        mustChangePassword: false,
      });
      const shown = await call(admin, 'GET', '/users/life@example.com');
      expect(shown.json()).toMatchObject({ id: created.id, grants: ['data.view'] });
      const patched = await call(admin, 'PATCH', `/users/${created.id}`, {
        displayName: 'Life Long',
        role: 'Editor',
      });
      expect(patched.json()).toMatchObject({ displayName: 'Life Long', role: { name: 'Editor' } });
      expect((await call(admin, 'POST', `/users/${created.id}/disable`)).json().status).toBe('disabled');
      expect((await call(admin, 'POST', `/users/${created.id}/enable`)).json().status).toBe('active');
      expect((await call(admin, 'GET', '/users/999999')).json()).toEqual({
        error: 'not_found',
        message: 'User 999999 not found.',
      });
      expect((await call(admin, 'PATCH', `/users/${created.id}`, {})).json()).toEqual({
        error: 'validation_error',
        message: 'Nothing to update: give email, displayName or role.',
      });
      const actions = (await t.services.audit.query({ targetType: 'user', targetId: String(created.id) }))
        .items;
      expect(actions.map((e) => e.action)).toEqual([
        'user.enabled',
        'user.disabled',
        'user.updated',
        'user.created',
      ]);
    });

    it('refuses to disable yourself, and to disable or demote the last active Admin (409)', async () => {
      expect((await call(admin, 'POST', `/users/${adminId}/disable`)).json()).toEqual({
        error: 'conflict',
        message: 'You cannot disable your own account.',
      });
      const other = await createUser(t.services, 'admin2@example.com', 'Admin');
      const other2 = await signIn(t.app, 'admin2@example.com');
      // Two Admins: one may go; then the survivor is the last one.
      expect((await call(other2, 'PATCH', `/users/${adminId}`, { role: 'Editor' })).statusCode).toBe(200);
      const res = await call(admin, 'PATCH', `/users/${other.id}`, { role: 'Editor' });
      expect(res.statusCode).toBe(403); // root is no Admin any more: no users.manage
      await t.services.users.update(adminId, { role: 'User Admins' }, OPERATOR, CLI_ACTOR);
      // Holding users.manage is not enough to touch a user who holds more (src/services/escalation.ts) …
      const outranked = {
        error: 'escalation_denied',
        message:
          'You cannot change the user "admin2@example.com": their role "Admin" holds the grant "api.clients.create" (Create API OAuth Clients), which you do not hold (and 8 more grants you do not hold).',
        details: {
          grant: 'api.clients.create',
          missingGrants: GRANTS.map((g) => g.id).filter((id) => id !== 'users.manage'),
        },
      };
      expect((await call(admin, 'POST', `/users/${other.id}/disable`)).json()).toEqual(outranked);
      expect((await call(admin, 'PATCH', `/users/${other.id}`, { role: 'Editor' })).json()).toEqual(
        outranked,
      );
      // … so only the operator (or the Admin themselves) could try, and the last active Admin stays.
      await expect(t.services.users.disable(other.id, OPERATOR, CLI_ACTOR)).rejects.toMatchObject({
        status: 409,
        code: 'conflict',
        message:
          '"admin2@example.com" is the last active Admin; disabling them would leave nobody to administer Gatehouse.',
        details: { field: 'status' },
      });
      await expect(
        t.services.users.update(other.id, { role: 'Editor' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 409,
        message:
          '"admin2@example.com" is the last active Admin; moving them would leave nobody to administer Gatehouse.',
      });
      await t.services.users.update(adminId, { role: 'Admin' }, OPERATOR, CLI_ACTOR);
    });

    it('resets a password (generated, shown once) and forces a change at sign-in', async () => {
      const target = await createUser(t.services, 'reset@example.com', 'Editor');
      const old = await signIn(t.app, 'reset@example.com');
      const res = await call(admin, 'POST', `/users/${target.id}/password`, {});
      expect(res.statusCode).toBe(200);
      const { password, user } = res.json();
      expect(password).toMatch(/^[A-Za-z0-9]{20}$/);
      expect(user.mustChangePassword).toBe(true);
      // The reset ends the user's sessions; the new password works and is flagged.
      expect((await call(old, 'GET', '/me')).statusCode).toBe(401);
      const fresh = await signIn(t.app, 'reset@example.com', password);
      expect((await call(fresh, 'GET', '/grants')).json().error).toBe('password_change_required');
      const chosen = await call(admin, 'POST', `/users/${target.id}/password`, {
        password: 'chosen by the admin',
      });
      expect(chosen.json()).toEqual({ user: expect.objectContaining({ email: 'reset@example.com' }) });
      const event = (await t.services.audit.query({ action: 'user.password_changed' })).items[0]!;
      expect(JSON.stringify(event)).not.toContain('chosen by');
    });
  });

  describe('roles', () => {
    it('creates, renames, changes grants of, copies and deletes a custom role', async () => {
      const created = await call(admin, 'POST', '/roles', {
        name: 'Auditors',
        description: 'Read the log',
        grants: ['audit.view'],
      });
      expect(created.statusCode).toBe(201);
      const role = created.json();
      expect(role).toMatchObject({
        name: 'Auditors',
        description: 'Read the log',
        system: false,
        grants: ['audit.view'],
      });
      const renamed = await call(admin, 'PATCH', `/roles/${role.id}`, { name: 'Log Readers' });
      expect(renamed.json()).toMatchObject({ name: 'Log Readers', description: 'Read the log' });
      const described = await call(admin, 'PATCH', `/roles/${role.id}`, {
        description: 'Reads the audit log',
      });
      expect(described.json()).toMatchObject({ name: 'Log Readers', description: 'Reads the audit log' });
      const added = await call(admin, 'POST', `/roles/${role.id}/grants`, {
        grants: ['data.view', 'audit.view'],
      });
      expect(added.json().grants).toEqual(['audit.view', 'data.view']);
      const removed = await call(admin, 'DELETE', `/roles/${role.id}/grants/audit.view`);
      expect(removed.json().grants).toEqual(['data.view']);
      const copy = await call(admin, 'POST', '/roles/Admin/copy', { name: 'Almost Admin' });
      expect(copy.statusCode).toBe(201);
      expect(copy.json()).toMatchObject({
        name: 'Almost Admin',
        system: false,
        grants: GRANTS.map((g) => g.id),
      });
      expect((await call(admin, 'DELETE', `/roles/${role.id}`)).statusCode).toBe(204);
      expect((await call(admin, 'GET', `/roles/${role.id}`)).statusCode).toBe(404);
      const actions = (await t.services.audit.query({ targetType: 'role', targetId: String(role.id) })).items;
      expect(actions.map((e) => e.action)).toEqual([
        'role.deleted',
        'role.grant_removed',
        'role.grant_added',
        'role.renamed',
        'role.renamed',
        'role.created',
      ]);
    });

    it('a grant added to a role applies to its users at once', async () => {
      const role = (await call(admin, 'POST', '/roles', { name: 'Growing' })).json();
      await createUser(t.services, 'grow@example.com', 'Growing');
      const s = await signIn(t.app, 'grow@example.com');
      expect((await call(s, 'GET', '/audit')).statusCode).toBe(403);
      await call(admin, 'POST', `/roles/${role.id}/grants`, { grants: ['audit.view'] });
      expect((await call(s, 'GET', '/audit')).statusCode).toBe(200);
    });

    it.each([
      [
        'an unknown grant',
        'POST',
        '/roles',
        { name: 'Bad', grants: ['audit.view', 'nope'] },
        400,
        {
          error: 'validation_error',
          message: 'Unknown grant: "nope".',
          details: { field: 'grants', unknown: ['nope'] },
        },
      ],
      [
        'an empty role name',
        'POST',
        '/roles',
        { name: ' ' },
        400,
        { error: 'validation_error', message: 'Role name must not be empty.', details: { field: 'name' } },
      ],
      [
        'a duplicate role name',
        'POST',
        '/roles',
        { name: 'editor' },
        409,
        { error: 'conflict', message: 'A role named "editor" already exists.', details: { field: 'name' } },
      ],
      [
        'renaming a system role',
        'PATCH',
        '/roles/Editor',
        { name: 'Writers' },
        403,
        {
          error: 'system_role',
          message: '"Editor" is a system role and cannot be changed; copy it into a custom role instead.',
          details: { role: 'Editor' },
        },
      ],
      [
        'granting to a system role',
        'POST',
        '/roles/Social/grants',
        { grants: ['data.view'] },
        403,
        {
          error: 'system_role',
          message: '"Social" is a system role and cannot be changed; copy it into a custom role instead.',
          details: { role: 'Social' },
        },
      ],
      [
        'deleting a system role',
        'DELETE',
        '/roles/Admin',
        undefined,
        403,
        {
          error: 'system_role',
          message: '"Admin" is a system role and cannot be changed; copy it into a custom role instead.',
          details: { role: 'Admin' },
        },
      ],
      [
        'granting an unknown grant to a custom role',
        'POST',
        '/roles/User Admins/grants',
        { grants: ['everything'] },
        400,
        {
          error: 'validation_error',
          message: 'Unknown grant: "everything".',
          details: { field: 'grants', unknown: ['everything'] },
        },
      ],
      [
        'an empty update',
        'PATCH',
        '/roles/User Admins',
        {},
        400,
        { error: 'validation_error', message: 'Nothing to update: give name or description.' },
      ],
      [
        'an unknown role',
        'GET',
        '/roles/Nope',
        undefined,
        404,
        { error: 'not_found', message: 'Role Nope not found.' },
      ],
    ] as const)(
      'refuses %s with the exact error and writes nothing',
      async (_n, method, url, payload, status, body) => {
        const before = await snapshot();
        const res = await call(admin, method, encodeURI(url), payload);
        expect(res.statusCode).toBe(status);
        expect(res.json()).toEqual(body);
        expect(await snapshot()).toEqual(before);
      },
    );

    it('refuses to delete a role still in use: 409 with the user count', async () => {
      const role = (await call(admin, 'POST', '/roles', { name: 'Busy' })).json();
      await createUser(t.services, 'busy1@example.com', 'Busy');
      await createUser(t.services, 'busy2@example.com', 'Busy');
      const res = await call(admin, 'DELETE', `/roles/${role.id}`);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toEqual({
        error: 'conflict',
        message: 'Role "Busy" is assigned to 2 users; move them to another role first.',
        details: { users: 2 },
      });
      expect((await call(admin, 'GET', `/roles/${role.id}`)).json().userCount).toBe(2);
    });
  });

  describe('audit', () => {
    it('lists newest first with filters and cursor pagination', async () => {
      const all = await call(admin, 'GET', '/audit?limit=3');
      expect(all.statusCode).toBe(200);
      const page = all.json();
      expect(page.items).toHaveLength(3);
      const ids = page.items.map((e: { id: number }) => e.id);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);
      const next = (await call(admin, 'GET', `/audit?limit=3&cursor=${page.nextCursor}`)).json();
      expect(next.items[0].id).toBeLessThan(ids[2]);
      const sessions = (await call(admin, 'GET', '/audit?action=session.*&actorType=user')).json();
      expect(sessions.items.length).toBeGreaterThan(0);
      expect(sessions.items.every((e: { action: string }) => e.action.startsWith('session.'))).toBe(true);
      const byActor = (await call(admin, 'GET', `/audit?actorId=${adminId}&targetType=role`)).json();
      expect(byActor.items.every((e: { actor: { id: string } }) => e.actor.id === String(adminId))).toBe(
        true,
      );
      const future = (await call(admin, 'GET', '/audit?from=2030-01-01T00:00:00Z')).json();
      expect(future).toEqual({ items: [], nextCursor: null });
    });

    it('refuses a bad time filter', async () => {
      const res = await call(admin, 'GET', '/audit?from=yesterday');
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: 'validation_error',
        message: '"from" must be an ISO-8601 time such as 2026-01-31T12:00:00Z.',
        details: { field: 'from' },
      });
    });
  });

  describe('credential resolvers', () => {
    it('an explicit developer-token header authenticates without a CSRF token and wins over the cookie', async () => {
      const { token } = await t.services.accessTokens.create(
        { description: 'automation', user: adminId, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const res = await t.app.inject({
        method: 'POST',
        url: `${API}/roles`,
        headers: { 'x-domo-developer-token': token, cookie: editor.cookie },
        payload: { name: 'Via Header' },
      });
      expect(res.statusCode).toBe(201);
      const event = (await t.services.audit.query({ action: 'role.created' })).items[0]!;
      expect(event.actor).toMatchObject({ type: 'user', id: String(adminId) });
      const me = await t.app.inject({
        method: 'GET',
        url: `${API}/me`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(me.json()).not.toHaveProperty('csrfToken');
      expect(TEST_PASSWORD).toBeTruthy();
    });
  });
});
