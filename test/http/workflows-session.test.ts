/**
 * The Workflows API with the admin session cookie (how the admin UI reaches workflows), on both
 * dialects: reads with the cookie alone; every write (create, update, delete, sharing, execute,
 * cancel, and Domo's start and cancel) refused with 403 csrf_failed and nothing changed unless the
 * session's X-CSRF-Token comes too; the grant still required; an ended session, a forced password
 * change and an explicit Authorization header handled as on the admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, TEST_PASSWORD, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const DEFINITION = { steps: [{ id: 'say', type: 'log', message: 'hello' }] };
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Workflows API with the session cookie (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let editor: SignedIn;
    let workflowId: string;
    let runId: string;

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store);
      await createUser(t.services, 'ed@example.com', 'Editor');
      await createUser(t.services, 'reader@example.com', 'Participant');
      editor = await signIn(t.app, 'ed@example.com');
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const call = (headers: Record<string, string>, method: Method, url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url,
        headers,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });

    /** Everything a write could have changed. */
    const state = async () => ({
      workflows: await ts.store.db.selectFrom('workflows').selectAll().orderBy('id').execute(),
      runs: await ts.store.db
        .selectFrom('workflow_instances')
        .select(['id', 'status'])
        .orderBy('id')
        .execute(),
      audit: (await t.services.audit.query({ limit: 200 })).items.length,
    });

    it('creates, runs and reads with the cookie and the CSRF token', async () => {
      const created = await call(editor.headers, 'POST', '/v1/workflows', {
        name: 'Hello',
        definition: DEFINITION,
      });
      expect(created.statusCode, created.body).toBe(201);
      workflowId = created.json().id;
      const run = await call(editor.headers, 'POST', `/v1/workflows/${workflowId}/execute`, { input: {} });
      expect(run.statusCode, run.body).toBe(202);
      runId = run.json().id;
      expect(run.json().status).toBe('QUEUED');
      // Reads need only the cookie, as the admin API's do.
      const list = await call({ cookie: editor.cookie }, 'GET', '/v1/workflows');
      expect(list.statusCode).toBe(200);
      expect((list.json() as Array<{ id: string }>).map((w) => w.id)).toEqual([workflowId]);
      for (const url of [
        `/v1/workflows/${workflowId}`,
        `/v1/workflows/${workflowId}/instances`,
        `/v1/workflows/instances/${runId}`,
        `/v1/workflows/instances/${runId}/logs`,
        `/api/workflow/v1/instances/${runId}`,
      ]) {
        expect((await call({ cookie: editor.cookie }, 'GET', url)).statusCode, url).toBe(200);
      }
      const events = await t.services.audit.query({ action: 'workflow.created', limit: 1 });
      expect(events.items[0]?.actor).toMatchObject({ type: 'user', label: 'ed@example.com' });
    });

    it('refuses every write without the CSRF token (or with a wrong one) and changes nothing', async () => {
      const writes: Array<[Method, string, unknown]> = [
        ['POST', '/v1/workflows', { name: 'Forged', definition: DEFINITION }],
        ['PUT', `/v1/workflows/${workflowId}`, { name: 'Renamed' }],
        ['DELETE', `/v1/workflows/${workflowId}`, undefined],
        ['PUT', `/v1/workflows/${workflowId}/sharing`, { userIds: [] }],
        ['POST', `/v1/workflows/${workflowId}/execute`, { input: {} }],
        ['POST', `/v1/workflows/instances/${runId}/cancel`, undefined],
        ['POST', '/api/workflow/v1/instances/message', { modelId: workflowId, data: {} }],
        ['POST', `/api/workflow/v1/instances/${runId}/cancel`, undefined],
      ];
      const before = await state();
      for (const [method, url, body] of writes) {
        const attempts: Array<Record<string, string>> = [
          { cookie: editor.cookie },
          { cookie: editor.cookie, 'x-csrf-token': 'forged' },
        ];
        for (const headers of attempts) {
          const res = await call(headers, method, url, body);
          expect(res.statusCode, `${method} ${url}`).toBe(403);
          expect(res.json()).toEqual({
            error: 'csrf_failed',
            message: 'Missing or invalid X-CSRF-Token header; send the csrfToken returned at sign-in.',
          });
        }
      }
      expect(await state()).toEqual(before);
    });

    it('does not take another session’s CSRF token', async () => {
      await createUser(t.services, 'other@example.com', 'Editor');
      const other = await signIn(t.app, 'other@example.com');
      const res = await call(
        { cookie: editor.cookie, 'x-csrf-token': other.csrfToken },
        'POST',
        `/v1/workflows/${workflowId}/execute`,
        {},
      );
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toBe('csrf_failed');
    });

    it('cancels with the CSRF token', async () => {
      const res = await call(editor.headers, 'POST', `/v1/workflows/instances/${runId}/cancel`);
      expect(res.statusCode).toBe(200);
      expect(res.json().status).toBe('CANCELED');
    });

    it('still needs the grant workflow.api', async () => {
      const reader = await signIn(t.app, 'reader@example.com');
      const res = await call({ cookie: reader.cookie }, 'GET', '/v1/workflows');
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({
        error: 'insufficient_scope',
        message: 'The token\'s user lacks the grant "workflow.api" (Workflow API).',
        details: { grant: 'workflow.api' },
      });
    });

    it('answers 401 for an unknown or ended session', async () => {
      const unknown = await call({ cookie: 'gatehouse_session=nonsense' }, 'GET', '/v1/workflows');
      expect(unknown.statusCode).toBe(401);
      expect(unknown.json().error).toBe('unauthenticated');
      const leaving = await signIn(t.app, 'ed@example.com');
      const out = await t.app.inject({
        method: 'DELETE',
        url: '/api/admin/v1/session',
        headers: leaving.headers,
      });
      expect(out.statusCode).toBe(204);
      const after = await call({ cookie: leaving.cookie }, 'GET', '/v1/workflows');
      expect(after.statusCode).toBe(401);
    });

    it('refuses a signed-in user who must change their password first', async () => {
      await t.services.users.create(
        { email: 'fresh@example.com', role: 'Editor', password: TEST_PASSWORD, mustChangePassword: true },
        OPERATOR,
        CLI_ACTOR,
      );
      const fresh = await signIn(t.app, 'fresh@example.com');
      const res = await call({ cookie: fresh.cookie }, 'GET', '/v1/workflows');
      expect(res.statusCode).toBe(403);
      expect(res.json().error).toBe('password_change_required');
    });

    it('lets an explicit Authorization header win over the cookie (no CSRF token needed for it)', async () => {
      const robot = await createUser(t.services, 'robot@example.com', 'Editor');
      const { token } = await t.services.accessTokens.create(
        { description: 'robot', user: robot.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const res = await call(
        { cookie: editor.cookie, authorization: `Bearer ${token}` },
        'POST',
        '/v1/workflows',
        { name: 'Robot’s', definition: DEFINITION },
      );
      expect(res.statusCode).toBe(201);
      expect(res.json().ownerId).toBe(robot.id);
    });
  });
}
