/**
 * Run lists by cursor on both dialects: GET /v1/workflows/{id}/instances keeps answering Domo's
 * array and names the next page in a `Link` header; following it lists every run once, in the
 * order offset paging gives, across runs created in the same millisecond; offset is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { MAX_INSTANCE_OFFSET } from '../../src/services/workflows.js';
import { asPrincipal, testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`workflow run pages (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let app: App;
    let token: string;
    let workflowId: string;
    const RUNS = 23;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: silentLogger(),
      });
      const user = await services.users.create(
        { email: 'owner@example.com', role: 'Editor' },
        OPERATOR,
        CLI_ACTOR,
      );
      token = (
        await services.accessTokens.create(
          { description: 'runs', user: user.id, expiresInDays: 30 },
          OPERATOR,
          CLI_ACTOR,
        )
      ).token;
      workflowId = (
        await services.workflows.create(
          { name: 'paged', definition: { steps: [{ id: 'hi', type: 'log', message: 'hi' }] } },
          await asPrincipal(services, user),
          CLI_ACTOR,
        )
      ).id;
      // No engine: the runs stay queued. Five to a millisecond, so pages end inside a run of equal times.
      for (let i = 0; i < RUNS; i++) {
        if (i % 5 === 0) clock.advance(1);
        await services.workflows.start(workflowId, { input: {} }, OPERATOR, CLI_ACTOR);
      }
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    const get = (url: string) =>
      app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

    it('follows Link rel="next" through every run once, in the offset order, and stops on the last page', async () => {
      const all = (await get(`/v1/workflows/${workflowId}/instances?limit=500`)).json() as Array<{
        id: string;
        createdOn: string;
      }>;
      expect(all).toHaveLength(RUNS);
      const createdOn = all.map((r) => r.createdOn);
      expect(createdOn).toEqual([...createdOn].sort().reverse());
      expect((await get(`/v1/workflows/${workflowId}/instances?limit=500`)).headers.link).toBeUndefined();

      const seen: string[] = [];
      let url: string | undefined = `/v1/workflows/${workflowId}/instances?limit=4`;
      let pages = 0;
      while (url !== undefined) {
        const res = await get(url);
        expect(res.statusCode).toBe(200);
        const body = res.json() as Array<{ id: string }>;
        expect(Array.isArray(body)).toBe(true);
        seen.push(...body.map((r) => r.id));
        const link = res.headers.link as string | undefined;
        if (link === undefined) break;
        const match =
          /^<(\/v1\/workflows\/[^>]+\/instances\?limit=4&cursor=[A-Za-z0-9_-]+)>; rel="next"$/.exec(link);
        expect(match, link).not.toBeNull();
        url = match![1];
        pages++;
      }
      expect(pages).toBe(5);
      expect(seen).toEqual(all.map((r) => r.id));

      // The service gives the same pages with nextCursor.
      const first = await services.workflows.pageInstances(workflowId, OPERATOR, { limit: 10 });
      const second = await services.workflows.pageInstances(workflowId, OPERATOR, {
        limit: 10,
        cursor: first.nextCursor!,
      });
      expect([...first.items, ...second.items].map((r) => r.id)).toEqual(all.slice(0, 20).map((r) => r.id));
      // offset still works as before.
      const byOffset = (await get(`/v1/workflows/${workflowId}/instances?limit=3&offset=7`)).json() as Array<{
        id: string;
      }>;
      expect(byOffset.map((r) => r.id)).toEqual(all.slice(7, 10).map((r) => r.id));
    });

    it('answers an offset past the bound, a cursor with an offset, or a foreign cursor with 400', async () => {
      const tooDeep = await get(`/v1/workflows/${workflowId}/instances?offset=${MAX_INSTANCE_OFFSET + 1}`);
      expect(tooDeep.statusCode).toBe(400);
      expect(tooDeep.json()).toMatchObject({
        error: 'validation_error',
        message: `"offset" must be at most ${MAX_INSTANCE_OFFSET}; page further with "cursor" (the next page's cursor is in the Link header).`,
      });
      expect(
        (await get(`/v1/workflows/${workflowId}/instances?offset=${MAX_INSTANCE_OFFSET}`)).json(),
      ).toEqual([]);
      const page = await services.workflows.pageInstances(workflowId, OPERATOR, { limit: 2 });
      const both = await get(`/v1/workflows/${workflowId}/instances?offset=2&cursor=${page.nextCursor}`);
      expect(both.statusCode).toBe(400);
      expect(both.json()).toMatchObject({ message: 'Give "cursor" or "offset", not both.' });
      const foreign = await get(`/v1/workflows/${workflowId}/instances?cursor=abc`);
      expect(foreign.statusCode).toBe(400);
      expect(foreign.json()).toMatchObject({ message: '"cursor" is not a cursor this list returned.' });
    });
  });
}
