/**
 * Personalized data permissions over HTTP on both stores: policy CRUD with exact bodies (Domo's
 * shapes, as domo-sdk's PDPClient sends them), who may write, bad input that changes nothing, and
 * what exports and queries show each caller once `pdpEnabled` is on — the union of their policies (as a user
 * and through groups), nothing without a policy, everything for the owner and Admins, the same
 * through a client token as for its owner — and what deleting a user, a group or the DataSet does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { TokenHolders } from '../helpers/token-holders.js';
import { basic } from '../helpers/oauth.js';
import { checkResponses } from '../helpers/response-check.js';
import { testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const SCHEMA = {
  columns: [
    { name: 'Region', type: 'STRING' },
    { name: 'Units', type: 'LONG' },
    { name: 'Day', type: 'DATE' },
  ],
};
const ROWS = [
  'East,10,2026-01-01',
  'West,20,2026-02-01',
  'North,30,2026-03-01',
  'East,40,',
  ',50,2026-05-01',
];
const CSV = `${ROWS.join('\n')}\n`;
const HEADER = 'Region,Units,Day\n';
const csvOf = (...rows: string[]) => rows.map((r) => `${r}\n`).join('');

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`DataSet PDP policies (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let app: App;
    let groupId: number;

    const holders = new TokenHolders(() => services);
    const { userId } = holders;
    const tokenFor = (name: string, role: string) => holders.add(name, role);
    const bearer = (name: string) => holders.bearer(name);

    async function createDataset(name: string, who = 'owner') {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: bearer(who),
        payload: { name, schema: SCHEMA },
      });
      expect(res.statusCode, res.body).toBe(201);
      const id = (res.json() as { id: string }).id;
      const upload = await app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}/data`,
        headers: { ...bearer(who), 'content-type': 'text/csv' },
        payload: CSV,
      });
      expect(upload.statusCode, upload.body).toBe(204);
      return id;
    }

    const policies = (id: string) => `/v1/datasets/${id}/policies`;
    async function createPolicy(id: string, body: unknown, who = 'owner') {
      const res = await app.inject({
        method: 'POST',
        url: policies(id),
        headers: bearer(who),
        payload: body as object,
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: number };
    }
    async function exported(id: string, who: string | Record<string, string>, includeHeader = true) {
      const res = await app.inject({
        method: 'GET',
        url: `/v1/datasets/${id}/data?includeHeader=${includeHeader}`,
        headers: typeof who === 'string' ? bearer(who) : who,
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
      return res.body;
    }
    async function queried(id: string, who: string | Record<string, string>, sql: string) {
      const res = await app.inject({
        method: 'POST',
        url: `/v1/datasets/query/execute/${id}`,
        headers: typeof who === 'string' ? bearer(who) : who,
        payload: { sql },
      });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as { rows: unknown[][] }).rows;
    }
    const auditActions = async (id: string) =>
      (await services.audit.query({ targetType: 'dataset', targetId: id })).items
        .map((e) => e.action)
        .reverse();

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      await services.keys.prepare();
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: silentLogger(),
        instrument: checkResponses,
      });
      await services.roles.create(
        { name: 'Client reader', grants: ['data.view', 'api.clients.create'] },
        OPERATOR,
        CLI_ACTOR,
      );
      await tokenFor('owner', 'Privileged');
      await tokenFor('admin', 'Admin');
      await tokenFor('editor', 'Editor'); // data.manage, but not the owner
      await tokenFor('alice', 'Client reader');
      await tokenFor('bob', 'Participant');
      await tokenFor('carol', 'Participant');
      const group = await services.groups.create({ name: 'Northerners' }, OPERATOR, CLI_ACTOR);
      groupId = group.id;
      await services.groups.addMember(groupId, userId.bob!, CLI_ACTOR);
      await services.groups.addMember(groupId, userId.alice!, CLI_ACTOR);
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    it('create (201), list, get, update, delete (204) with Domo\u2019s bodies; pdpEnabled turns on; every write audited', async () => {
      const id = await createDataset('CRUD');
      expect((await services.datasets.get(id)).pdpEnabled).toBe(false);
      // Domo's documented create: no `type`, no `not`, no `groups`.
      const created = await app.inject({
        method: 'POST',
        url: policies(id),
        headers: bearer('owner'),
        payload: {
          name: 'Only East',
          filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS' }],
          users: [userId.alice, userId.carol, userId.alice],
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const policy = created.json() as { id: number };
      expect(policy).toEqual({
        id: policy.id,
        type: 'user',
        name: 'Only East',
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: false }],
        users: [userId.alice, userId.carol].sort((a, b) => a! - b!),
        groups: [],
      });
      expect(Number.isInteger(policy.id)).toBe(true);
      expect((await services.datasets.get(id)).pdpEnabled).toBe(true);

      // domo-sdk's PDPClient shape: every field, `not` given, column named in another case.
      const second = await createPolicy(id, {
        name: 'Units',
        type: 'system',
        users: [],
        groups: [groupId],
        filters: [{ column: 'units', values: ['20', '40'], operator: 'BETWEEN', not: true }],
      });
      const secondBody = {
        id: second.id,
        type: 'system',
        name: 'Units',
        filters: [{ column: 'Units', values: ['20', '40'], operator: 'BETWEEN', not: true }],
        users: [],
        groups: [groupId],
      };

      const list = await app.inject({ method: 'GET', url: policies(id), headers: bearer('carol') });
      expect(list.statusCode).toBe(200);
      expect(list.json()).toEqual([created.json(), secondBody]);
      const got = await app.inject({
        method: 'GET',
        url: `${policies(id)}/${second.id}`,
        headers: bearer('bob'),
      });
      expect(got.statusCode).toBe(200);
      expect(got.json()).toEqual(secondBody);

      // Domo's documented update: name and filters; users and groups stay.
      const updated = await app.inject({
        method: 'PUT',
        url: `${policies(id)}/${policy.id}`,
        headers: bearer('admin'),
        payload: {
          name: 'Not East',
          filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: true }],
        },
      });
      expect(updated.statusCode, updated.body).toBe(200);
      expect(updated.json()).toEqual({
        ...(created.json() as object),
        name: 'Not East',
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: true }],
      });
      const members = await app.inject({
        method: 'PUT',
        url: `${policies(id)}/${policy.id}`,
        headers: bearer('owner'),
        payload: { users: [], groups: [groupId], type: 'system' },
      });
      expect(members.statusCode, members.body).toBe(200);
      expect(members.json()).toMatchObject({
        users: [],
        groups: [groupId],
        type: 'system',
        name: 'Not East',
      });

      const deleted = await app.inject({
        method: 'DELETE',
        url: `${policies(id)}/${policy.id}`,
        headers: bearer('owner'),
      });
      expect(deleted.statusCode).toBe(204);
      expect(deleted.body).toBe('');
      const gone = await app.inject({
        method: 'GET',
        url: `${policies(id)}/${policy.id}`,
        headers: bearer('owner'),
      });
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toEqual({ error: 'not_found', message: `Policy ${policy.id} not found.` });
      expect(
        (await app.inject({ method: 'GET', url: policies(id), headers: bearer('owner') })).json(),
      ).toEqual([secondBody]);
      // Deleting the last policy leaves PDP on (fail closed).
      await app.inject({ method: 'DELETE', url: `${policies(id)}/${second.id}`, headers: bearer('owner') });
      expect((await services.datasets.get(id)).pdpEnabled).toBe(true);

      expect(await auditActions(id)).toEqual([
        'dataset.created',
        'dataset.data_replaced',
        'dataset.policy_created',
        'dataset.policy_created',
        'dataset.policy_updated',
        'dataset.policy_updated',
        'dataset.policy_deleted',
        'dataset.policy_deleted',
      ]);
      const first = (
        await services.audit.query({ targetType: 'dataset', targetId: id, action: 'dataset.policy_created' })
      ).items.at(-1);
      expect(first?.details).toEqual({
        policyId: policy.id,
        name: 'Only East',
        type: 'user',
        filters: 1,
        users: 2,
        groups: 0,
        pdpEnabled: true,
      });
    });

    it('PUT /v1/datasets/{id} sets pdpEnabled (audited); a non-boolean is a 400', async () => {
      const id = await createDataset('Toggle');
      const on = await app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}`,
        headers: bearer('owner'),
        payload: { pdpEnabled: true },
      });
      expect(on.statusCode, on.body).toBe(200);
      expect(on.json()).toMatchObject({ id, name: 'Toggle', pdpEnabled: true });
      // On, with no policy: only the owner and Admins see rows.
      expect(await exported(id, 'carol')).toBe(HEADER);
      expect(await exported(id, 'carol', false)).toBe('');
      const off = await app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}`,
        headers: bearer('admin'),
        payload: { pdpEnabled: false },
      });
      expect(off.json()).toMatchObject({ pdpEnabled: false });
      expect(await exported(id, 'carol')).toBe(HEADER + CSV);
      const bad = await app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}`,
        headers: bearer('owner'),
        payload: { pdpEnabled: 'yes' },
      });
      expect(bad.statusCode).toBe(400);
      const notOwner = await app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}`,
        headers: bearer('editor'),
        payload: { pdpEnabled: true },
      });
      expect(notOwner.statusCode).toBe(403);
      expect((await services.datasets.get(id)).pdpEnabled).toBe(false);
      const events = await services.audit.query({
        targetType: 'dataset',
        targetId: id,
        action: 'dataset.updated',
      });
      expect(events.items.map((e) => e.details)).toEqual([{ pdpEnabled: false }, { pdpEnabled: true }]);
    });

    it('exports and queries show each caller the union of their policies (as a user and through groups); none without; all for owner and Admin', async () => {
      const id = await createDataset('Export');
      // alice: East (as a user) and Units ≥ 30 (through the group, with bob).
      await createPolicy(id, {
        name: 'East',
        users: [userId.alice],
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: false }],
      });
      await createPolicy(id, {
        name: 'Big, dated',
        groups: [groupId],
        filters: [
          { column: 'Units', values: ['30'], operator: 'GREATER_THAN_EQUAL', not: false },
          { column: 'Day', values: ['2026-04-01'], operator: 'LESS_THAN', not: false },
        ],
      });
      expect(await exported(id, 'alice')).toBe(HEADER + csvOf(ROWS[0]!, ROWS[2]!, ROWS[3]!));
      expect(await exported(id, 'bob')).toBe(HEADER + csvOf(ROWS[2]!));
      expect(await exported(id, 'carol')).toBe(HEADER);
      expect(await exported(id, 'carol', false)).toBe('');
      expect(await exported(id, 'owner')).toBe(HEADER + CSV);
      expect(await exported(id, 'admin')).toBe(HEADER + CSV);
      // An Editor may manage data but does not own this DataSet: their policies apply (none).
      expect(await exported(id, 'editor', false)).toBe('');

      // A client token acts for its owner: alice's client sees alice's rows.
      const issued = await services.clients.create(
        { name: 'alice client', scopes: ['data'], owner: 'alice@example.com' },
        CLI_ACTOR,
      );
      const tokenRes = await app.inject({
        method: 'GET',
        url: '/oauth/token?grant_type=client_credentials&scope=data',
        headers: { authorization: basic(issued.clientId, issued.clientSecret) },
      });
      expect(tokenRes.statusCode, tokenRes.body).toBe(200);
      const client = { authorization: `Bearer ${tokenRes.json().access_token}` };
      expect(await exported(id, client)).toBe(HEADER + csvOf(ROWS[0]!, ROWS[2]!, ROWS[3]!));

      // Queries see the same rows: `table` is the caller's rows only, in every copy of it.
      const sql = 'select Region, Units from table order by Units';
      const aliceRows = [
        ['East', 10],
        ['North', 30],
        ['East', 40],
      ];
      expect(await queried(id, 'alice', sql)).toEqual(aliceRows);
      expect(await queried(id, client, sql)).toEqual(aliceRows);
      expect(await queried(id, 'bob', sql)).toEqual([['North', 30]]);
      expect(await queried(id, 'carol', sql)).toEqual([]);
      expect(await queried(id, 'carol', 'select count(*) from table')).toEqual([[0]]);
      expect(await queried(id, 'owner', 'select count(*) from table')).toEqual([[5]]);
      expect(await queried(id, 'admin', 'select sum(Units) from table')).toEqual([[150]]);
      expect(
        await queried(id, 'alice', 'select count(*) from table a cross join table b where a.Units < b.Units'),
      ).toEqual([[3]]);

      // A policy without filters allows every row.
      await createPolicy(id, { name: 'All rows', type: 'system', users: [userId.carol], filters: [] });
      expect(await exported(id, 'carol')).toBe(HEADER + CSV);

      // Off again: everyone with data.view reads every row.
      await services.datasets.update(id, { pdpEnabled: false }, OPERATOR, CLI_ACTOR);
      expect(await exported(id, 'bob')).toBe(HEADER + CSV);
    });

    it('policies follow users, groups and columns: a removed member, a deleted group or user drops out; a renamed column is renamed in the filters', async () => {
      const id = await createDataset('Lifecycle');
      const byGroup = await createPolicy(id, {
        name: 'Group',
        groups: [groupId],
        filters: [{ column: 'Region', values: ['North'], operator: 'EQUALS', not: false }],
      });
      const temp = await services.users.create(
        { email: 'temp@example.com', displayName: 'temp', role: 'Participant' },
        OPERATOR,
        CLI_ACTOR,
      );
      const tempGroup = await services.groups.create({ name: 'Temporary' }, OPERATOR, CLI_ACTOR);
      await services.groups.addMember(tempGroup.id, userId.carol!, CLI_ACTOR);
      const byUser = await createPolicy(id, {
        name: 'Users',
        users: [temp.id, userId.carol],
        groups: [tempGroup.id],
        filters: [{ column: 'Region', values: ['West'], operator: 'EQUALS', not: false }],
      });
      expect(await exported(id, 'bob', false)).toBe(csvOf(ROWS[2]!));
      expect(await exported(id, 'carol', false)).toBe(csvOf(ROWS[1]!));

      await services.groups.removeMember(groupId, userId.bob!, CLI_ACTOR);
      expect(await exported(id, 'bob', false)).toBe('');
      await services.groups.addMember(groupId, userId.bob!, CLI_ACTOR);

      await services.groups.delete(tempGroup.id, CLI_ACTOR);
      await services.users.delete(temp.id, OPERATOR, CLI_ACTOR);
      const after = await app.inject({
        method: 'GET',
        url: `${policies(id)}/${byUser.id}`,
        headers: bearer('owner'),
      });
      expect(after.json()).toMatchObject({ users: [userId.carol], groups: [] });

      // Renaming the column in place renames it in the filters: the policy keeps working.
      await services.datasets.update(
        id,
        { schema: { columns: [{ name: 'Area', type: 'STRING' }, SCHEMA.columns[1], SCHEMA.columns[2]] } },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(await exported(id, 'bob', false)).toBe(csvOf(ROWS[2]!));
      const renamed = await app.inject({
        method: 'GET',
        url: `${policies(id)}/${byGroup.id}`,
        headers: bearer('bob'),
      });
      expect(renamed.json()).toMatchObject({
        filters: [{ column: 'Area', values: ['North'], operator: 'EQUALS', not: false }],
      });
      const events = await services.audit.query({
        targetType: 'dataset',
        targetId: id,
        action: 'dataset.updated',
      });
      expect(events.items[0]?.details).toEqual({ schema: 'renamed', columns: 3, policiesRenamed: 2 });
    });

    it('deleting the DataSet deletes its policies', async () => {
      const id = await createDataset('Doomed');
      await createPolicy(id, { name: 'p', users: [userId.alice], groups: [groupId], filters: [] });
      const res = await app.inject({ method: 'DELETE', url: `/v1/datasets/${id}`, headers: bearer('owner') });
      expect(res.statusCode).toBe(204);
      const left = await ts.store.db
        .selectFrom('dataset_policies')
        .select('id')
        .where('dataset_id', '=', id)
        .execute();
      expect(left).toEqual([]);
      const list = await app.inject({ method: 'GET', url: policies(id), headers: bearer('owner') });
      expect(list.statusCode).toBe(404);
      expect(list.json()).toEqual({ error: 'not_found', message: `DataSet ${id} not found.` });
    });

    it('bad input is a 4xx naming the problem and changes nothing', async () => {
      const id = await createDataset('Refusals');
      const kept = await createPolicy(id, { name: 'Kept', users: [userId.alice], filters: [] });
      const otherId = await createDataset('Elsewhere');
      const foreign = await createPolicy(otherId, { name: 'Foreign', filters: [] });
      const before = await auditActions(id);
      const good = { column: 'Units', values: ['1'], operator: 'EQUALS', not: false };
      const cases: Array<[string, string, unknown, number, unknown]> = [
        [
          'POST',
          policies(id),
          { name: 'x', filters: [{ ...good, column: 'Nope' }] },
          400,
          {
            error: 'validation_error',
            message: '"filters[0].column": the DataSet has no column "Nope".',
            details: { field: 'filters[0].column', column: 'Nope' },
          },
        ],
        [
          'POST',
          policies(id),
          { name: 'x', filters: [{ ...good, operator: 'NEAR' }] },
          400,
          {
            error: 'validation_error',
            message:
              '"filters[0].operator" must be one of EQUALS, LIKE, GREATER_THAN, LESS_THAN, GREATER_THAN_EQUAL, LESS_THAN_EQUAL, BETWEEN, BEGINS_WITH, ENDS_WITH, CONTAINS.',
            details: {
              field: 'filters[0].operator',
              allowed: [
                'EQUALS',
                'LIKE',
                'GREATER_THAN',
                'LESS_THAN',
                'GREATER_THAN_EQUAL',
                'LESS_THAN_EQUAL',
                'BETWEEN',
                'BEGINS_WITH',
                'ENDS_WITH',
                'CONTAINS',
              ],
            },
          },
        ],
        [
          'POST',
          policies(id),
          { name: 'x', filters: [{ ...good, values: ['ten'] }] },
          400,
          {
            error: 'validation_error',
            message: '"filters[0].values[0]": "ten" is not a whole number for column "Units" (LONG).',
            details: {
              field: 'filters[0].values[0]',
              column: 'Units',
              type: 'LONG',
              value: 'ten',
              reason: 'not a whole number',
            },
          },
        ],
        [
          'POST',
          policies(id),
          { name: 'x', users: [userId.alice, 999_999, 888_888], filters: [good] },
          400,
          {
            error: 'validation_error',
            message: '"users": no user has the id 888888, 999999.',
            details: { field: 'users', unknown: [888_888, 999_999] },
          },
        ],
        [
          'POST',
          policies(id),
          { name: 'x', groups: [groupId, 777_777], filters: [good] },
          400,
          {
            error: 'validation_error',
            message: '"groups": no group has the id 777777.',
            details: { field: 'groups', unknown: [777_777] },
          },
        ],
        [
          'POST',
          policies(id),
          { name: '  ', filters: [] },
          400,
          {
            error: 'validation_error',
            message: '"name" must be 1–200 characters without control characters.',
            details: { field: 'name' },
          },
        ],
        [
          'POST',
          policies(id),
          { name: 'x', type: 'group', filters: [] },
          400,
          {
            error: 'validation_error',
            message: '"type" must be one of user, system.',
            details: { field: 'type', allowed: ['user', 'system'] },
          },
        ],
        [
          'PUT',
          `${policies(id)}/${kept.id}`,
          {},
          400,
          {
            error: 'validation_error',
            message: 'Nothing to update: give name, type, users, groups or filters.',
          },
        ],
        [
          'PUT',
          `${policies(id)}/${kept.id}`,
          { name: 'renamed', filters: [{ ...good, values: ['1', '2'], operator: 'LESS_THAN' }] },
          400,
          {
            error: 'validation_error',
            message: '"filters[0].values": LESS_THAN takes one value.',
            details: { field: 'filters[0].values' },
          },
        ],
        [
          'PUT',
          `${policies(id)}/${kept.id}`,
          { name: 'renamed', users: [999_999] },
          400,
          {
            error: 'validation_error',
            message: '"users": no user has the id 999999.',
            details: { field: 'users', unknown: [999_999] },
          },
        ],
        [
          'GET',
          `${policies(id)}/999999`,
          undefined,
          404,
          { error: 'not_found', message: 'Policy 999999 not found.' },
        ],
        // A policy of another DataSet is not found through this one.
        [
          'GET',
          `${policies(id)}/${foreign.id}`,
          undefined,
          404,
          { error: 'not_found', message: `Policy ${foreign.id} not found.` },
        ],
        [
          'PUT',
          `${policies(id)}/${foreign.id}`,
          { name: 'stolen' },
          404,
          { error: 'not_found', message: `Policy ${foreign.id} not found.` },
        ],
        [
          'DELETE',
          `${policies(id)}/${foreign.id}`,
          undefined,
          404,
          { error: 'not_found', message: `Policy ${foreign.id} not found.` },
        ],
        [
          'POST',
          policies('00000000-0000-4000-8000-000000000000'),
          { name: 'x', filters: [] },
          404,
          { error: 'not_found', message: 'DataSet 00000000-0000-4000-8000-000000000000 not found.' },
        ],
      ];
      for (const [method, url, payload, status, body] of cases) {
        const res = await app.inject({
          method: method as 'GET',
          url,
          headers: bearer('owner'),
          ...(payload === undefined ? {} : { payload: payload as object }),
        });
        expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload)}: ${res.body}`).toBe(status);
        expect(res.json(), `${method} ${url}`).toEqual(body);
      }
      // JSON types are the schema's: a string id, a number value, a policy id past any row.
      for (const [method, url, payload] of [
        ['POST', policies(id), { name: 'x', users: ['1'], filters: [] }],
        ['POST', policies(id), { name: 'x', filters: [{ ...good, values: [1] }] }],
        ['POST', policies(id), { name: 'x' }],
        ['POST', policies(id), { name: 'x', filters: [], extra: true }],
        ['GET', `${policies(id)}/99999999999`, undefined],
        ['GET', `${policies(id)}/abc`, undefined],
      ] as const) {
        const res = await app.inject({
          method,
          url,
          headers: bearer('owner'),
          ...(payload === undefined ? {} : { payload }),
        });
        expect(res.statusCode, `${method} ${url} ${res.body}`).toBe(400);
        expect(res.json().error).toBe('validation_error');
      }
      // Writes need data.manage and the DataSet's owner or an Admin.
      for (const [who, status, error] of [
        ['bob', 403, 'insufficient_scope'],
        ['editor', 403, 'forbidden'],
      ] as const) {
        for (const [method, url] of [
          ['POST', policies(id)],
          ['PUT', `${policies(id)}/${kept.id}`],
          ['DELETE', `${policies(id)}/${kept.id}`],
        ] as const) {
          const res = await app.inject({
            method,
            url,
            headers: bearer(who),
            ...(method === 'DELETE' ? {} : { payload: { name: 'mine', filters: [] } }),
          });
          expect(res.statusCode, `${who} ${method}`).toBe(status);
          expect(res.json().error).toBe(error);
        }
      }
      const editorRes = await app.inject({
        method: 'DELETE',
        url: `${policies(id)}/${kept.id}`,
        headers: bearer('editor'),
      });
      expect(editorRes.json()).toEqual({
        error: 'forbidden',
        message: "Only the DataSet's owner or an Admin may change its policies.",
        details: { dataset: id },
      });

      expect(
        (await app.inject({ method: 'GET', url: policies(id), headers: bearer('owner') })).json(),
      ).toEqual([
        { id: kept.id, type: 'user', name: 'Kept', filters: [], users: [userId.alice], groups: [] },
      ]);
      expect(await auditActions(id)).toEqual(before);
    });
  });
}
