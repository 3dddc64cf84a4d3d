/**
 * Workflows shared with groups (issue 15), over HTTP on both dialects: `PUT /v1/workflows/{id}/sharing`
 * with `groupIds`; membership is read at each request (removed from the group: 404 on the next call;
 * added: visible at once); a deleted group's share is gone; a client that sends only `userIds`
 * keeps the group shares; bad group ids are a 400 that changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { checkResponses } from '../helpers/response-check.js';
import { testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const DEFINITION = { steps: [{ id: 'say', type: 'log', message: 'hello' }] };

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Workflows shared with groups (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let app: App;
    const token: Record<string, string> = {};
    const userId: Record<string, number> = {};
    let workflowId: string;
    let analysts: number;
    let auditors: number;

    async function tokenFor(name: string, role: string): Promise<void> {
      const user = await services.users.create({ email: `${name}@example.com`, role }, OPERATOR, CLI_ACTOR);
      userId[name] = user.id;
      const created = await services.accessTokens.create(
        { description: `${name}'s token`, user: user.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      token[name] = created.token;
    }

    const call = (who: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token[who]}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
    const sees = async (who: string): Promise<boolean> => {
      const one = await call(who, 'GET', `/v1/workflows/${workflowId}`);
      const listed = ((await call(who, 'GET', '/v1/workflows')).json() as Array<{ id: string }>).map(
        (w) => w.id,
      );
      // The single read and the list agree, whatever the answer.
      expect(listed.includes(workflowId), who).toBe(one.statusCode === 200);
      if (one.statusCode !== 200) expect(one.statusCode, who).toBe(404);
      return one.statusCode === 200;
    };
    const share = (payload: unknown, who = 'owner') =>
      call(who, 'PUT', `/v1/workflows/${workflowId}/sharing`, payload);

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: silentLogger(),
        instrument: checkResponses,
      });
      await tokenFor('owner', 'Editor');
      await tokenFor('member', 'Editor');
      await tokenFor('outsider', 'Editor');
      await tokenFor('friend', 'Editor');
      await tokenFor('admin', 'Admin');
      const created = await call('owner', 'POST', '/v1/workflows', {
        name: 'Shared by group',
        definition: DEFINITION,
      });
      expect(created.statusCode, created.body).toBe(201);
      workflowId = created.json().id;
      expect(created.json()).toMatchObject({ sharedWith: [], sharedWithGroups: [] });
      // Groups are made and filled through Domo's Groups API.
      analysts = (await call('admin', 'POST', '/v1/groups', { name: 'Analysts' })).json().id;
      auditors = (await call('admin', 'POST', '/v1/groups', { name: 'Auditors' })).json().id;
      expect((await call('admin', 'PUT', `/v1/groups/${analysts}/users/${userId.member}`)).statusCode).toBe(
        204,
      );
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    it("a group's members see the workflow, run it, and nobody else does; the share is audited", async () => {
      expect(await sees('member')).toBe(false);
      const shared = await share({ groupIds: [auditors, analysts, analysts] });
      expect(shared.statusCode, shared.body).toBe(200);
      expect(shared.json()).toMatchObject({
        id: workflowId,
        sharedWith: [],
        sharedWithGroups: [analysts, auditors].sort((a, b) => a - b),
      });
      expect(await sees('member')).toBe(true);
      expect(await sees('outsider')).toBe(false);
      expect(await sees('owner')).toBe(true);
      const run = await call('member', 'POST', `/v1/workflows/${workflowId}/execute`, {});
      expect(run.statusCode, run.body).toBe(202);
      // Shared both directly and through a group: listed once.
      await call('admin', 'PUT', `/v1/groups/${auditors}/users/${userId.member}`);
      expect((await share({ userIds: [userId.member] })).statusCode).toBe(200);
      const mine = ((await call('member', 'GET', '/v1/workflows')).json() as Array<{ id: string }>).filter(
        (w) => w.id === workflowId,
      );
      expect(mine).toHaveLength(1);
      await call('admin', 'DELETE', `/v1/groups/${auditors}/users/${userId.member}`);
      expect((await share({ userIds: [] })).statusCode).toBe(200);
      // A member of a group is not its owner: changing the sharing stays the owner's or an Admin's.
      expect((await share({ groupIds: [] }, 'member')).statusCode).toBe(403);
      const events = await services.audit.query({
        action: 'workflow.shared',
        targetId: workflowId,
        limit: 10,
      });
      expect(events.items.map((e) => e.details)).toEqual([
        { userIds: [] },
        { userIds: [userId.member] },
        { groupIds: [analysts, auditors].sort((a, b) => a - b) },
      ]);
    });

    it('membership is read at each request: removed from the group, the next call is a 404; added, visible at once', async () => {
      expect(await sees('member')).toBe(true);
      expect(
        (await call('admin', 'DELETE', `/v1/groups/${analysts}/users/${userId.member}`)).statusCode,
      ).toBe(204);
      expect(await sees('member')).toBe(false);
      expect((await call('member', 'POST', `/v1/workflows/${workflowId}/execute`, {})).statusCode).toBe(404);
      expect((await call('admin', 'PUT', `/v1/groups/${analysts}/users/${userId.outsider}`)).statusCode).toBe(
        204,
      );
      expect(await sees('outsider')).toBe(true);
      expect((await call('admin', 'PUT', `/v1/groups/${analysts}/users/${userId.member}`)).statusCode).toBe(
        204,
      );
      expect(await sees('member')).toBe(true);
    });

    it('a client sending only userIds keeps the groups, and only groupIds keeps the users', async () => {
      const users = await share({ userIds: [userId.friend] });
      expect(users.json()).toMatchObject({
        sharedWith: [userId.friend],
        sharedWithGroups: [analysts, auditors].sort((a, b) => a - b),
      });
      expect(await sees('member')).toBe(true);
      const groups = await share({ groupIds: [analysts] });
      expect(groups.json()).toMatchObject({ sharedWith: [userId.friend], sharedWithGroups: [analysts] });
      expect(await sees('friend')).toBe(true);
      const get = await call('friend', 'GET', `/v1/workflows/${workflowId}`);
      expect(get.json()).toMatchObject({ sharedWith: [userId.friend], sharedWithGroups: [analysts] });
    });

    it('bad group ids are a 400 naming the field (unknown ones by id) and change nothing', async () => {
      const before = (await call('owner', 'GET', `/v1/workflows/${workflowId}`)).json();
      const cases: Array<[unknown, Record<string, unknown>]> = [
        [
          { groupIds: [analysts, 987654, 987653] },
          {
            error: 'validation_error',
            message: 'Unknown group ids: 987653, 987654.',
            details: { field: 'groupIds', unknown: [987653, 987654] },
          },
        ],
        [
          { groupIds: [0] },
          {
            error: 'validation_error',
            message: '"groupIds" must be a list of at most 1000 group ids.',
            details: { field: 'groupIds' },
          },
        ],
        [
          { groupIds: [2 ** 40] },
          {
            error: 'validation_error',
            message: '"groupIds" must be a list of at most 1000 group ids.',
            details: { field: 'groupIds' },
          },
        ],
        [
          {},
          {
            error: 'validation_error',
            message: 'Give "userIds", "groupIds" or both.',
            details: { field: 'userIds' },
          },
        ],
        [
          { userIds: [userId.member], groupIds: [987654] },
          {
            error: 'validation_error',
            message: 'Unknown group ids: 987654.',
            details: { field: 'groupIds', unknown: [987654] },
          },
        ],
      ];
      for (const [payload, expected] of cases) {
        const res = await share(payload);
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json(), JSON.stringify(payload)).toEqual(expected);
      }
      for (const payload of [{ groupIds: 'x' }, { groupIds: ['1'] }, { groupIds: null }]) {
        const res = await share(payload);
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json().details.field, JSON.stringify(payload)).toMatch(/^groupIds/);
      }
      expect((await call('owner', 'GET', `/v1/workflows/${workflowId}`)).json()).toEqual(before);
    });

    it('a deleted group leaves the sharing, and its members lose access', async () => {
      expect(await sees('outsider')).toBe(true);
      expect((await call('admin', 'DELETE', `/v1/groups/${analysts}`)).statusCode).toBe(204);
      expect(await sees('outsider')).toBe(false);
      expect(await sees('member')).toBe(false);
      expect((await call('owner', 'GET', `/v1/workflows/${workflowId}`)).json()).toMatchObject({
        sharedWith: [userId.friend],
        sharedWithGroups: [],
      });
      // A deleted workflow is gone for a group's members too.
      expect((await share({ groupIds: [auditors] })).statusCode).toBe(200);
      await call('admin', 'PUT', `/v1/groups/${auditors}/users/${userId.member}`);
      expect(await sees('member')).toBe(true);
      expect((await call('owner', 'DELETE', `/v1/workflows/${workflowId}`)).statusCode).toBe(204);
      expect(await sees('member')).toBe(false);
    });
  });
}
