/**
 * Domo's Users, Groups and Audit APIs over HTTP on both dialects: the guard's 401/403 table
 * (client tokens need the scope, developer tokens the grants only), the Domo shapes, the
 * no-escalation and last-Admin rules through `/v1/users`, delete semantics, group membership,
 * bad input that changes nothing, and the activity log's time range.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const USER_KEYS = ['id', 'name', 'email', 'role', 'roleId', 'active', 'createdAt', 'updatedAt'];
const GROUP_KEYS = [
  'id',
  'name',
  'description',
  'default',
  'active',
  'creatorId',
  'memberCount',
  'createdAt',
  'updatedAt',
];

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Domo Users, Groups and Audit APIs (${dialect.name})`, () => {
    let ts: TestStore;
    let fx: OAuthFixture;
    const dev: Record<string, string> = {};
    const ids: Record<string, number> = {};
    let client: { id: string; secret: string };

    async function person(name: string, role: string): Promise<void> {
      const user = await fx.services.users.create(
        { email: `${name}@example.com`, displayName: name, role },
        OPERATOR,
        CLI_ACTOR,
      );
      ids[name] = user.id;
      const created = await fx.services.accessTokens.create(
        { description: `${name}'s token`, user: user.id, expiresInDays: 30 },
        OPERATOR,
        CLI_ACTOR,
      );
      dev[name] = `Bearer ${created.token}`;
    }

    async function clientToken(scope: string): Promise<string> {
      const res = await fx.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
      });
      expect(res.statusCode, res.body).toBe(200);
      return `Bearer ${(res.json() as { access_token: string }).access_token}`;
    }

    const call = (
      method: 'GET' | 'POST' | 'PUT' | 'DELETE',
      url: string,
      authorization?: string,
      payload?: unknown,
    ) =>
      fx.app.inject({
        method,
        url,
        headers: authorization === undefined ? {} : { authorization },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    beforeAll(async () => {
      ts = await dialect.open();
      fx = await oauthFixture(ts.store, { ownerRole: 'Admin' });
      await fx.services.roles.create(
        { name: 'People manager', grants: ['users.manage', 'data.view', 'audit.view'] },
        OPERATOR,
        CLI_ACTOR,
      );
      await person('admin', 'Admin');
      await person('manager', 'People manager');
      await person('reader', 'Participant');
      await person('social', 'Social');
      client = await fx.createClient({ scopes: ['data', 'user', 'audit'] });
    });
    afterAll(async () => {
      await fx?.close();
      await ts?.dispose();
    });

    describe('the guard', () => {
      it('401 without credentials, before the body is read', async () => {
        const res = await call('POST', '/v1/users', undefined, { nonsense: true });
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
        expect(res.json()).toEqual({
          error: 'unauthenticated',
          message: 'Authentication required: send Authorization: Bearer <access token>.',
        });
        for (const url of ['/v1/groups', '/v1/audit?start=0']) {
          expect((await call('GET', url)).statusCode).toBe(401);
        }
      });

      it('a client token without scope `user` is 403 insufficient_scope on /v1/users and /v1/groups', async () => {
        const token = await clientToken('data');
        for (const [method, url] of [
          ['GET', '/v1/users'],
          ['POST', '/v1/users'],
          ['GET', '/v1/groups'],
          ['PUT', `/v1/groups/1/users/${ids.reader}`],
        ] as const) {
          const res = await call(
            method,
            url,
            token,
            method === 'POST' ? { email: 'x@example.com' } : undefined,
          );
          expect(res.statusCode, `${method} ${url}`).toBe(403);
          expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="user"');
          expect(res.json()).toEqual({
            error: 'insufficient_scope',
            message: 'The access token lacks the scope "user".',
            details: { scope: 'user' },
          });
        }
        expect((await fx.services.users.find('x@example.com')) === undefined).toBe(true);
      });

      it('a client token with scope `user` but not `audit` is 403 on /v1/audit', async () => {
        const res = await call('GET', '/v1/audit?start=0', await clientToken('user'));
        expect(res.statusCode).toBe(403);
        expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="audit"');
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The access token lacks the scope "audit".',
          details: { scope: 'audit' },
        });
      });

      it('any active user lists and reads users and groups; writes need users.manage', async () => {
        for (const who of ['reader', 'social']) {
          expect((await call('GET', '/v1/users', dev[who])).statusCode).toBe(200);
          expect((await call('GET', `/v1/users/${ids.admin}`, dev[who])).statusCode).toBe(200);
          expect((await call('GET', '/v1/groups', dev[who])).statusCode).toBe(200);
        }
        const denied = await call('POST', '/v1/users', dev.reader, {
          email: 'sneaky@example.com',
          role: 'Social',
        });
        expect(denied.statusCode).toBe(403);
        expect(denied.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="user"');
        expect(denied.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "users.manage" (Manage Users).',
          details: { grant: 'users.manage' },
        });
        expect(await fx.services.users.find('sneaky@example.com')).toBeUndefined();
        for (const [method, url] of [
          ['PUT', `/v1/users/${ids.social}`],
          ['DELETE', `/v1/users/${ids.social}`],
          ['POST', '/v1/groups'],
          ['PUT', '/v1/groups/1'],
          ['DELETE', '/v1/groups/1'],
          ['PUT', `/v1/groups/1/users/${ids.reader}`],
          ['DELETE', `/v1/groups/1/users/${ids.reader}`],
        ] as const) {
          const res = await call(method, url, dev.reader, method === 'DELETE' ? undefined : { name: 'x' });
          expect(res.statusCode, `${method} ${url}`).toBe(403);
          expect(res.json().details).toEqual({ grant: 'users.manage' });
        }
      });

      it('the audit log needs audit.view', async () => {
        const res = await call('GET', '/v1/audit?start=0', dev.reader);
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "audit.view" (View Audit Log).',
          details: { grant: 'audit.view' },
        });
        expect((await call('GET', '/v1/audit?start=0', dev.manager)).statusCode).toBe(200);
      });

      it('a client token with scope `user` of an Admin owner creates and lists users', async () => {
        const token = await clientToken('user');
        const created = await call('POST', '/v1/users?sendInvite=false', token, {
          email: 'Client.Made@Example.com',
          name: 'Client Made',
          role: 'Editor',
        });
        expect(created.statusCode, created.body).toBe(201);
        const body = created.json();
        expect(Object.keys(body)).toEqual(USER_KEYS);
        expect(body).toMatchObject({
          name: 'Client Made',
          email: 'Client.Made@Example.com',
          role: 'Editor',
          active: true,
        });
        const [event] = (await fx.services.audit.query({ action: 'user.created', targetId: String(body.id) }))
          .items;
        expect(event?.actor).toEqual({ type: 'client', id: client.id, label: null });
      });
    });

    describe('users', () => {
      it('creates (201, Domo shape), gets, lists with limit/offset, updates and refuses duplicates', async () => {
        const created = await call('POST', '/v1/users', dev.admin, {
          email: 'ada@example.com',
          name: 'Ada Lovelace',
          role: 'Participant',
        });
        expect(created.statusCode, created.body).toBe(201);
        const ada = created.json();
        expect(ada).toEqual({
          id: expect.any(Number),
          name: 'Ada Lovelace',
          email: 'ada@example.com',
          role: 'Participant',
          roleId: (await fx.services.roles.get('Participant')).id,
          active: true,
          createdAt: expect.any(String),
          updatedAt: expect.any(String),
        });
        const got = await call('GET', `/v1/users/${ada.id}`, dev.reader);
        expect(got.statusCode).toBe(200);
        expect(got.json()).toEqual(ada);

        const all = (await call('GET', '/v1/users?limit=500', dev.admin)).json() as Array<{ id: number }>;
        expect(all.map((u) => u.id)).toEqual([...all.map((u) => u.id)].sort((a, b) => a - b));
        expect(all.some((u) => u.id === ada.id)).toBe(true);
        const page = (await call('GET', '/v1/users?limit=2&offset=1', dev.admin)).json() as Array<{
          id: number;
        }>;
        expect(page.map((u) => u.id)).toEqual(all.slice(1, 3).map((u) => u.id));

        const dup = await call('POST', '/v1/users', dev.admin, { email: 'ADA@example.com', role: 'Social' });
        expect(dup.statusCode).toBe(409);
        expect(dup.json()).toEqual({
          error: 'conflict',
          message: 'A user with email "ADA@example.com" already exists.',
          details: { field: 'email' },
        });

        const updated = await call('PUT', `/v1/users/${ada.id}`, dev.manager, {
          name: 'Countess',
          role: 'Social',
        });
        expect(updated.statusCode, updated.body).toBe(200);
        expect(updated.json()).toMatchObject({
          id: ada.id,
          name: 'Countess',
          role: 'Social',
          email: 'ada@example.com',
        });
        const byRoleId = await call('PUT', `/v1/users/${ada.id}`, dev.manager, {
          roleId: (await fx.services.roles.get('Participant')).id,
        });
        expect(byRoleId.json()).toMatchObject({ role: 'Participant' });
      });

      it('limit and offset are bounded (400 naming the parameter)', async () => {
        for (const [query, field] of [
          ['limit=501', 'limit'],
          ['limit=0', 'limit'],
          ['offset=-1', 'offset'],
          ['offset=100001', 'offset'],
          ['limit=abc', 'limit'],
        ]) {
          const res = await call('GET', `/v1/users?${query}`, dev.admin);
          expect(res.statusCode, query).toBe(400);
          expect(res.json().error).toBe('validation_error');
          expect(res.json().message).toContain(field);
        }
        expect((await call('GET', '/v1/users?offset=100000', dev.admin)).json()).toEqual([]);
      });

      it('no escalation: a manager cannot create or make an Admin, nor change one (403, nothing changes)', async () => {
        const before = await fx.services.users.count();
        const create = await call('POST', '/v1/users', dev.manager, {
          email: 'boss@example.com',
          role: 'Admin',
        });
        expect(create.statusCode).toBe(403);
        expect(create.json()).toMatchObject({
          error: 'escalation_denied',
          message: expect.stringMatching(/^You cannot assign the role "Admin": it holds the grant /),
        });
        expect(await fx.services.users.count()).toBe(before);

        const promote = await call('PUT', `/v1/users/${ids.reader}`, dev.manager, { role: 'Admin' });
        expect(promote.statusCode).toBe(403);
        expect(promote.json().error).toBe('escalation_denied');
        expect((await fx.services.users.get(ids.reader!)).role.name).toBe('Participant');

        const rename = await call('PUT', `/v1/users/${ids.admin}`, dev.manager, { name: 'pwned' });
        expect(rename.statusCode).toBe(403);
        expect(rename.json().error).toBe('escalation_denied');
        expect((await fx.services.users.get(ids.admin!)).displayName).toBe('admin');

        const own = await call('PUT', `/v1/users/${ids.manager}`, dev.manager, { role: 'Participant' });
        expect(own.statusCode).toBe(403);
        expect(own.json().error).toBe('own_role');
      });

      it('bad input is a 400 that changes nothing', async () => {
        const before = await fx.services.users.count();
        for (const [payload, field] of [
          [{ email: 'not-an-email' }, 'email'],
          [{ email: '' }, 'email'],
          [{ email: 'x@example.com', role: 'Wizard' }, 'role'],
          [{ email: 'x@example.com', roleId: 999999 }, 'role'],
          [{ email: 'x@example.com', role: 'Social', roleId: 1 }, 'roleId'],
          [{ email: 'x@example.com', name: '' }, 'displayName'],
          [{ email: 'x@example.com', title: 5 }, 'title'],
          [{ email: 'x@example.com', phone: 'x'.repeat(501) }, 'phone'],
          [{ email: 'x@example.com', employeeNumber: 1.5 }, 'employeeNumber'],
          [{ email: 'x@example.com', nickname: 'Ace' }, 'nickname'],
          [{ email: 42 }, 'email'],
          [{ name: 'no email' }, 'email'],
        ] as const) {
          const res = await call('POST', '/v1/users', dev.admin, payload);
          expect(res.statusCode, JSON.stringify(payload)).toBe(400);
          expect(res.json().error, JSON.stringify(payload)).toBe('validation_error');
          expect(JSON.stringify(res.json()), JSON.stringify(payload)).toContain(field);
        }
        expect(await fx.services.users.count()).toBe(before);
        const nothing = await call('PUT', `/v1/users/${ids.social}`, dev.admin, {});
        expect(nothing.statusCode).toBe(400);
        expect(nothing.json()).toEqual({
          error: 'validation_error',
          message: 'Nothing to update: give email, displayName or role.',
        });
      });

      it("stores Domo's profile fields (the Domo SDK's User), answers them when set, and clears one given as an empty string", async () => {
        const profile = {
          title: 'Rear Admiral',
          alternateEmail: 'grace.hopper@example.org',
          phone: '+1 555 0100',
          location: 'Arlington',
          timezone: 'America/New_York',
          locale: 'en_US',
        };
        const created = await call('POST', '/v1/users?sendInvite=true', dev.admin, {
          email: 'profile@example.com',
          name: 'Profile',
          role: 'Participant',
          ...profile,
          employeeNumber: 1906,
        });
        expect(created.statusCode, created.body).toBe(201);
        const user = created.json();
        expect(user).toEqual({
          id: user.id,
          name: 'Profile',
          email: 'profile@example.com',
          role: 'Participant',
          roleId: user.roleId,
          ...profile,
          employeeNumber: 1906,
          active: true,
          createdAt: user.createdAt,
          updatedAt: user.updatedAt,
        });
        expect((await call('GET', `/v1/users/${user.id}`, dev.admin)).json()).toEqual(user);

        const profileOnly = await call('PUT', `/v1/users/${user.id}`, dev.admin, {
          title: 'Commodore',
          phone: '',
          employeeNumber: 'E-1906',
        });
        expect(profileOnly.statusCode, profileOnly.body).toBe(200);
        const { phone: _cleared, ...kept } = user;
        const expected = { ...kept, title: 'Commodore', employeeNumber: 'E-1906' };
        expect({ ...profileOnly.json(), updatedAt: user.updatedAt }).toEqual(expected);
        expect(profileOnly.json()).not.toHaveProperty('phone');
        expect({
          ...(await call('GET', `/v1/users/${user.id}`, dev.admin)).json(),
          updatedAt: user.updatedAt,
        }).toEqual(expected);
        // The audit event names the fields, never their values.
        const events = await fx.services.audit.query({ action: 'user.updated', limit: 1 });
        expect(events.items[0]?.details).toEqual({ profileFields: ['title', 'phone', 'employeeNumber'] });

        const bad = await call('PUT', `/v1/users/${user.id}`, dev.admin, { title: 'x'.repeat(501) });
        expect(bad.statusCode).toBe(400);
        expect(bad.json().error).toBe('validation_error');
        expect((await call('GET', `/v1/users/${user.id}`, dev.admin)).json().title).toBe('Commodore');
        expect((await call('DELETE', `/v1/users/${user.id}`, dev.admin)).statusCode).toBe(204);
      });

      it('unknown ids are 404', async () => {
        for (const [method, payload] of [
          ['GET', undefined],
          ['PUT', { name: 'x' }],
          ['DELETE', undefined],
        ] as const) {
          for (const id of ['999999', '2147483647']) {
            const res = await call(method, `/v1/users/${id}`, dev.admin, payload);
            expect(res.statusCode, `${method} ${id}`).toBe(404);
            expect(res.json()).toEqual({ error: 'not_found', message: `User ${Number(id)} not found.` });
          }
        }
        for (const id of ['abc', '-1', '1.5', '2147483648', '9223372036854775808']) {
          const res = await call('GET', `/v1/users/${id}`, dev.admin);
          expect(res.statusCode, id).toBe(400);
          expect(res.json().error).toBe('validation_error');
        }
      });

      it('delete: removes the user, their tokens and memberships; refused for owners, oneself and the last Admin', async () => {
        const doomed = await fx.services.users.create(
          { email: 'doomed@example.com', role: 'Participant' },
          OPERATOR,
          CLI_ACTOR,
        );
        const group = await fx.services.groups.create({ name: 'Doomed club' }, OPERATOR, CLI_ACTOR);
        await fx.services.groups.addMember(group.id, doomed.id, CLI_ACTOR);
        const token = await fx.services.accessTokens.create(
          { description: 'doomed', user: doomed.id, expiresInDays: 1 },
          OPERATOR,
          CLI_ACTOR,
        );
        expect((await call('GET', '/v1/users', `Bearer ${token.token}`)).statusCode).toBe(200);

        const res = await call('DELETE', `/v1/users/${doomed.id}`, dev.manager);
        expect(res.statusCode, res.body).toBe(204);
        expect(res.body).toBe('');
        expect((await call('GET', `/v1/users/${doomed.id}`, dev.admin)).statusCode).toBe(404);
        expect((await call('GET', '/v1/users', `Bearer ${token.token}`)).statusCode).toBe(401);
        expect((await fx.services.groups.get(group.id)).memberCount).toBe(0);
        const [event] = (
          await fx.services.audit.query({ action: 'user.deleted', targetId: String(doomed.id) })
        ).items;
        expect(event?.details).toEqual({
          email: 'doomed@example.com',
          displayName: 'doomed',
          role: 'Participant',
        });

        // The fixture's owner owns the API client: refused, the user stays.
        const owner = await call('DELETE', `/v1/users/${fx.owner.id}`, dev.admin);
        expect(owner.statusCode).toBe(409);
        expect(owner.json()).toEqual({
          error: 'conflict',
          message: `"${fx.owner.email}" owns 1 API client(s) and 0 workflow(s); disable the user instead, or delete what they own first.`,
          details: { clients: 1, workflows: 0 },
        });
        expect((await fx.services.users.get(fx.owner.id)).status).toBe('active');

        const self = await call('DELETE', `/v1/users/${ids.manager}`, dev.manager);
        expect(self.statusCode).toBe(409);
        expect(self.json().message).toBe('You cannot delete your own account.');

        const outranked = await call('DELETE', `/v1/users/${ids.admin}`, dev.manager);
        expect(outranked.statusCode).toBe(403);
        expect(outranked.json().error).toBe('escalation_denied');
      });

      it('the last active Admin cannot be deleted', async () => {
        // Leave `admin` the only active Admin: disable the fixture's owner (the other Admin).
        await fx.services.users.disable(fx.owner.id, OPERATOR, CLI_ACTOR);
        try {
          const second = await fx.services.users.create(
            { email: 'second-admin@example.com', role: 'Admin' },
            OPERATOR,
            CLI_ACTOR,
          );
          const token = await fx.services.accessTokens.create(
            { description: 'second', user: second.id, expiresInDays: 1 },
            OPERATOR,
            CLI_ACTOR,
          );
          // Two active Admins: one may delete the other.
          const ok = await call('DELETE', `/v1/users/${second.id}`, dev.admin);
          expect(ok.statusCode, ok.body).toBe(204);
          expect((await call('GET', '/v1/users', `Bearer ${token.token}`)).statusCode).toBe(401);
          // Now `admin` is the last one; another Admin made by the CLI, then disabled, cannot remove them.
          const res = await call('DELETE', `/v1/users/${ids.admin}`, dev.admin);
          expect(res.statusCode).toBe(409);
          const viaCli = fx.services.users.delete(ids.admin!, OPERATOR, CLI_ACTOR);
          await expect(viaCli).rejects.toMatchObject({
            status: 409,
            message:
              '"admin@example.com" is the last active Admin; deleting them would leave nobody to administer Gatehouse.',
          });
          expect((await fx.services.users.get(ids.admin!)).status).toBe('active');
        } finally {
          await fx.services.users.enable(fx.owner.id, OPERATOR, CLI_ACTOR);
        }
      });
    });

    describe('groups', () => {
      it('create, get, list, update, members add/list/remove, delete; each write audited', async () => {
        const created = await call('POST', '/v1/groups', dev.manager, {
          name: 'Finance',
          description: 'Money people',
        });
        expect(created.statusCode, created.body).toBe(201);
        const group = created.json();
        expect(Object.keys(group)).toEqual(GROUP_KEYS);
        expect(group).toMatchObject({
          name: 'Finance',
          description: 'Money people',
          default: false,
          active: true,
          creatorId: ids.manager,
          memberCount: 0,
        });
        expect((await call('GET', `/v1/groups/${group.id}`, dev.reader)).json()).toEqual(group);
        const listed = (await call('GET', '/v1/groups', dev.reader)).json() as Array<{ id: number }>;
        expect(listed.some((g) => g.id === group.id)).toBe(true);

        // The Domo SDK sends `default` on create and may send `active` on update.
        const sdkStyle = await call('POST', '/v1/groups', dev.manager, { name: 'SDK group', default: false });
        expect(sdkStyle.statusCode).toBe(201);
        const flagsOnly = await call('PUT', `/v1/groups/${sdkStyle.json().id}`, dev.manager, {
          active: true,
        });
        expect(flagsOnly.statusCode).toBe(200);
        expect(flagsOnly.json()).toEqual(sdkStyle.json());
        const isDefault = await call('POST', '/v1/groups', dev.manager, { name: 'Everyone', default: true });
        expect(isDefault.statusCode).toBe(400);
        expect(isDefault.json()).toEqual({
          error: 'validation_error',
          message: 'Gatehouse has no default groups: "default" must be false.',
          details: { field: 'default' },
        });
        const inactive = await call('PUT', `/v1/groups/${sdkStyle.json().id}`, dev.manager, {
          name: 'Gone',
          active: false,
        });
        expect(inactive.statusCode).toBe(400);
        expect(inactive.json().details).toEqual({ field: 'active' });
        expect((await fx.services.groups.get(sdkStyle.json().id)).name).toBe('SDK group');

        const dup = await call('POST', '/v1/groups', dev.manager, { name: 'FINANCE' });
        expect(dup.statusCode).toBe(409);
        expect(dup.json()).toEqual({
          error: 'conflict',
          message: 'A group named "FINANCE" already exists.',
          details: { field: 'name' },
        });

        for (const who of ['reader', 'social', 'reader']) {
          const add = await call('PUT', `/v1/groups/${group.id}/users/${ids[who]}`, dev.manager);
          expect(add.statusCode, add.body).toBe(204);
          expect(add.body).toBe('');
        }
        const members = await call('GET', `/v1/groups/${group.id}/users`, dev.reader);
        expect(members.statusCode).toBe(200);
        expect(members.json()).toEqual([ids.reader, ids.social].sort((a, b) => a! - b!));
        expect(
          (await call('GET', `/v1/groups/${group.id}/users?limit=1&offset=1`, dev.reader)).json(),
        ).toEqual([Math.max(ids.reader!, ids.social!)]);
        expect((await call('GET', `/v1/groups/${group.id}`, dev.reader)).json().memberCount).toBe(2);
        expect(await fx.services.groups.groupIdsOf(ids.reader!)).toContain(group.id);

        for (let i = 0; i < 2; i++) {
          const remove = await call('DELETE', `/v1/groups/${group.id}/users/${ids.social}`, dev.manager);
          expect(remove.statusCode).toBe(204);
        }
        expect((await call('GET', `/v1/groups/${group.id}/users`, dev.reader)).json()).toEqual([ids.reader]);

        const renamed = await call('PUT', `/v1/groups/${group.id}`, dev.manager, {
          name: 'Finance & Ops',
          description: null,
        });
        expect(renamed.statusCode).toBe(200);
        expect(renamed.json()).toMatchObject({
          id: group.id,
          name: 'Finance & Ops',
          description: '',
          memberCount: 1,
        });

        const deleted = await call('DELETE', `/v1/groups/${group.id}`, dev.manager);
        expect(deleted.statusCode).toBe(204);
        expect((await call('GET', `/v1/groups/${group.id}`, dev.reader)).statusCode).toBe(404);
        expect((await fx.services.users.get(ids.reader!)).status).toBe('active');

        const events = (await fx.services.audit.query({ targetType: 'group', targetId: String(group.id) }))
          .items;
        expect(events.map((e) => e.action).reverse()).toEqual([
          'group.created',
          'group.member_added',
          'group.member_added',
          'group.member_removed',
          'group.updated',
          'group.deleted',
        ]);
        expect(events.at(-1)?.actor).toEqual({
          type: 'user',
          id: String(ids.manager),
          label: 'manager@example.com',
        });
      });

      it('unknown groups and users are 404; bad input is 400 and changes nothing', async () => {
        const group = await fx.services.groups.create({ name: 'Edge cases' }, OPERATOR, CLI_ACTOR);
        for (const [method, url] of [
          ['GET', '/v1/groups/999999'],
          ['PUT', '/v1/groups/999999'],
          ['DELETE', '/v1/groups/999999'],
          ['GET', '/v1/groups/999999/users'],
          ['PUT', `/v1/groups/999999/users/${ids.reader}`],
          ['DELETE', `/v1/groups/999999/users/${ids.reader}`],
        ] as const) {
          const res = await call(
            method,
            url,
            dev.admin,
            method === 'PUT' && !url.includes('users') ? { name: 'x' } : undefined,
          );
          expect(res.statusCode, `${method} ${url}`).toBe(404);
          expect(res.json()).toEqual({ error: 'not_found', message: 'Group 999999 not found.' });
        }
        for (const method of ['PUT', 'DELETE'] as const) {
          const res = await call(method, `/v1/groups/${group.id}/users/999999`, dev.admin);
          expect(res.statusCode).toBe(404);
          expect(res.json()).toEqual({ error: 'not_found', message: 'User 999999 not found.' });
        }
        const auditBefore = (
          await fx.services.audit.query({ targetType: 'group', targetId: String(group.id) })
        ).items.length;
        for (const payload of [
          {},
          { name: '' },
          { name: 'x'.repeat(201) },
          { name: 'a\u200bb' },
          { name: 5 },
          { owner: 1 },
        ]) {
          const url = Object.keys(payload).length === 0 ? `/v1/groups/${group.id}` : '/v1/groups';
          const method = Object.keys(payload).length === 0 ? 'PUT' : 'POST';
          const res = await call(method, url, dev.admin, payload);
          expect(res.statusCode, JSON.stringify(payload)).toBe(400);
          expect(res.json().error).toBe('validation_error');
        }
        const rename = await call('PUT', `/v1/groups/${group.id}`, dev.admin, { name: '' });
        expect(rename.statusCode).toBe(400);
        expect(rename.json()).toEqual({
          error: 'validation_error',
          message: 'Group name must not be empty.',
          details: { field: 'name' },
        });
        expect((await fx.services.groups.get(group.id)).name).toBe('Edge cases');
        expect(
          (await fx.services.audit.query({ targetType: 'group', targetId: String(group.id) })).items.length,
        ).toBe(auditBefore);
        expect((await call('GET', '/v1/groups?limit=501', dev.admin)).statusCode).toBe(400);
      });
    });

    describe('audit', () => {
      it('returns the events in [start, end), newest first, in the activity-log shape, with limit/offset', async () => {
        // Earlier tests' events all sit at the fixture clock's time; the range starts just after it.
        const t0 = fx.clock.now().getTime() + 1;
        fx.clock.advance(60_001);
        const created = await call('POST', '/v1/groups', dev.admin, { name: 'Audited' });
        const groupId = created.json().id as number;
        fx.clock.advance(60_000);
        await call('PUT', `/v1/groups/${groupId}`, dev.admin, { description: 'later' });
        fx.clock.advance(60_000);
        const t3 = fx.clock.now().getTime();

        const all = await call('GET', `/v1/audit?start=${t0}&end=${t3}`, dev.manager);
        expect(all.statusCode).toBe(200);
        const entries = all.json() as Array<Record<string, unknown>>;
        expect(entries.map((e) => e.actionType)).toEqual(['group.updated', 'group.created']);
        expect(entries[1]).toEqual({
          id: expect.any(Number),
          time: t0 + 60_000,
          userId: String(ids.admin),
          userName: 'admin@example.com',
          userType: 'USER',
          actionType: 'group.created',
          objectType: 'GROUP',
          objectId: String(groupId),
          objectName: 'Audited',
          eventText: `group.created group ${groupId}`,
          ipAddress: '127.0.0.1',
          additionalComment: { name: 'Audited', description: '' },
        });
        const firstOnly = await call('GET', `/v1/audit?start=${t0}&end=${t0 + 120_000}`, dev.manager);
        expect((firstOnly.json() as Array<{ actionType: string }>).map((e) => e.actionType)).toEqual([
          'group.created',
        ]);
        const paged = await call('GET', `/v1/audit?start=${t0}&end=${t3}&limit=1&offset=1`, dev.manager);
        expect((paged.json() as Array<{ actionType: string }>).map((e) => e.actionType)).toEqual([
          'group.created',
        ]);
        const defaultEnd = await call('GET', `/v1/audit?start=${t0 + 120_000}`, dev.manager);
        expect((defaultEnd.json() as Array<{ actionType: string }>).map((e) => e.actionType)).toEqual([
          'group.updated',
        ]);

        const future = await call('GET', `/v1/audit?start=${t3 + 1}`, dev.manager);
        expect(future.statusCode).toBe(200);
        expect(future.json()).toEqual([]);

        const client = await call('GET', `/v1/audit?start=${t0}&end=${t3}`, await clientToken('audit'));
        expect(client.statusCode).toBe(200);
        expect(client.json()).toEqual(entries);
      });

      it('bad ranges are 400', async () => {
        for (const [query, field] of [
          ['', 'start'],
          ['start=abc', 'start'],
          ['start=10&end=5', 'end'],
          ['start=-1', 'start'],
          ['start=0&limit=1001', 'limit'],
          ['start=0&offset=100001', 'offset'],
          ['start=8640000000000001', 'start'],
        ]) {
          const res = await call('GET', `/v1/audit?${query}`, dev.admin);
          expect(res.statusCode, query).toBe(400);
          expect(res.json().error, query).toBe('validation_error');
          expect(JSON.stringify(res.json()), query).toContain(field);
        }
      });
    });
  });
}
