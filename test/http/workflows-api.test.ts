/**
 * The Workflows API over HTTP on both dialects: the guard's 401/403/404 table,
 * live permission changes, the /v1/workflows calls and the Domo-compatible ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import { checkResponses } from '../helpers/response-check.js';
import { testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const DEFINITION = {
  input: { type: 'object', properties: { n: { type: 'integer' } } },
  steps: [
    { id: 'double', type: 'set', values: { doubled: 'input.n * 2' } },
    { id: 'say', type: 'log', message: 'doubled to {{vars.doubled}}' },
  ],
};
const DOMO_KEYS = [
  'id',
  'modelId',
  'modelName',
  'modelVersion',
  'createdBy',
  'createdOn',
  'updatedBy',
  'updatedOn',
  'status',
];

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Workflows API (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let app: App;
    let engine: WorkflowEngine;
    const token: Record<string, string> = {};
    const userId: Record<string, number> = {};

    async function tokenFor(name: string, role: string, days: number | null = 30): Promise<void> {
      const user = await services.users.create({ email: `${name}@example.com`, role }, OPERATOR, CLI_ACTOR);
      userId[name] = user.id;
      const created = await services.accessTokens.create(
        {
          description: `${name}'s token`,
          user: user.id,
          ...(days === null ? { neverExpires: true } : { expiresInDays: days }),
        },
        OPERATOR,
        CLI_ACTOR,
      );
      token[name] = created.token;
    }

    const bearer = (name: string) => ({ authorization: `Bearer ${token[name]}` });

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: silentLogger(),
        instrument: checkResponses,
      });
      engine = new WorkflowEngine(services.ctx, { pollMs: 5 });
      services.workflows.attachEngine(engine);
      engine.start();
      await services.roles.create({ name: 'Automation', grants: ['workflow.api'] }, OPERATOR, CLI_ACTOR);
      await tokenFor('owner', 'Editor');
      await tokenFor('friend', 'Editor');
      await tokenFor('stranger', 'Editor');
      await tokenFor('admin', 'Admin', null);
      await tokenFor('reader', 'Participant');
      await tokenFor('robot', 'Automation');
    });
    afterAll(async () => {
      await engine?.stop();
      await app?.close();
      await ts?.dispose();
    });

    async function until(id: string, status: string): Promise<void> {
      for (;;) {
        if ((await services.workflows.getInstance(id, OPERATOR)).status === status) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }

    describe('401: missing, malformed, unknown, expired, revoked credentials', () => {
      it('no credentials: no error attribute', async () => {
        for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }]) {
          const res = await app.inject({ method: 'GET', url: '/v1/workflows', headers });
          expect(res.statusCode).toBe(401);
          expect(res.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
          expect(res.json()).toEqual({
            error: 'unauthenticated',
            message: 'Authentication required: send Authorization: Bearer <access token>.',
          });
        }
      });

      it.each([
        ['Bearer', 'The Authorization header must be: Bearer <token>.'],
        ['Bearer a b', 'The Authorization header must be: Bearer <token>.'],
        [
          'Bearer: gh_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          'The Authorization header must be: Bearer <token>.',
        ],
        ['bearer=abc', 'The Authorization header must be: Bearer <token>.'],
        [
          'Bearer gh_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          'The access token is invalid, expired or revoked.',
        ],
        [
          'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
          'The access token is invalid, expired or revoked.',
        ],
        ['Bearer not-a-token', 'The access token is invalid, expired or revoked.'],
      ])('%s → invalid_token', async (authorization, description) => {
        const res = await app.inject({ method: 'GET', url: '/v1/workflows', headers: { authorization } });
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe(
          `Bearer realm="gatehouse", error="invalid_token", error_description="${description}"`,
        );
        expect(res.json()).toEqual({ error: 'invalid_token', message: description });
      });

      it('an expired developer token', async () => {
        await tokenFor('shortlived', 'Editor', 1);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('shortlived') }))
            .statusCode,
        ).toBe(200);
        clock.advance(86_400_000);
        const res = await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('shortlived') });
        clock.advance(-86_400_000);
        expect(res.statusCode).toBe(401);
        expect(res.json().error).toBe('invalid_token');
      });

      it('a revoked developer token is refused on the very next request', async () => {
        await tokenFor('revokee', 'Editor');
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('revokee') })).statusCode,
        ).toBe(200);
        const [listed] = (await services.accessTokens.list({ user: userId.revokee }, OPERATOR)).items;
        await services.accessTokens.revoke(listed!.id, OPERATOR, CLI_ACTOR);
        const res = await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('revokee') });
        expect(res.statusCode).toBe(401);
        expect(res.json().error).toBe('invalid_token');
      });

      it('a disabled user’s token is refused on the next request, and works again once enabled', async () => {
        await tokenFor('leaver', 'Editor');
        await services.users.disable(userId.leaver!, OPERATOR, CLI_ACTOR);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('leaver') })).statusCode,
        ).toBe(401);
        await services.users.enable(userId.leaver!, OPERATOR, CLI_ACTOR);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('leaver') })).statusCode,
        ).toBe(200);
      });

      it('X-DOMO-Developer-Token carries a developer token; anything else in it is refused', async () => {
        const ok = await app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { 'x-domo-developer-token': token.owner! },
        });
        expect(ok.statusCode).toBe(200);
        const bad = await app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { 'x-domo-developer-token': 'eyJ.x.y' },
        });
        expect(bad.statusCode).toBe(401);
        expect(bad.json()).toEqual({
          error: 'invalid_token',
          message: 'X-DOMO-Developer-Token takes a developer access token (gh_dev_...).',
        });
      });

      it('credentials are checked before the body', async () => {
        const res = await app.inject({ method: 'POST', url: '/v1/workflows', payload: { nonsense: true } });
        expect(res.statusCode).toBe(401);
      });
    });

    describe('403: authenticated without the Workflow API grant', () => {
      it('names the missing grant', async () => {
        const res = await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('reader') });
        expect(res.statusCode).toBe(403);
        expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="workflow"');
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "workflow.api" (Workflow API).',
          details: { grant: 'workflow.api' },
        });
      });

      it('a grant removed from the role is honoured on the next request, and so is adding it back', async () => {
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('robot') })).statusCode,
        ).toBe(200);
        await services.roles.removeGrants('Automation', ['workflow.api'], OPERATOR, CLI_ACTOR);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('robot') })).statusCode,
        ).toBe(403);
        await services.roles.addGrants('Automation', ['workflow.api'], OPERATOR, CLI_ACTOR);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('robot') })).statusCode,
        ).toBe(200);
      });

      it('moving the user to a role without the grant is honoured on the next request', async () => {
        await tokenFor('mover', 'Editor');
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('mover') })).statusCode,
        ).toBe(200);
        await services.users.update(userId.mover!, { role: 'Participant' }, OPERATOR, CLI_ACTOR);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('mover') })).statusCode,
        ).toBe(403);
      });
    });

    describe('workflows, visibility and runs', () => {
      let workflowId: string;

      it('creates (201), refuses a bad definition naming the path (400, nothing stored), reads, lists', async () => {
        const bad = await app.inject({
          method: 'POST',
          url: '/v1/workflows',
          headers: bearer('owner'),
          payload: { name: 'Broken', definition: { steps: [{ type: 'http', url: 'ftp://x' }] } },
        });
        expect(bad.statusCode).toBe(400);
        expect(bad.json()).toMatchObject({
          error: 'validation_error',
          message:
            'Invalid workflow definition: definition.steps[0].url must start with http:// or https://.',
          details: { path: 'definition.steps[0].url' },
        });
        const created = await app.inject({
          method: 'POST',
          url: '/v1/workflows',
          headers: bearer('owner'),
          payload: { name: 'Double it', description: 'doubles n', definition: DEFINITION },
        });
        expect(created.statusCode).toBe(201);
        const body = created.json();
        workflowId = body.id;
        expect(body).toMatchObject({
          name: 'Double it',
          description: 'doubles n',
          version: 1,
          ownerId: userId.owner,
          sharedWith: [],
          createdBy: userId.owner,
        });
        const list = await app.inject({
          method: 'GET',
          url: '/v1/workflows?nameLike=double&limit=10&offset=0',
          headers: bearer('owner'),
        });
        expect(list.json().map((w: { name: string }) => w.name)).toEqual(['Double it']);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('owner') }))
            .json()
            .map((w: { name: string }) => w.name),
        ).toEqual(['Double it']);
      });

      it('404 is identical for a workflow that does not exist and one the caller may not see', async () => {
        const invisible = await app.inject({
          method: 'GET',
          url: `/v1/workflows/${workflowId}`,
          headers: bearer('stranger'),
        });
        expect(invisible.statusCode).toBe(404);
        expect(
          (await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer('stranger') })).json(),
        ).toEqual([]);
        const missingId = '00000000-0000-4000-8000-000000000000';
        const missing = await app.inject({
          method: 'GET',
          url: `/v1/workflows/${missingId}`,
          headers: bearer('stranger'),
        });
        expect(missing.statusCode).toBe(404);
        expect(invisible.json()).toEqual({
          error: 'not_found',
          message: `Workflow ${workflowId} not found.`,
        });
        expect(missing.json()).toEqual({ error: 'not_found', message: `Workflow ${missingId} not found.` });
        for (const [method, url] of [
          ['POST', `/v1/workflows/${workflowId}/execute`],
          ['GET', `/v1/workflows/${workflowId}/instances`],
          ['PUT', `/v1/workflows/${workflowId}/sharing`],
          ['DELETE', `/v1/workflows/${workflowId}`],
        ] as const) {
          const res = await app.inject({
            method,
            url,
            headers: bearer('stranger'),
            payload: method === 'PUT' ? { userIds: [] } : {},
          });
          expect(res.statusCode).toBe(404);
          expect(res.json()).toEqual(invisible.json());
        }
        // Admins see everything.
        expect(
          (await app.inject({ method: 'GET', url: `/v1/workflows/${workflowId}`, headers: bearer('admin') }))
            .statusCode,
        ).toBe(200);
      });

      it('sharing makes it visible to the shared-with user; only owner or Admin may change sharing', async () => {
        const shared = await app.inject({
          method: 'PUT',
          url: `/v1/workflows/${workflowId}/sharing`,
          headers: bearer('owner'),
          payload: { userIds: [userId.friend] },
        });
        expect(shared.statusCode).toBe(200);
        expect(shared.json().sharedWith).toEqual([userId.friend]);
        expect(
          (await app.inject({ method: 'GET', url: `/v1/workflows/${workflowId}`, headers: bearer('friend') }))
            .statusCode,
        ).toBe(200);
        // The list shows owned and shared workflows, and nothing else.
        const listed = async (who: Parameters<typeof bearer>[0]) =>
          (
            (
              await app.inject({ method: 'GET', url: '/v1/workflows', headers: bearer(who) })
            ).json() as Array<{ id: string }>
          ).map((w) => w.id);
        expect(await listed('friend')).toContain(workflowId);
        expect(await listed('owner')).toContain(workflowId);
        expect(await listed('stranger')).not.toContain(workflowId);
        const reshare = await app.inject({
          method: 'PUT',
          url: `/v1/workflows/${workflowId}/sharing`,
          headers: bearer('friend'),
          payload: { userIds: [userId.stranger] },
        });
        expect(reshare.statusCode).toBe(403);
      });

      it('executes (202), runs to COMPLETED, lists runs, reads logs; a new version does not change a run', async () => {
        const started = await app.inject({
          method: 'POST',
          url: `/v1/workflows/${workflowId}/execute`,
          headers: bearer('friend'),
          payload: { input: { n: 21 } },
        });
        expect(started.statusCode).toBe(202);
        const instance = started.json();
        expect(instance).toMatchObject({
          modelId: workflowId,
          modelName: 'Double it',
          modelVersion: '1.0.0',
          createdBy: userId.friend,
          version: 1,
          input: { n: 21 },
        });
        expect(['QUEUED', 'IN_PROGRESS', 'COMPLETED']).toContain(instance.status);
        const badInput = await app.inject({
          method: 'POST',
          url: `/v1/workflows/${workflowId}/execute`,
          headers: bearer('friend'),
          payload: { input: { n: 'x' } },
        });
        expect(badInput.statusCode).toBe(400);
        expect(badInput.json().message).toBe('Invalid input: input.n must be integer.');

        const updated = await app.inject({
          method: 'PUT',
          url: `/v1/workflows/${workflowId}`,
          headers: bearer('owner'),
          payload: { definition: { steps: [{ type: 'fail', message: 'v2' }] } },
        });
        expect(updated.json().version).toBe(2);
        await until(instance.id, 'COMPLETED');
        const done = (
          await app.inject({
            method: 'GET',
            url: `/v1/workflows/instances/${instance.id}`,
            headers: bearer('friend'),
          })
        ).json();
        expect(done).toMatchObject({
          status: 'COMPLETED',
          variables: { doubled: 42 },
          version: 1,
          stepsCompleted: 2,
        });
        const logs = await app.inject({
          method: 'GET',
          url: `/v1/workflows/instances/${instance.id}/logs?limit=1&offset=1`,
          headers: bearer('friend'),
        });
        expect(logs.json()).toMatchObject([
          { seq: 2, stepId: 'say', type: 'log', status: 'ok', message: 'doubled to 42' },
        ]);
        const runs = await app.inject({
          method: 'GET',
          url: `/v1/workflows/${workflowId}/instances`,
          headers: bearer('owner'),
        });
        expect(runs.json().map((r: { id: string }) => r.id)).toContain(instance.id);
        expect(
          (
            await app.inject({
              method: 'GET',
              url: `/v1/workflows/instances/${instance.id}`,
              headers: bearer('stranger'),
            })
          ).statusCode,
        ).toBe(404);
        const cancelDone = await app.inject({
          method: 'POST',
          url: `/v1/workflows/instances/${instance.id}/cancel`,
          headers: bearer('owner'),
        });
        expect(cancelDone.statusCode).toBe(409);
      });

      it('PUT stores a new version while a run is in flight; the run finishes on the version it started with', async () => {
        const created = await app.inject({
          method: 'POST',
          url: '/v1/workflows',
          headers: bearer('owner'),
          payload: {
            name: 'Versioned',
            definition: {
              steps: [
                { id: 'wait', type: 'delay', seconds: 60 },
                { id: 'mark', type: 'set', values: { ran: '"v1"' } },
              ],
            },
          },
        });
        const id = created.json().id;
        const run = (
          await app.inject({
            method: 'POST',
            url: `/v1/workflows/${id}/execute`,
            headers: bearer('owner'),
            payload: {},
          })
        ).json();
        for (;;) {
          const current = await services.workflows.getInstance(run.id, OPERATOR);
          if (current.stepsCompleted === 1) break;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const updated = await app.inject({
          method: 'PUT',
          url: `/v1/workflows/${id}`,
          headers: bearer('owner'),
          payload: { definition: { steps: [{ id: 'mark', type: 'set', values: { ran: '"v2"' } }] } },
        });
        expect(updated.statusCode).toBe(200);
        expect(updated.json()).toMatchObject({ version: 2, definition: { steps: [{ id: 'mark' }] } });
        clock.advance(60_000);
        await until(run.id, 'COMPLETED');
        clock.advance(-60_000);
        const finished = (
          await app.inject({
            method: 'GET',
            url: `/v1/workflows/instances/${run.id}`,
            headers: bearer('owner'),
          })
        ).json();
        expect(finished).toMatchObject({
          version: 1,
          modelVersion: '1.0.0',
          variables: { ran: 'v1' },
          stepsCompleted: 2,
        });
        const next = (
          await app.inject({
            method: 'POST',
            url: `/v1/workflows/${id}/execute`,
            headers: bearer('owner'),
            payload: {},
          })
        ).json();
        expect(next.version).toBe(2);
        await until(next.id, 'COMPLETED');
        expect((await services.workflows.getInstance(next.id, OPERATOR)).variables).toEqual({ ran: 'v2' });
      });

      it('Domo-compatible start, status and cancel with the exact response shape', async () => {
        await engine.stop();
        const started = await app.inject({
          method: 'POST',
          url: '/api/workflow/v1/instances/message',
          headers: bearer('owner'),
          payload: { messageName: 'Start Double it', version: '1.0.0', data: { n: 2 } },
        });
        expect(started.statusCode).toBe(200);
        const body = started.json();
        expect(Object.keys(body)).toEqual(DOMO_KEYS);
        expect(body).toEqual({
          id: body.id,
          modelId: workflowId,
          modelName: 'Double it',
          modelVersion: '1.0.0',
          createdBy: userId.owner,
          createdOn: clock.now().toISOString(),
          updatedBy: userId.owner,
          updatedOn: clock.now().toISOString(),
          status: 'QUEUED',
        });
        const status = await app.inject({
          method: 'GET',
          url: `/api/workflow/v1/instances/${body.id}`,
          headers: bearer('owner'),
        });
        expect(status.json()).toEqual(body);
        const canceled = await app.inject({
          method: 'POST',
          url: `/api/workflow/v1/instances/${body.id}/cancel`,
          headers: bearer('owner'),
        });
        expect(Object.keys(canceled.json())).toEqual(DOMO_KEYS);
        expect(canceled.json().status).toBe('CANCELED');

        const byModel = await app.inject({
          method: 'POST',
          url: '/api/workflow/v1/instances/message',
          headers: { 'x-domo-developer-token': token.owner! },
          payload: { messageName: 'Start anything', modelId: workflowId, data: { n: 1 } },
        });
        expect(byModel.json()).toMatchObject({
          modelId: workflowId,
          modelVersion: '2.0.0',
          status: 'QUEUED',
        });
        const unknown = await app.inject({
          method: 'POST',
          url: '/api/workflow/v1/instances/message',
          headers: bearer('stranger'),
          payload: { messageName: 'Start Double it', data: {} },
        });
        expect(unknown.statusCode).toBe(404);
        expect(
          (
            await app.inject({
              method: 'GET',
              url: `/api/workflow/v1/instances/${body.id}`,
              headers: bearer('stranger'),
            })
          ).statusCode,
        ).toBe(404);
      });

      it('delete: owner only (a shared-with user gets 403), then 404 for everyone', async () => {
        expect(
          (
            await app.inject({
              method: 'DELETE',
              url: `/v1/workflows/${workflowId}`,
              headers: bearer('friend'),
            })
          ).statusCode,
        ).toBe(403);
        expect(
          (
            await app.inject({
              method: 'DELETE',
              url: `/v1/workflows/${workflowId}`,
              headers: bearer('owner'),
            })
          ).statusCode,
        ).toBe(204);
        expect(
          (await app.inject({ method: 'GET', url: `/v1/workflows/${workflowId}`, headers: bearer('owner') }))
            .statusCode,
        ).toBe(404);
      });
    });
  });
}
