/**
 * Developer access tokens in the admin API, on both dialects: create (grants,
 * every bad input, shown once), list (own vs all, search, pagination), revoke,
 * audit; and developer tokens as admin credentials (Bearer and
 * X-DOMO-Developer-Token, no CSRF for them, CSRF still for the cookie, live grants).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const API = '/api/admin/v1';
const DAY = 86_400_000;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`admin access tokens (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let admin: SignedIn;
    let editor: SignedIn;
    let reader: SignedIn;
    const ids: Record<string, number> = {};

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store);
      ids.admin = (await createUser(t.services, 'root@example.com', 'Admin')).id;
      ids.admin2 = (await createUser(t.services, 'second@example.com', 'Admin')).id;
      ids.editor = (await createUser(t.services, 'ed@example.com', 'Editor')).id;
      ids.reader = (await createUser(t.services, 'reader@example.com', 'Participant')).id;
      ids.robot = (
        await t.services.users.create({ email: 'robot@example.com', role: 'Editor' }, OPERATOR, CLI_ACTOR)
      ).id;
      admin = await signIn(t.app, 'root@example.com');
      editor = await signIn(t.app, 'ed@example.com');
      reader = await signIn(t.app, 'reader@example.com');
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const call = (
      headers: Record<string, string>,
      method: 'GET' | 'POST' | 'DELETE',
      url: string,
      payload?: unknown,
    ) =>
      t.app.inject({
        method,
        url: `${API}${url}`,
        headers,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });

    const counts = async () => {
      const n = async (table: 'access_tokens' | 'audit_events') =>
        Number(
          (
            await ts.store.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      return { tokens: await n('access_tokens'), audit: await n('audit_events') };
    };

    async function create(s: SignedIn, body: Record<string, unknown>) {
      const res = await call(s.headers, 'POST', '/access-tokens', body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as {
        token: string;
        accessToken: { id: number; prefix: string } & Record<string, unknown>;
      };
    }

    describe('create', () => {
      it('needs access_tokens.create, checked before the body', async () => {
        const res = await call(reader.headers, 'POST', '/access-tokens', { nonsense: 1 });
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual({
          error: 'forbidden',
          message: 'This action needs the grant "access_tokens.create".',
          details: { grant: 'access_tokens.create' },
        });
      });

      it.each([
        [{ expiresInDays: 30 }, 'Invalid body: "description" must have required property \'description\'.'],
        [{ description: '  ', expiresInDays: 30 }, '"description" must not be empty.'],
        [
          { description: 'x'.repeat(201), expiresInDays: 30 },
          '"description" must be at most 200 characters.',
        ],
        [{ description: 'ci' }, 'Choose an expiry: "expiresInDays" (1–3650) or "never": true.'],
        [{ description: 'ci', never: false }, 'Choose an expiry: "expiresInDays" (1–3650) or "never": true.'],
        [{ description: 'ci', expiresInDays: 0 }, '"expiresInDays" must be a whole number from 1 to 3650.'],
        [
          { description: 'ci', expiresInDays: 3651 },
          '"expiresInDays" must be a whole number from 1 to 3650.',
        ],
        [{ description: 'ci', expiresInDays: 1.5 }, 'Invalid body: "expiresInDays" must be integer.'],
        [
          { description: 'ci', expiresInDays: 5, never: true },
          'Give either "expiresInDays" or "never": true, not both.',
        ],
        [
          { description: 'ci', never: true, user: 'a@x', userId: 1 },
          'Give either "user" or "userId", not both.',
        ],
        [
          { description: 'ci', never: true, secret: 'x' },
          'Invalid body: "secret" must NOT have additional properties.',
        ],
      ])('%j → 400, nothing stored', async (body, message) => {
        const before = await counts();
        const res = await call(editor.headers, 'POST', '/access-tokens', body);
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toBe('validation_error');
        expect(res.json().message).toBe(message);
        expect(await counts()).toEqual(before);
      });

      it('for oneself: shown once, stored only as a hash, recognisable prefix, expiry in days', async () => {
        const res = await call(editor.headers, 'POST', '/access-tokens', {
          description: 'laptop',
          expiresInDays: 30,
        });
        expect(res.statusCode).toBe(201);
        expect(res.headers['cache-control']).toBe('no-store');
        const { token, accessToken } = res.json();
        expect(token).toMatch(/^gh_dev_[A-Za-z0-9_-]{43}$/);
        expect(accessToken).toEqual({
          id: accessToken.id,
          prefix: token.slice(0, 15),
          description: 'laptop',
          user: { id: ids.editor, email: 'ed@example.com', displayName: 'ed' },
          createdBy: ids.editor,
          createdAt: t.clock.now().toISOString(),
          expiresAt: new Date(t.clock.now().getTime() + 30 * DAY).toISOString(),
          lastUsedAt: null,
          revokedAt: null,
          status: 'active',
        });
        const row = await ts.store.db
          .selectFrom('access_tokens')
          .selectAll()
          .where('id', '=', accessToken.id)
          .executeTakeFirstOrThrow();
        expect(JSON.stringify(row)).not.toContain(token.slice(15));
        const shown = await call(editor.headers, 'GET', `/access-tokens/${accessToken.id}`);
        expect(shown.json()).toEqual(accessToken);
        const audit = (await t.services.audit.query({ action: 'developer_token.created' })).items[0]!;
        expect(audit).toMatchObject({
          actor: { type: 'user', id: String(ids.editor) },
          target: { type: 'developer_token', id: String(accessToken.id) },
        });
        expect(JSON.stringify(audit)).not.toContain(token.slice(15));
      });

      it('for another user needs api.clients.manage_all; an unknown user is refused the same way', async () => {
        for (const user of ['robot@example.com', ids.robot!, 'nobody@example.com']) {
          const res = await call(editor.headers, 'POST', '/access-tokens', {
            description: 'x',
            user,
            never: true,
          });
          expect(res.statusCode).toBe(403);
          expect(res.json().details).toEqual({ grant: 'api.clients.manage_all' });
        }
        const created = await create(admin, {
          description: 'nightly sync',
          user: 'robot@example.com',
          never: true,
        });
        expect(created.accessToken).toMatchObject({
          user: { id: ids.robot, email: 'robot@example.com' },
          createdBy: ids.admin,
          expiresAt: null,
        });
        const byId = await create(admin, { description: 'by id', userId: ids.robot, expiresInDays: 3650 });
        expect(byId.accessToken).toMatchObject({ user: { id: ids.robot } });
        const unknown = await call(admin.headers, 'POST', '/access-tokens', {
          description: 'x',
          user: 'nobody@example.com',
          never: true,
        });
        expect(unknown.statusCode).toBe(400);
        expect(unknown.json().message).toBe('Unknown user "nobody@example.com".');
      });
    });

    describe('list, show, revoke', () => {
      it('lists one’s own tokens, or all with manage_all; searches description and user; paginates', async () => {
        await create(editor, { description: 'Reporting script', expiresInDays: 7 });
        const mine = (await call(editor.headers, 'GET', '/access-tokens')).json();
        expect(mine.items.length).toBeGreaterThanOrEqual(2);
        expect(mine.items.every((i: { user: { id: number } }) => i.user.id === ids.editor)).toBe(true);
        expect(mine.items[0]).toHaveProperty('prefix');
        expect(mine.items[0]).not.toHaveProperty('token');
        const everything = (await call(admin.headers, 'GET', '/access-tokens?limit=200')).json();
        expect(new Set(everything.items.map((i: { user: { id: number } }) => i.user.id))).toEqual(
          new Set([ids.editor, ids.robot]),
        );
        const search = (await call(admin.headers, 'GET', '/access-tokens?q=REPORTING')).json();
        expect(search.items.map((i: { description: string }) => i.description)).toEqual(['Reporting script']);
        const byUserText = (await call(admin.headers, 'GET', '/access-tokens?q=robot@')).json();
        expect(byUserText.items.map((i: { description: string }) => i.description)).toEqual([
          'by id',
          'nightly sync',
        ]);
        const byUser = (await call(admin.headers, 'GET', `/access-tokens?user=${ids.robot}`)).json();
        expect(byUser.items).toHaveLength(2);
        const first = (await call(admin.headers, 'GET', '/access-tokens?limit=2')).json();
        expect(first.items).toHaveLength(2);
        const second = (
          await call(admin.headers, 'GET', `/access-tokens?limit=2&cursor=${first.nextCursor}`)
        ).json();
        expect(second.items[0].id).toBeLessThan(first.items[1].id);
        const badCursor = await call(admin.headers, 'GET', '/access-tokens?cursor=zzz');
        expect(badCursor.statusCode).toBe(400);
        // Someone else's token is not there for the editor: 404, the same as a missing one.
        const robots = byUser.items[0].id;
        const hidden = await call(editor.headers, 'GET', `/access-tokens/${robots}`);
        expect(hidden.statusCode).toBe(404);
        expect(hidden.json()).toEqual({ error: 'not_found', message: `Access token ${robots} not found.` });
        expect((await call(editor.headers, 'GET', '/access-tokens/999999')).json()).toEqual({
          error: 'not_found',
          message: 'Access token 999999 not found.',
        });
      });

      it('shows last use; revoke is owner or manage_all and takes effect on the very next request', async () => {
        const { token, accessToken } = await create(editor, { description: 'to revoke', expiresInDays: 1 });
        const bearer = { authorization: `Bearer ${token}` };
        t.clock.advance(60_000);
        expect((await call(bearer, 'GET', '/me')).statusCode).toBe(200);
        const used = (await call(editor.headers, 'GET', `/access-tokens/${accessToken.id}`)).json();
        expect(used.lastUsedAt).toBe(t.clock.now().toISOString());

        const adminsToken = await create(admin, { description: 'admin only', expiresInDays: 1 });
        expect(
          (await call(editor.headers, 'POST', `/access-tokens/${adminsToken.accessToken.id}/revoke`))
            .statusCode,
        ).toBe(404);

        const revoked = await call(editor.headers, 'POST', `/access-tokens/${accessToken.id}/revoke`);
        expect(revoked.statusCode).toBe(200);
        expect(revoked.json()).toMatchObject({ status: 'revoked', revokedAt: t.clock.now().toISOString() });
        const next = await call(bearer, 'GET', '/me');
        expect(next.statusCode).toBe(401);
        expect(next.json()).toEqual({
          error: 'invalid_token',
          message: 'The access token is invalid, expired or revoked.',
        });
        // Revoking again changes nothing; active=true hides it.
        expect(
          (await call(editor.headers, 'POST', `/access-tokens/${accessToken.id}/revoke`)).json().status,
        ).toBe('revoked');
        const active = (await call(editor.headers, 'GET', '/access-tokens?active=true')).json();
        expect(active.items.map((i: { id: number }) => i.id)).not.toContain(accessToken.id);
        // manage_all revokes anyone's.
        const robots = (await call(admin.headers, 'GET', `/access-tokens?user=${ids.robot}`)).json().items[0];
        expect((await call(admin.headers, 'POST', `/access-tokens/${robots.id}/revoke`)).json().status).toBe(
          'revoked',
        );
        const events = (await t.services.audit.query({ action: 'developer_token.revoked' })).items;
        expect(events.map((e) => e.target?.id)).toEqual([String(robots.id), String(accessToken.id)]);
      });
    });

    it('last use is written to the store when the app closes', async () => {
      const node = await testApp(ts.store);
      const { token, accessToken } = await create(admin, { description: 'flushed', expiresInDays: 1 });
      expect(
        (
          await node.app.inject({
            method: 'GET',
            url: `${API}/me`,
            headers: { authorization: `Bearer ${token}` },
          })
        ).statusCode,
      ).toBe(200);
      const before = await ts.store.db
        .selectFrom('access_tokens')
        .select('last_used_at')
        .where('id', '=', accessToken.id)
        .executeTakeFirstOrThrow();
      expect(before.last_used_at).toBeNull();
      await node.app.close();
      const after = await ts.store.db
        .selectFrom('access_tokens')
        .select('last_used_at')
        .where('id', '=', accessToken.id)
        .executeTakeFirstOrThrow();
      expect(after.last_used_at).toBe(node.clock.now().toISOString());
    });

    describe('developer tokens call the admin API', () => {
      it('Bearer and X-DOMO-Developer-Token act as the user; writes need no CSRF token, cookies still do', async () => {
        const { token } = await create(admin, { description: 'automation', expiresInDays: 1 });
        const ways: Array<Record<string, string>> = [
          { authorization: `Bearer ${token}` },
          { 'x-domo-developer-token': token },
        ];
        for (const headers of ways) {
          const me = await call(headers, 'GET', '/me');
          expect(me.statusCode).toBe(200);
          expect(me.json().user.email).toBe('root@example.com');
          expect(me.json()).not.toHaveProperty('csrfToken');
        }
        const role = await call({ authorization: `Bearer ${token}` }, 'POST', '/roles', {
          name: 'Made by robot',
          grants: ['workflow.api'],
        });
        expect(role.statusCode).toBe(201);
        const event = (await t.services.audit.query({ action: 'role.created' })).items[0]!;
        expect(event.actor).toMatchObject({ type: 'user', id: String(ids.admin) });
        const noCsrf = await call({ cookie: admin.cookie }, 'POST', '/roles', { name: 'No csrf' });
        expect(noCsrf.statusCode).toBe(403);
        expect(noCsrf.json().error).toBe('csrf_failed');
        // An explicit header wins over the ambient cookie.
        const both = await call(
          { cookie: admin.cookie, authorization: `Bearer ${token}` },
          'POST',
          '/roles',
          { name: 'Both' },
        );
        expect(both.statusCode).toBe(201);
      });

      it('bad, unknown and non-developer bearer tokens get 401 invalid_token with WWW-Authenticate', async () => {
        const cases: Array<[Record<string, string>, string]> = [
          [
            { authorization: 'Bearer gh_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
            'The access token is invalid, expired or revoked.',
          ],
          [
            { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' },
            'The admin API takes a developer access token (gh_dev_...) or a signed-in session.',
          ],
          [{ authorization: 'Bearer' }, 'The Authorization header must be: Bearer <token>.'],
          [
            { 'x-domo-developer-token': 'nope' },
            'X-DOMO-Developer-Token takes a developer access token (gh_dev_...).',
          ],
        ];
        for (const [headers, message] of cases) {
          const res = await call({ ...headers, cookie: admin.cookie }, 'GET', '/me');
          expect(res.statusCode).toBe(401);
          expect(res.headers['www-authenticate']).toBe(
            `Bearer realm="gatehouse", error="invalid_token", error_description="${message}"`,
          );
          expect(res.json()).toEqual({ error: 'invalid_token', message });
        }
        const none = await call({}, 'GET', '/me');
        expect(none.statusCode).toBe(401);
        expect(none.json().error).toBe('unauthenticated');
      });

      it('uses the user’s live grants: a grant removed → 403 next call; user disabled → 401; expired → 401', async () => {
        await t.services.roles.create({ name: 'Auditors', grants: ['audit.view'] }, OPERATOR, CLI_ACTOR);
        const auditor = await t.services.users.create(
          { email: 'auditor@example.com', role: 'Auditors' },
          OPERATOR,
          CLI_ACTOR,
        );
        const { token } = await create(admin, {
          description: 'auditor bot',
          user: auditor.id,
          expiresInDays: 2,
        });
        const bearer = { authorization: `Bearer ${token}` };
        expect((await call(bearer, 'GET', '/audit')).statusCode).toBe(200);
        await t.services.roles.removeGrants('Auditors', ['audit.view'], OPERATOR, CLI_ACTOR);
        const denied = await call(bearer, 'GET', '/audit');
        expect(denied.statusCode).toBe(403);
        expect(denied.json().details).toEqual({ grant: 'audit.view' });
        await t.services.roles.addGrants('Auditors', ['audit.view'], OPERATOR, CLI_ACTOR);
        expect((await call(bearer, 'GET', '/audit')).statusCode).toBe(200);
        await t.services.users.disable(auditor.id, OPERATOR, CLI_ACTOR);
        expect((await call(bearer, 'GET', '/audit')).statusCode).toBe(401);
        await t.services.users.enable(auditor.id, OPERATOR, CLI_ACTOR);
        expect((await call(bearer, 'GET', '/audit')).statusCode).toBe(200);
        t.clock.advance(2 * DAY);
        expect((await call(bearer, 'GET', '/audit')).statusCode).toBe(401);
        t.clock.advance(-2 * DAY);
      });
    });
  });
}
