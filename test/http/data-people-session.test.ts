/**
 * The DataSets, Users and Groups APIs with the admin session cookie (how the admin UI's Data page
 * and Groups reach them), on both dialects, through the guard's BEARER_OR_SESSION surface: reads
 * with the cookie alone; writes refused with 403 csrf_failed and nothing changed unless the
 * session's X-CSRF-Token comes too; the grants still required; a forced password change refused;
 * the activity log still bearer-only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, TEST_PASSWORD, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
const CSRF_FAILED = {
  error: 'csrf_failed',
  message: 'Missing or invalid X-CSRF-Token header; send the csrfToken returned at sign-in.',
};

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(
    `DataSets, Users and Groups with the session cookie (${dialect.name})`,
    () => {
      let ts: TestStore;
      let t: TestApp;
      let admin: SignedIn;
      let reader: SignedIn;
      let readerId: number;
      let datasetId: string;
      let groupId: number;

      beforeAll(async () => {
        ts = await dialect.open();
        t = await testApp(ts.store);
        await createUser(t.services, 'boss@example.com', 'Admin');
        readerId = (await createUser(t.services, 'reader@example.com', 'Participant')).id;
        await createUser(t.services, 'social@example.com', 'Social');
        admin = await signIn(t.app, 'boss@example.com');
        reader = await signIn(t.app, 'reader@example.com');
      });
      afterAll(async () => {
        await t?.app.close();
        await ts?.dispose();
      });

      const call = (
        headers: Record<string, string>,
        method: Method,
        url: string,
        payload?: unknown,
        contentType?: string,
      ) =>
        t.app.inject({
          method,
          url,
          headers: contentType === undefined ? headers : { ...headers, 'content-type': contentType },
          ...(payload === undefined ? {} : { payload: payload as object }),
        });

      /** Everything a refused write could have changed. */
      const state = async () => ({
        datasets: await ts.store.db.selectFrom('datasets').selectAll().orderBy('id').execute(),
        groups: await ts.store.db.selectFrom('groups').selectAll().orderBy('id').execute(),
        members: await ts.store.db.selectFrom('group_members').selectAll().execute(),
        users: await t.services.users.count(),
        audit: (await t.services.audit.query({ limit: 200 })).items.length,
      });

      it('creates, imports, exports and reads a dataset with the cookie and the CSRF token', async () => {
        const created = await call(admin.headers, 'POST', '/v1/datasets', {
          name: 'Sessions',
          schema: { columns: [{ name: 'Region', type: 'STRING' }] },
        });
        expect(created.statusCode, created.body).toBe(201);
        datasetId = created.json().id;
        const imported = await call(
          admin.headers,
          'PUT',
          `/v1/datasets/${datasetId}/data`,
          'East\nWest\n',
          'text/csv',
        );
        expect(imported.statusCode, imported.body).toBe(204);
        const exported = await call(
          { cookie: admin.cookie },
          'GET',
          `/v1/datasets/${datasetId}/data?includeHeader=true`,
        );
        expect(exported.statusCode).toBe(200);
        expect(exported.body).toBe('Region\nEast\nWest\n');
        const listed = await call({ cookie: reader.cookie }, 'GET', '/v1/datasets');
        expect(listed.statusCode).toBe(200);
        expect(listed.json()).toMatchObject([{ id: datasetId, rows: 2 }]);
      });

      it('creates a group and changes its members with the cookie and the CSRF token', async () => {
        const created = await call(admin.headers, 'POST', '/v1/groups', { name: 'Readers' });
        expect(created.statusCode, created.body).toBe(201);
        groupId = created.json().id;
        expect((await call(admin.headers, 'PUT', `/v1/groups/${groupId}/users/${readerId}`)).statusCode).toBe(
          204,
        );
        const members = await call({ cookie: reader.cookie }, 'GET', `/v1/groups/${groupId}/users`);
        expect(members.json()).toEqual([readerId]);
        const users = await call({ cookie: reader.cookie }, 'GET', '/v1/users?limit=1');
        expect(users.statusCode).toBe(200);
      });

      it('refuses every write without the CSRF token (or with a wrong one) and changes nothing', async () => {
        const writes: Array<[Method, string, unknown, string?]> = [
          ['POST', '/v1/datasets', { name: 'Forged', schema: { columns: [{ name: 'A', type: 'STRING' }] } }],
          ['PUT', `/v1/datasets/${datasetId}`, { name: 'Renamed' }],
          ['PUT', `/v1/datasets/${datasetId}/data`, 'Forged\n', 'text/csv'],
          ['DELETE', `/v1/datasets/${datasetId}`, undefined],
          ['POST', '/v1/groups', { name: 'Forged' }],
          ['PUT', `/v1/groups/${groupId}`, { name: 'Renamed' }],
          ['DELETE', `/v1/groups/${groupId}/users/${readerId}`, undefined],
          ['DELETE', `/v1/groups/${groupId}`, undefined],
          ['POST', '/v1/users', { email: 'forged@example.com' }],
          ['DELETE', `/v1/users/${readerId}`, undefined],
        ];
        const before = await state();
        for (const [method, url, body, contentType] of writes) {
          const attempts: Array<Record<string, string>> = [
            { cookie: admin.cookie },
            { cookie: admin.cookie, 'x-csrf-token': reader.csrfToken },
          ];
          for (const headers of attempts) {
            const res = await call(headers, method, url, body, contentType);
            expect(res.statusCode, `${method} ${url}`).toBe(403);
            expect(res.json()).toEqual(CSRF_FAILED);
          }
        }
        expect(await state()).toEqual(before);
      });

      it('still needs the grants: data.manage to write data, data.view to read it, users.manage to change groups', async () => {
        const social = await signIn(t.app, 'social@example.com');
        const before = await state();
        const write = await call(reader.headers, 'PUT', `/v1/datasets/${datasetId}`, { name: 'Mine' });
        expect(write.statusCode).toBe(403);
        expect(write.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "data.manage" (Manage Data).',
          details: { grant: 'data.manage' },
        });
        const group = await call(reader.headers, 'POST', '/v1/groups', { name: 'Mine' });
        expect(group.statusCode).toBe(403);
        expect(group.json().details).toEqual({ grant: 'users.manage' });
        const read = await call({ cookie: social.cookie }, 'GET', '/v1/datasets');
        expect(read.statusCode).toBe(403);
        expect(read.json().details).toEqual({ grant: 'data.view' });
        expect(await state()).toEqual(before);
      });

      it('refuses a signed-in user who must change their password first', async () => {
        await t.services.users.create(
          { email: 'fresh@example.com', role: 'Admin', password: TEST_PASSWORD, mustChangePassword: true },
          OPERATOR,
          CLI_ACTOR,
        );
        const fresh = await signIn(t.app, 'fresh@example.com');
        for (const url of ['/v1/datasets', '/v1/groups', '/v1/users']) {
          const res = await call({ cookie: fresh.cookie }, 'GET', url);
          expect(res.statusCode, url).toBe(403);
          expect(res.json().error).toBe('password_change_required');
        }
      });

      it('answers 401 for an unknown session, and keeps the activity log bearer-only', async () => {
        const unknown = await call({ cookie: 'gatehouse_session=nonsense' }, 'GET', '/v1/datasets');
        expect(unknown.statusCode).toBe(401);
        expect(unknown.json().error).toBe('unauthenticated');
        const audit = await call({ cookie: admin.cookie }, 'GET', '/v1/audit?start=0');
        expect(audit.statusCode).toBe(401);
      });
    },
  );
}
