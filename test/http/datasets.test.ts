/**
 * The DataSets API over HTTP on both dialects: scope and grant refusals, the metadata calls with
 * exact bodies, CSV import (REPLACE, APPEND, gzip, a bad value anywhere rejecting the whole
 * upload with the dataset unchanged) and export with and without a header.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { TokenHolders } from '../helpers/token-holders.js';
import { basic } from '../helpers/oauth.js';
import { checkResponses } from '../helpers/response-check.js';
import { testServices } from '../helpers/services.js';
import { openStore } from '../../src/store/index.js';
import { dialects, PG_URL, type TestStore } from '../helpers/stores.js';

const SCHEMA = {
  columns: [
    { name: 'Region', type: 'STRING' },
    { name: 'Units', type: 'LONG' },
    { name: 'Amount', type: 'DECIMAL' },
    { name: 'Ratio', type: 'DOUBLE' },
    { name: 'Day', type: 'DATE' },
    { name: 'At', type: 'DATETIME' },
  ],
};
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`DataSets API (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let app: App;
    let clock: ManualClock;

    const holders = new TokenHolders(() => services);
    const { userId } = holders;
    const tokenFor = (name: string, role: string) => holders.add(name, role);
    const bearer = (name: string) => holders.bearer(name);

    async function clientToken(scopes: string[], owner: string): Promise<string> {
      const issued = await services.clients.create(
        { name: `client ${scopes.join(' ')} ${owner}`, scopes, owner: `${owner}@example.com` },
        CLI_ACTOR,
      );
      const res = await app.inject({
        method: 'GET',
        url: `/oauth/token?grant_type=client_credentials&scope=${scopes.join('%20')}`,
        headers: { authorization: basic(issued.clientId, issued.clientSecret) },
      });
      expect(res.statusCode, res.body).toBe(200);
      return `Bearer ${res.json().access_token}`;
    }

    async function create(name: string, who = 'editor', schema: unknown = SCHEMA) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: bearer(who),
        payload: { name, description: `${name} rows`, rows: 0, schema },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: string; [key: string]: unknown };
    }

    const upload = (id: string, csv: string | Buffer, query = '', headers: Record<string, string> = {}) =>
      app.inject({
        method: 'PUT',
        url: `/v1/datasets/${id}/data${query}`,
        headers: { ...bearer('editor'), 'content-type': 'text/csv', ...headers },
        payload: csv,
      });
    const exportCsv = (id: string, query = '') =>
      app.inject({ method: 'GET', url: `/v1/datasets/${id}/data${query}`, headers: bearer('reader') });

    beforeAll(async () => {
      ts = await dialect.open();
      // A small upload limit, so the 413 case needs no large body.
      ({ services, clock } = await testServices(ts.store, { config: { datasetMaxUploadBytes: 65_536 } }));
      await services.keys.prepare();
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: silentLogger(),
        instrument: checkResponses,
      });
      await services.roles.create({ name: 'Auditor', grants: ['audit.view'] }, OPERATOR, CLI_ACTOR);
      await services.roles.create(
        { name: 'Client reader', grants: ['data.view', 'api.clients.create'] },
        OPERATOR,
        CLI_ACTOR,
      );
      // Privileged: data.view, data.manage and api.clients.create (so it may own clients).
      await tokenFor('editor', 'Privileged');
      await tokenFor('other', 'Editor');
      await tokenFor('reader', 'Participant');
      await tokenFor('clientReader', 'Client reader');
      await tokenFor('auditor', 'Auditor');
      await tokenFor('admin', 'Admin');
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    describe('scopes and grants', () => {
      it('no credentials → 401; a role without data.view → 403 naming the grant', async () => {
        expect((await app.inject({ method: 'GET', url: '/v1/datasets' })).statusCode).toBe(401);
        const res = await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer('auditor') });
        expect(res.statusCode).toBe(403);
        expect(res.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="data"');
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "data.view" (View Data).',
          details: { grant: 'data.view' },
        });
      });

      it('data.view reads but does not write (data.manage), before the body is read', async () => {
        expect(
          (await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer('reader') })).statusCode,
        ).toBe(200);
        const res = await app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: bearer('reader'),
          payload: { nonsense: true },
        });
        expect(res.statusCode).toBe(403);
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "data.manage" (Manage Data).',
          details: { grant: 'data.manage' },
        });
      });

      it('a client token needs scope data (and its owner the grant)', async () => {
        const workflowOnly = await clientToken(['workflow'], 'editor');
        const refused = await app.inject({
          method: 'GET',
          url: '/v1/datasets',
          headers: { authorization: workflowOnly },
        });
        expect(refused.statusCode).toBe(403);
        expect(refused.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The access token lacks the scope "data".',
          details: { scope: 'data' },
        });
        const data = await clientToken(['data'], 'editor');
        const ok = await app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: { authorization: data },
          payload: { name: 'By client', schema: { columns: [{ name: 'a', type: 'STRING' }] } },
        });
        expect(ok.statusCode, ok.body).toBe(201);
        expect(ok.json().owner).toEqual({ id: userId.editor, name: 'editor' });
        const readerClient = await clientToken(['data'], 'clientReader');
        const write = await app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: { authorization: readerClient },
          payload: { name: 'Nope', schema: { columns: [{ name: 'a', type: 'STRING' }] } },
        });
        expect(write.statusCode).toBe(403);
        expect(write.json().details).toEqual({ grant: 'data.manage' });
      });
    });

    describe('metadata', () => {
      it('create → 201 with the Domo shape; get returns the same', async () => {
        const res = await app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: bearer('editor'),
          payload: { name: '  Sales ', description: 'Daily sales', rows: 7, schema: SCHEMA },
        });
        expect(res.statusCode, res.body).toBe(201);
        const body = res.json();
        expect(body).toEqual({
          id: expect.stringMatching(UUID),
          name: 'Sales',
          description: 'Daily sales',
          rows: 0,
          columns: 6,
          schema: SCHEMA,
          owner: { id: userId.editor, name: 'editor' },
          createdAt: expect.stringMatching(ISO),
          updatedAt: body.createdAt,
          dataCurrentAt: null,
          pdpEnabled: false,
        });
        const got = await app.inject({
          method: 'GET',
          url: `/v1/datasets/${body.id}`,
          headers: bearer('reader'),
        });
        expect(got.statusCode).toBe(200);
        expect(got.json()).toEqual(body);
      });

      it('bad names and schemas → 400 naming the field, nothing stored', async () => {
        const before = (await services.datasets.list()).length;
        const cases: Array<[Record<string, unknown>, string, string]> = [
          [
            { name: '', schema: SCHEMA },
            'name',
            '"name" must be 1–200 characters without control characters.',
          ],
          [
            { name: 'x', schema: { columns: [] } },
            'schema.columns',
            '"schema.columns" must have 1–500 columns.',
          ],
          [
            { name: 'x', schema: { columns: [{ name: 'a', type: 'TEXT' }] } },
            'schema.columns[0].type',
            '"schema.columns[0].type" must be one of STRING, DECIMAL, LONG, DOUBLE, DATE, DATETIME.',
          ],
          [
            {
              name: 'x',
              schema: {
                columns: [
                  { name: 'a', type: 'LONG' },
                  { name: 'A', type: 'STRING' },
                ],
              },
            },
            'schema.columns[1].name',
            'Column name "A" is used twice (names are case-insensitive).',
          ],
          [
            { name: 'x', schema: { columns: [{ name: ' ', type: 'LONG' }] } },
            'schema.columns[0].name',
            '"schema.columns[0].name" must be 1–200 characters without control characters.',
          ],
        ];
        for (const [payload, field, message] of cases) {
          const res = await app.inject({
            method: 'POST',
            url: '/v1/datasets',
            headers: bearer('editor'),
            payload,
          });
          expect(res.statusCode, res.body).toBe(400);
          expect(res.json().error).toBe('validation_error');
          expect(res.json().message).toBe(message);
          expect(res.json().details.field).toBe(field);
        }
        const unknownField = await app.inject({
          method: 'POST',
          url: '/v1/datasets',
          headers: bearer('editor'),
          payload: { name: 'x', schema: SCHEMA, owner: 1 },
        });
        expect(unknownField.statusCode).toBe(400);
        expect((await services.datasets.list()).length).toBe(before);
      });

      it('list: limit ≤ 50, offset, sort, nameLike', async () => {
        await create('List alpha');
        clock.advance(1000);
        await create('List Beta');
        clock.advance(1000);
        await create('list gamma');
        const names = async (query: string) => {
          const res = await app.inject({
            method: 'GET',
            url: `/v1/datasets${query}`,
            headers: bearer('reader'),
          });
          expect(res.statusCode, res.body).toBe(200);
          return (res.json() as Array<{ name: string }>).map((d) => d.name);
        };
        expect(await names('?nameLike=LIST')).toEqual(['List alpha', 'List Beta', 'list gamma']);
        expect(await names('?nameLike=list&limit=1&offset=1')).toEqual(['List Beta']);
        expect(await names('?nameLike=list&sort=lastTouched')).toEqual([
          'list gamma',
          'List Beta',
          'List alpha',
        ]);
        expect(await names('?nameLike=%25')).toEqual([]);
        const tooMany = await app.inject({
          method: 'GET',
          url: '/v1/datasets?limit=51',
          headers: bearer('reader'),
        });
        expect(tooMany.statusCode).toBe(400);
        const badSort = await app.inject({
          method: 'GET',
          url: '/v1/datasets?sort=size',
          headers: bearer('reader'),
        });
        expect(badSort.statusCode).toBe(400);
      });

      it('unknown id → 404 on every route', async () => {
        const id = '00000000-0000-4000-8000-000000000000';
        const message = `DataSet ${id} not found.`;
        for (const [method, url, who] of [
          ['GET', `/v1/datasets/${id}`, 'reader'],
          ['PUT', `/v1/datasets/${id}`, 'editor'],
          ['DELETE', `/v1/datasets/${id}`, 'editor'],
          ['GET', `/v1/datasets/${id}/data`, 'reader'],
        ] as const) {
          const res = await app.inject({
            method,
            url,
            headers: bearer(who),
            ...(method === 'PUT' ? { payload: { name: 'x' } } : {}),
          });
          expect(res.statusCode, `${method} ${url}`).toBe(404);
          expect(res.json()).toEqual({ error: 'not_found', message });
        }
        const put = await upload(id, 'a\n');
        expect(put.statusCode).toBe(404);
        expect(put.json()).toEqual({ error: 'not_found', message });
      });

      it('update: rename, describe, rename and add columns; only the owner or an Admin; retyping with rows → 409', async () => {
        const ds = await create('Changing');
        const other = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('other'),
          payload: { name: 'Mine now' },
        });
        expect(other.statusCode).toBe(403);
        expect(other.json()).toEqual({
          error: 'forbidden',
          message: "Only the DataSet's owner or an Admin may change it.",
          details: { dataset: ds.id },
        });
        expect((await upload(ds.id, 'East,1,1.5,0.5,2026-01-31,2026-01-31T12:00:00Z\n')).statusCode).toBe(
          204,
        );
        const columns = [...SCHEMA.columns, { name: 'Note', type: 'STRING' }];
        columns[0] = { name: 'Area', type: 'STRING' };
        const res = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('admin'),
          payload: { name: 'Changed', description: 'new', schema: { columns } },
        });
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json()).toMatchObject({
          name: 'Changed',
          description: 'new',
          rows: 1,
          columns: 7,
          schema: { columns },
        });
        const csv = await exportCsv(ds.id, '?includeHeader=true');
        expect(csv.body).toBe(
          'Area,Units,Amount,Ratio,Day,At,Note\nEast,1,1.5,0.5,2026-01-31,2026-01-31T12:00:00.000Z,\n',
        );
        const retype = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('editor'),
          payload: { schema: { columns: [{ name: 'Area', type: 'LONG' }] } },
        });
        expect(retype.statusCode).toBe(409);
        expect(retype.json().message).toBe(
          'The DataSet has 1 rows: column 1 ("Area") cannot change type from STRING. Create a new DataSet, or change the schema before importing data.',
        );
        expect((await services.datasets.get(ds.id)).schema.columns).toEqual(columns);
      });

      it('without rows any schema goes', async () => {
        const ds = await create('Empty');
        const res = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('editor'),
          payload: { schema: { columns: [{ name: 'n', type: 'LONG' }] } },
        });
        expect(res.statusCode, res.body).toBe(200);
        expect((await upload(ds.id, '5\n6\n')).statusCode).toBe(204);
        expect((await exportCsv(ds.id)).body).toBe('5\n6\n');
      });

      it('delete → 204, then 404; the rows go with it', async () => {
        const ds = await create('Doomed');
        expect((await upload(ds.id, 'East,1,1.5,0.5,2026-01-31,\n')).statusCode).toBe(204);
        const stranger = await app.inject({
          method: 'DELETE',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('other'),
        });
        expect(stranger.statusCode).toBe(403);
        const res = await app.inject({
          method: 'DELETE',
          url: `/v1/datasets/${ds.id}`,
          headers: bearer('editor'),
        });
        expect(res.statusCode).toBe(204);
        expect(res.body).toBe('');
        expect(
          (await app.inject({ method: 'GET', url: `/v1/datasets/${ds.id}`, headers: bearer('reader') }))
            .statusCode,
        ).toBe(404);
        const events = await services.audit.query({ targetType: 'dataset', targetId: ds.id });
        expect(events.items.map((e) => e.action).sort()).toEqual([
          'dataset.created',
          'dataset.data_replaced',
          'dataset.deleted',
        ]);
      });
    });

    describe('CSV import and export', () => {
      it('REPLACE then APPEND; empty fields are null (DATE too); quoting survives the round trip', async () => {
        const ds = await create('Rows');
        const first = 'East,3,12.50,0.25,2026-01-31,2026-01-31T12:00:00Z\n"West, far",,,,,\n';
        expect((await upload(ds.id, first, '?updateMethod=REPLACE')).statusCode).toBe(204);
        let got = await services.datasets.get(ds.id);
        expect(got.rows).toBe(2);
        expect(got.dataCurrentAt).toMatch(ISO);
        const appended =
          'North,-4,1e2,-1.5e-3,2024-02-29,2026-01-31T13:30:00.5+01:30\n"He said ""hi""",0,0,0,,\n';
        expect((await upload(ds.id, appended, '?updateMethod=APPEND')).statusCode).toBe(204);
        got = await services.datasets.get(ds.id);
        expect(got.rows).toBe(4);
        const res = await exportCsv(ds.id, '?includeHeader=true&fileName=rows.csv');
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
        expect(res.headers['content-disposition']).toBe(
          `attachment; filename="rows.csv"; filename*=UTF-8''rows.csv`,
        );
        const decimals = dialect.name === 'postgres' ? ['12.50', '1e2'] : ['12.5', '100'];
        const hundred = dialect.name === 'postgres' ? '100' : decimals[1];
        expect(res.body).toBe(
          [
            'Region,Units,Amount,Ratio,Day,At',
            `East,3,${decimals[0]},0.25,2026-01-31,2026-01-31T12:00:00.000Z`,
            '"West, far",,,,,',
            `North,-4,${hundred},-0.0015,2024-02-29,2026-01-31T12:00:00.500Z`,
            '"He said ""hi""",0,0,0,,',
            '',
          ].join('\n'),
        );
        const noHeader = await exportCsv(ds.id);
        expect(noHeader.body.split('\n')[0]).toBe(
          `East,3,${decimals[0]},0.25,2026-01-31,2026-01-31T12:00:00.000Z`,
        );
        expect(noHeader.headers['content-disposition']).toBeUndefined();
        // REPLACE swaps everything.
        expect((await upload(ds.id, 'Only,1,1,1,2026-01-01,\n')).statusCode).toBe(204);
        expect((await exportCsv(ds.id)).body).toBe('Only,1,1,1,2026-01-01,\n');
        expect((await services.datasets.get(ds.id)).rows).toBe(1);
      });

      it('gzip bodies are accepted', async () => {
        const ds = await create('Zipped');
        const rows = Array.from({ length: 1500 }, (_, i) => `r${i},${i},${i}.5,${i / 4},2026-01-01,\n`).join(
          '',
        );
        const res = await upload(ds.id, gzipSync(rows), '', { 'content-encoding': 'gzip' });
        expect(res.statusCode, res.body).toBe(204);
        expect((await services.datasets.get(ds.id)).rows).toBe(1500);
        const out = await exportCsv(ds.id);
        expect(out.body.split('\n').length).toBe(1501);
        expect(out.body.split('\n')[1499]).toBe('r1499,1499,1499.5,374.75,2026-01-01,');
      });

      it('a bad value on row N → 400 naming row, column and value; the dataset is unchanged', async () => {
        const ds = await create('Strict');
        expect((await upload(ds.id, 'Keep,1,1,1,2026-01-01,\n')).statusCode).toBe(204);
        const good = Array.from({ length: 2500 }, (_, i) => `r${i},${i},1,1,2026-01-01,`);
        const cases: Array<[string, string, Record<string, unknown>]> = [
          [
            [...good, 'bad,1,1,1,2026-02-30,'].join('\n'),
            'Row 2501, column 5 ("Day", DATE): "2026-02-30" is not a date (YYYY-MM-DD). Nothing was imported.',
            {
              row: 2501,
              column: 'Day',
              type: 'DATE',
              value: '2026-02-30',
              reason: 'not a date (YYYY-MM-DD)',
            },
          ],
          [
            'a,1.5,1,1,,',
            'Row 1, column 2 ("Units", LONG): "1.5" is not a whole number. Nothing was imported.',
            { row: 1, column: 'Units', type: 'LONG', value: '1.5', reason: 'not a whole number' },
          ],
          [
            'a,1,1,1,,\nb,2,x,1,,',
            'Row 2, column 3 ("Amount", DECIMAL): "x" is not a finite decimal number. Nothing was imported.',
            { row: 2, column: 'Amount', type: 'DECIMAL', value: 'x', reason: 'not a finite decimal number' },
          ],
          [
            'a,1,1,NaN,,',
            'Row 1, column 4 ("Ratio", DOUBLE): "NaN" is not a finite number. Nothing was imported.',
            { row: 1, column: 'Ratio', type: 'DOUBLE', value: 'NaN', reason: 'not a finite number' },
          ],
          [
            'a,1,1,1,,yesterday',
            'Row 1, column 6 ("At", DATETIME): "yesterday" is not a date-time (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]). Nothing was imported.',
            {
              row: 1,
              column: 'At',
              type: 'DATETIME',
              value: 'yesterday',
              reason: 'not a date-time (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM])',
            },
          ],
          [
            'a,1,1,1,,\nb,2',
            'Row 2 has 2 values; the DataSet has 6 columns. Nothing was imported.',
            { row: 2, expected: 6, got: 2 },
          ],
        ];
        for (const [csv, message, details] of cases) {
          for (const method of ['REPLACE', 'APPEND']) {
            const res = await upload(ds.id, csv, `?updateMethod=${method}`);
            expect(res.statusCode, res.body).toBe(400);
            expect(res.json()).toEqual({ error: 'validation_error', message, details });
          }
        }
        const broken = await upload(ds.id, 'a,"unclosed,1,1,1,,\n');
        expect(broken.statusCode).toBe(400);
        expect(broken.json().message).toMatch(/^The CSV cannot be read: .*Nothing was imported\.$/);
        const badGzip = await upload(ds.id, 'not gzip', '', { 'content-encoding': 'gzip' });
        expect(badGzip.statusCode).toBeGreaterThanOrEqual(400);
        expect(badGzip.statusCode).toBeLessThan(500);
        expect((await exportCsv(ds.id)).body).toBe('Keep,1,1,1,2026-01-01,\n');
        expect((await services.datasets.get(ds.id)).rows).toBe(1);
        // No staging table is left behind.
        const tables =
          dialect.name === 'postgres'
            ? await ts.store.db
                .selectFrom('information_schema.tables' as never)
                .select('table_name' as never)
                .where('table_schema' as never, '=', ts.schema as never)
                .execute()
            : await ts.store.db
                .selectFrom('sqlite_master' as never)
                .select('name as table_name' as never)
                .where('type' as never, '=', 'table' as never)
                .execute();
        const names = (tables as Array<{ table_name: string }>).map((t) => t.table_name);
        // The dataset's table, and the one its first REPLACE retired (kept for running exports, swept later).
        const table = `ds_${ds.id.replace(/-/g, '')}`;
        expect(names.filter((n) => n.startsWith(table) && !/_o[0-9a-f]{12}$/.test(n))).toEqual([table]);
      });

      it('a body over GATEHOUSE_DATASET_MAX_UPLOAD_BYTES → 413, unchanged; other media types → 415', async () => {
        const ds = await create('Small');
        const res = await upload(ds.id, 'a,1,1,1,,\n'.repeat(7000));
        expect(res.statusCode).toBe(413);
        expect(res.json()).toEqual({
          error: 'payload_too_large',
          message:
            'The CSV is larger than 65536 bytes (GATEHOUSE_DATASET_MAX_UPLOAD_BYTES); nothing was changed.',
        });
        // Counted after gzip is undone: a small compressed body of many rows is refused too.
        const zipped = await upload(ds.id, gzipSync('a,1,1,1,,\n'.repeat(7000)), '', {
          'content-encoding': 'gzip',
        });
        expect(zipped.statusCode).toBe(413);
        expect((await services.datasets.get(ds.id)).rows).toBe(0);
        const json = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}/data`,
          headers: bearer('editor'),
          payload: { rows: [] },
        });
        expect(json.statusCode).toBe(415);
        expect(json.json()).toEqual({
          error: 'unsupported_media_type',
          message: 'Send the rows as Content-Type: text/csv (no header row).',
        });
      });

      it.skipIf(dialect.name !== 'postgres')(
        'two nodes on one PostgreSQL: rows imported through one are exported and queried through the other',
        async () => {
          const other = await openStore({ databaseUrl: PG_URL, databaseSchema: ts.schema });
          try {
            const { services: otherServices } = await testServices(other);
            const node2 = await buildApp({
              config: otherServices.ctx.config,
              store: other,
              services: otherServices,
              logger: silentLogger(),
              instrument: checkResponses,
            });
            try {
              const ds = await create('Shared');
              expect((await upload(ds.id, 'East,1,1,1,2026-01-01,\nWest,2,2,2,,\n')).statusCode).toBe(204);
              const res = await node2.inject({
                method: 'GET',
                url: `/v1/datasets/${ds.id}/data?includeHeader=true`,
                headers: bearer('reader'),
              });
              expect(res.statusCode, res.body).toBe(200);
              expect(res.body).toBe(
                'Region,Units,Amount,Ratio,Day,At\nEast,1,1,1,2026-01-01,\nWest,2,2,2,,\n',
              );
              const query = await node2.inject({
                method: 'POST',
                url: `/v1/datasets/query/execute/${ds.id}`,
                headers: bearer('reader'),
                payload: {
                  sql: 'SELECT Region, SUM(Units) AS total FROM table GROUP BY Region ORDER BY Region',
                },
              });
              expect(query.statusCode, query.body).toBe(200);
              expect(query.json()).toMatchObject({
                columns: ['Region', 'total'],
                rows: [
                  ['East', 1],
                  ['West', 2],
                ],
                numRows: 2,
                numColumns: 2,
              });
            } finally {
              await node2.close();
            }
          } finally {
            await other.close();
          }
        },
      );

      it('only the owner or an Admin imports', async () => {
        const ds = await create('Guarded');
        const res = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}/data`,
          headers: { ...bearer('other'), 'content-type': 'text/csv' },
          payload: 'a,1,1,1,,\n',
        });
        expect(res.statusCode).toBe(403);
        const admin = await app.inject({
          method: 'PUT',
          url: `/v1/datasets/${ds.id}/data`,
          headers: { ...bearer('admin'), 'content-type': 'text/csv' },
          payload: 'a,1,1,1,,\n',
        });
        expect(admin.statusCode).toBe(204);
      });
    });
  });
}
