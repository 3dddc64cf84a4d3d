/**
 * The audit trail of the admin API, on both dialects: every admin write and every
 * sign-in (success, failure, sign-out) leaves exactly the events it should, with
 * the acting user, the source IP and the target; refused writes leave none; and no
 * password, client secret, developer token, session cookie or CSRF token ever
 * appears in an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/services/audit.js';
import { createUser, type SignedIn, signIn, TEST_PASSWORD, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1';
const IP = '203.0.113.7';

interface Step {
  name: string;
  method: 'POST' | 'PATCH' | 'DELETE';
  url: string | (() => string);
  body?: unknown;
  status: number;
  /** The new events, oldest first: [action, target type, target id] (no target: just [action]). */
  events: ReadonlyArray<readonly [string, string?, (string | (() => string))?]>;
  /** Whose session: 'admin' (default), 'none' (no cookie). */
  as?: 'admin' | 'none';
  after?: (body: Record<string, unknown>) => void;
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`audit trail of the admin API (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let admin: SignedIn;
    let adminId: number;
    let userId = 0;
    let roleId = 0;
    let clientId = '';
    let tokenId = 0;
    /** Every secret the flow handled; none may appear in the audit log. */
    const secrets: string[] = [TEST_PASSWORD, 'a wrong password!'];

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store, { config: { trustProxy: true } });
      adminId = (await createUser(t.services, 'root@example.com', 'Admin')).id;
      await createUser(t.services, 'spare@example.com', 'Admin');
      admin = await signIn(t.app, 'root@example.com');
      secrets.push(admin.cookie.split('=')[1]!, admin.csrfToken);
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const newestId = async () => (await t.services.audit.query({ limit: 1 })).items[0]?.id ?? 0;
    const eventsAfter = async (id: number): Promise<AuditEvent[]> =>
      (await t.services.audit.query({ limit: 200 })).items.filter((e) => e.id > id).reverse();

    const steps: Step[] = [
      {
        name: 'failed sign-in',
        method: 'POST',
        url: '/session',
        body: { email: 'root@example.com', password: 'a wrong password!' },
        as: 'none',
        status: 401,
        // No target: a failed sign-in does not say whether the account exists; details keep the email tried.
        events: [['session.failed']],
      },
      {
        name: 'sign-in',
        method: 'POST',
        url: '/session',
        body: { email: 'root@example.com', password: TEST_PASSWORD },
        as: 'none',
        status: 200,
        events: [['session.created', 'user', () => String(adminId)]],
        after: (body) => secrets.push(String(body.csrfToken)),
      },
      {
        name: 'create user',
        method: 'POST',
        url: '/users',
        body: { email: 'new@example.com', role: 'Editor', password: 'initial password 1' },
        status: 201,
        events: [['user.created', 'user', () => String(userId)]],
        after: (body) => {
          userId = Number(body.id);
          secrets.push('initial password 1');
        },
      },
      {
        name: 'update user',
        method: 'PATCH',
        url: () => `/users/${userId}`,
        body: { displayName: 'New Person' },
        status: 200,
        events: [['user.updated', 'user', () => String(userId)]],
      },
      {
        name: 'reset password (generated)',
        method: 'POST',
        url: () => `/users/${userId}/password`,
        body: {},
        status: 200,
        events: [['user.password_changed', 'user', () => String(userId)]],
        after: (body) => secrets.push(String(body.password)),
      },
      {
        name: 'disable user',
        method: 'POST',
        url: () => `/users/${userId}/disable`,
        status: 200,
        events: [['user.disabled', 'user', () => String(userId)]],
      },
      {
        name: 'enable user',
        method: 'POST',
        url: () => `/users/${userId}/enable`,
        status: 200,
        events: [['user.enabled', 'user', () => String(userId)]],
      },
      {
        name: 'create role',
        method: 'POST',
        url: '/roles',
        body: { name: 'Auditors', grants: ['audit.view'] },
        status: 201,
        events: [['role.created', 'role', () => String(roleId)]],
        after: (body) => {
          roleId = Number(body.id);
        },
      },
      {
        name: 'rename role',
        method: 'PATCH',
        url: () => `/roles/${roleId}`,
        body: { name: 'Log readers' },
        status: 200,
        events: [['role.renamed', 'role', () => String(roleId)]],
      },
      {
        name: 'add grants',
        method: 'POST',
        url: () => `/roles/${roleId}/grants`,
        body: { grants: ['data.view'] },
        status: 200,
        events: [['role.grant_added', 'role', () => String(roleId)]],
      },
      {
        name: 'remove a grant',
        method: 'DELETE',
        url: () => `/roles/${roleId}/grants/data.view`,
        status: 200,
        events: [['role.grant_removed', 'role', () => String(roleId)]],
      },
      {
        name: 'delete role',
        method: 'DELETE',
        url: () => `/roles/${roleId}`,
        status: 204,
        events: [['role.deleted', 'role', () => String(roleId)]],
      },
      {
        name: 'copy a system role',
        method: 'POST',
        url: '/roles/Editor/copy',
        body: { name: 'Editors 2' },
        status: 201,
        events: [['role.copied', 'role', () => String(roleId)]],
        after: (body) => {
          roleId = Number(body.id);
        },
      },
      {
        name: 'create API client',
        method: 'POST',
        url: '/clients',
        body: { name: 'Nightly export', scopes: ['data'] },
        status: 201,
        events: [['api_client.created', 'api_client', () => clientId]],
        after: (body) => {
          clientId = String(body.client_id);
          secrets.push(String(body.client_secret));
        },
      },
      {
        name: 'rotate client secret',
        method: 'POST',
        url: () => `/clients/${clientId}/rotate-secret`,
        body: {},
        status: 200,
        events: [['api_client.secret_rotated', 'api_client', () => clientId]],
        after: (body) => secrets.push(String(body.client_secret)),
      },
      {
        name: 'revoke client',
        method: 'POST',
        url: () => `/clients/${clientId}/revoke`,
        status: 200,
        events: [['api_client.revoked', 'api_client', () => clientId]],
      },
      {
        name: 'create developer token',
        method: 'POST',
        url: '/access-tokens',
        body: { description: 'CI', expiresInDays: 30 },
        status: 201,
        events: [['developer_token.created', 'developer_token', () => String(tokenId)]],
        after: (body) => {
          tokenId = Number((body.accessToken as { id: number }).id);
          secrets.push(String(body.token));
        },
      },
      {
        name: 'revoke developer token',
        method: 'POST',
        url: () => `/access-tokens/${tokenId}/revoke`,
        status: 200,
        events: [['developer_token.revoked', 'developer_token', () => String(tokenId)]],
      },
      {
        name: 'change own password',
        method: 'POST',
        url: '/me/password',
        body: { currentPassword: TEST_PASSWORD, newPassword: 'my next password 2' },
        status: 204,
        events: [['user.password_changed', 'user', () => String(adminId)]],
        after: () => secrets.push('my next password 2'),
      },
      {
        name: 'sign out',
        method: 'DELETE',
        url: '/session',
        status: 204,
        events: [['session.deleted', 'user', () => String(adminId)]],
      },
    ];

    it('writes the right events, by the signed-in user from their IP, for every admin write and sign-in', async () => {
      for (const step of steps) {
        const before = await newestId();
        const res = await t.app.inject({
          method: step.method,
          url: `${API}${typeof step.url === 'string' ? step.url : step.url()}`,
          headers: { ...(step.as === 'none' ? {} : admin.headers), 'x-forwarded-for': IP },
          ...(step.body === undefined ? {} : { payload: step.body as object }),
        });
        expect({ step: step.name, status: res.statusCode }, res.body).toEqual({
          step: step.name,
          status: step.status,
        });
        const body = res.body === '' ? {} : (res.json() as Record<string, unknown>);
        step.after?.(body);
        if (step.name === 'sign-in') {
          // Later steps act with the new session (the password change ends the others).
          const cookie = `gatehouse_session=${res.cookies.find((c) => c.name === 'gatehouse_session')!.value}`;
          admin = {
            cookie,
            csrfToken: String(body.csrfToken),
            headers: { cookie, 'x-csrf-token': String(body.csrfToken) },
          };
          secrets.push(cookie.split('=')[1]!);
        }
        const events = await eventsAfter(before);
        expect({
          step: step.name,
          events: events.map((e) => [e.action, e.target?.type, e.target?.id]),
        }).toEqual({
          step: step.name,
          events: step.events.map(([action, type, id]) => [
            action,
            type,
            typeof id === 'function' ? id() : id,
          ]),
        });
        for (const event of events) {
          expect({ step: step.name, ip: event.ip }).toEqual({ step: step.name, ip: IP });
          if (step.name === 'failed sign-in') {
            expect([event.actor, event.details]).toEqual([
              { type: 'system', id: null, label: null },
              { email: 'root@example.com' },
            ]);
          } else {
            expect({ step: step.name, actor: event.actor }).toMatchObject({
              step: step.name,
              actor: { type: 'user', id: String(adminId) },
            });
          }
        }
      }
    });

    it('writes no event for a refused write (bad input, missing grant, CSRF failure)', async () => {
      const before = await newestId();
      const attempts = [
        {
          method: 'POST' as const,
          url: '/users',
          payload: { email: 'root@EXAMPLE.com' },
          headers: admin.headers,
        },
        {
          method: 'POST' as const,
          url: '/roles',
          payload: { name: 'X', grants: ['nope'] },
          headers: admin.headers,
        },
        {
          method: 'POST' as const,
          url: '/roles/Admin/grants',
          payload: { grants: ['data.view'] },
          headers: admin.headers,
        },
        { method: 'POST' as const, url: '/roles', payload: { name: 'Y' }, headers: { cookie: admin.cookie } },
      ];
      const signedIn = await signIn(t.app, 'root@example.com', 'my next password 2');
      const statuses = [];
      for (const attempt of attempts) {
        const headers = attempt.headers === admin.headers ? signedIn.headers : { cookie: signedIn.cookie };
        statuses.push((await t.app.inject({ ...attempt, url: `${API}${attempt.url}`, headers })).statusCode);
      }
      expect(statuses).toEqual([409, 400, 403, 403]);
      expect((await eventsAfter(before)).map((e) => e.action)).toEqual(['session.created']);
    });

    it('never records a password, secret, token, cookie or CSRF token', async () => {
      const all = JSON.stringify((await t.services.audit.query({ limit: 200 })).items);
      expect(secrets.length).toBeGreaterThan(10);
      for (const secret of secrets) {
        expect(secret.length).toBeGreaterThanOrEqual(12);
        expect(all.includes(secret), `audit log contains a secret: ${secret.slice(0, 4)}…`).toBe(false);
      }
      expect(all).not.toMatch(
        /"(password|newPassword|currentPassword|client_secret|clientSecret|secret|token)":/,
      );
    });

    it('filters by a user’s email as actor or target, the way the admin UI asks', async () => {
      const reader = await signIn(t.app, 'spare@example.com');
      const get = (query: string) =>
        t.app.inject({ method: 'GET', url: `${API}/audit?${query}`, headers: reader.headers });
      const ids = (res: { json: () => unknown }) =>
        (res.json() as { items: AuditEvent[] }).items.map((e) => e.id);
      const byEmail = await get('actorId=root%40example.com&limit=200');
      expect(byEmail.statusCode).toBe(200);
      expect(ids(byEmail).length).toBeGreaterThan(3);
      expect(ids(byEmail)).toEqual(ids(await get(`actorType=user&actorId=${adminId}&limit=200`)));
      expect(ids(await get('actorType=user&actorId=ROOT%40example.com&limit=200'))).toEqual(ids(byEmail));
      const target = await get('targetType=user&targetId=root%40example.com');
      expect(ids(target)).toEqual(ids(await get(`targetType=user&targetId=${adminId}`)));
      const unknown = await get('actorId=nobody%40example.com');
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json()).toEqual({
        error: 'validation_error',
        message: 'Unknown user "nobody@example.com".',
        details: { field: 'actorId' },
      });
      // A client id is never taken for an email.
      const client = await get('actorType=client&actorId=a%40b');
      expect(client.statusCode).toBe(200);
      expect(ids(client)).toEqual([]);
    });

    it('drops secret-looking keys from details even if a service passed them', async () => {
      await ts.store.transaction((tx) =>
        t.services.audit.record(tx, {
          actor: { type: 'system' },
          action: 'test.scrubbed',
          details: {
            name: 'kept',
            password: 'p',
            nested: {
              clientSecret: 's',
              Authorization: 'Bearer x',
              sessionCookie: 'c',
              tokenHash: 'h',
              note: 'kept too',
            },
          },
        }),
      );
      const [event] = (await t.services.audit.query({ action: 'test.scrubbed' })).items;
      expect(event!.details).toEqual({ name: 'kept', nested: { note: 'kept too' } });
    });
  });
}
