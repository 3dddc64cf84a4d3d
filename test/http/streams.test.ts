/**
 * The Streams API over HTTP on both dialects: grants, the stream calls with exact bodies, and
 * executions — parts in parallel and out of order, a re-sent part replacing the old one, a bad
 * part refused with nothing stored, commit making every part visible at once (a reader during
 * the commit sees the old rows or the new ones), abort, a crash between parts (the app stopped
 * and rebuilt on another connection to the same store), and the cleanup of abandoned executions
 * with an advanced clock.
 */
import { gzipSync } from 'node:zlib';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { sweepStreams } from '../../src/background.js';
import type { ManualClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import type { Store } from '../../src/store/index.js';
import { TokenHolders } from '../helpers/token-holders.js';
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
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** `n` CSV rows tagged with `tag`, numbered from `from`. */
function rows(tag: string, n: number, from = 1): string {
  let out = '';
  for (let i = from; i < from + n; i++)
    out += `${tag},${i},2026-01-${String((i % 28) + 1).padStart(2, '0')}\n`;
  return out;
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Streams API (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let app: App;
    let clock: ManualClock;

    const holders = new TokenHolders(() => services);
    const { userId } = holders;
    const tokenFor = (name: string, role: string) => holders.add(name, role);
    const bearer = (name: string) => holders.bearer(name);

    async function buildOn(store: Store, s: Services): Promise<App> {
      await s.keys.prepare();
      return buildApp({
        config: s.ctx.config,
        store,
        services: s,
        logger: silentLogger(),
        instrument: checkResponses,
      });
    }

    const call = (
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      url: string,
      options: { who?: string; payload?: unknown; headers?: Record<string, string>; on?: App } = {},
    ) =>
      (options.on ?? app).inject({
        method,
        url,
        headers: { ...bearer(options.who ?? 'editor'), ...options.headers },
        ...(options.payload === undefined ? {} : { payload: options.payload as string }),
      });

    async function createStream(name: string, updateMethod = 'APPEND', who = 'editor') {
      const res = await call('POST', '/v1/streams', {
        who,
        payload: { dataSet: { name, description: `${name} rows`, schema: SCHEMA }, updateMethod },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: number; dataSet: { id: string; rows: number } };
    }
    async function start(streamId: number, on?: App) {
      const res = await call('POST', `/v1/streams/${streamId}/executions`, { on });
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { id: number };
    }
    const part = (
      streamId: number,
      execId: number,
      n: number | string,
      csv: string | Buffer,
      headers: Record<string, string> = { 'content-type': 'text/csv' },
      on?: App,
    ) => call('PUT', `/v1/streams/${streamId}/executions/${execId}/part/${n}`, { payload: csv, headers, on });
    const exportCsv = (datasetId: string) => call('GET', `/v1/datasets/${datasetId}/data`, { who: 'reader' });
    async function partTables(execId: number): Promise<string[]> {
      const text =
        dialect.name === 'postgres'
          ? 'select tablename as name from pg_tables where schemaname = current_schema() order by 1'
          : "select name from sqlite_master where type = 'table' order by 1";
      const result = await ts.store.db.executeQuery<{ name: string }>(CompiledQuery.raw(text, []));
      return result.rows
        .map((r) => r.name)
        .filter((name) => new RegExp(`_s${execId}_[0-9a-f]{8}$`).test(name));
    }

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store, { config: { datasetMaxUploadBytes: 65_536 } }));
      app = await buildOn(ts.store, services);
      await services.roles.create({ name: 'Auditor', grants: ['audit.view'] }, OPERATOR, CLI_ACTOR);
      await tokenFor('editor', 'Privileged');
      await tokenFor('other', 'Editor');
      await tokenFor('reader', 'Participant');
      await tokenFor('auditor', 'Auditor');
      await tokenFor('admin', 'Admin');
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    describe('streams', () => {
      it('grants: 401 without a token, data.view reads, data.manage writes, the owner or an Admin changes', async () => {
        expect((await app.inject({ method: 'GET', url: '/v1/streams' })).statusCode).toBe(401);
        const noGrant = await call('GET', '/v1/streams', { who: 'auditor' });
        expect(noGrant.statusCode).toBe(403);
        expect(noGrant.json().details).toEqual({ grant: 'data.view' });
        expect((await call('GET', '/v1/streams', { who: 'reader' })).statusCode).toBe(200);
        const write = await call('POST', '/v1/streams', {
          who: 'reader',
          payload: { dataSet: { name: 'x', schema: SCHEMA }, updateMethod: 'APPEND' },
        });
        expect(write.statusCode).toBe(403);
        expect(write.json().details).toEqual({ grant: 'data.manage' });

        const stream = await createStream('Grants');
        for (const [method, url] of [
          ['PATCH', `/v1/streams/${stream.id}`],
          ['POST', `/v1/streams/${stream.id}/executions`],
          ['DELETE', `/v1/streams/${stream.id}`],
        ] as const) {
          const res = await call(method, url, {
            who: 'other',
            ...(method === 'PATCH' ? { payload: { updateMethod: 'REPLACE' } } : {}),
          });
          expect(res.statusCode, `${method} ${url}`).toBe(403);
          expect(res.json().error).toBe('forbidden');
        }
        const byAdmin = await call('PATCH', `/v1/streams/${stream.id}`, {
          who: 'admin',
          payload: { updateMethod: 'REPLACE' },
        });
        expect(byAdmin.statusCode, byAdmin.body).toBe(200);
        expect(byAdmin.json().updateMethod).toBe('REPLACE');
      });

      it('create → 201 with the DataSet; get, list, search by DataSet and by owner; update; delete keeps the DataSet', async () => {
        const before = clock.now().toISOString();
        const res = await call('POST', '/v1/streams', {
          payload: {
            dataSet: { name: 'Sales stream', description: 'Daily', rows: 0, schema: SCHEMA },
            updateMethod: 'APPEND',
          },
        });
        expect(res.statusCode, res.body).toBe(201);
        const stream = res.json();
        expect(stream).toEqual({
          id: expect.any(Number),
          dataSet: {
            id: expect.stringMatching(/^[0-9a-f-]{36}$/),
            name: 'Sales stream',
            description: 'Daily',
            rows: 0,
            columns: 3,
            schema: SCHEMA,
            owner: { id: userId.editor, name: 'editor' },
            createdAt: before,
            updatedAt: before,
            dataCurrentAt: null,
            pdpEnabled: false,
          },
          updateMethod: 'APPEND',
          createdAt: before,
          modifiedAt: before,
        });
        expect(stream.createdAt).toMatch(ISO);
        // The DataSet is a DataSet like any other.
        const dataset = await call('GET', `/v1/datasets/${stream.dataSet.id}`, { who: 'reader' });
        expect(dataset.json()).toEqual(stream.dataSet);

        const got = await call('GET', `/v1/streams/${stream.id}?fields=all`, { who: 'reader' });
        expect(got.statusCode).toBe(200);
        expect(got.json()).toEqual(stream);
        const list = await call('GET', '/v1/streams?fields=all&limit=500', { who: 'reader' });
        expect(list.statusCode).toBe(200);
        expect(list.json()).toContainEqual(stream);
        const byDataset = await call(
          'GET',
          `/v1/streams/search?q=dataSource.id:${stream.dataSet.id}&fields=all`,
          { who: 'reader' },
        );
        expect(byDataset.json()).toEqual([stream]);
        const byOwner = await call('GET', `/v1/streams/search?q=dataSource.owner.id:${userId.editor}`, {
          who: 'reader',
        });
        expect(byOwner.json()).toContainEqual(stream);
        expect(
          (await call('GET', `/v1/streams/search?q=dataSource.owner.id:${userId.reader}`)).json(),
        ).toEqual([]);

        clock.advance(1000);
        const patched = await call('PATCH', `/v1/streams/${stream.id}`, {
          payload: { updateMethod: 'REPLACE' },
        });
        expect(patched.statusCode, patched.body).toBe(200);
        expect(patched.json()).toEqual({
          ...stream,
          updateMethod: 'REPLACE',
          modifiedAt: clock.now().toISOString(),
        });

        const deleted = await call('DELETE', `/v1/streams/${stream.id}`);
        expect(deleted.statusCode).toBe(204);
        expect(deleted.body).toBe('');
        expect((await call('GET', `/v1/streams/${stream.id}`)).statusCode).toBe(404);
        expect((await call('GET', `/v1/datasets/${stream.dataSet.id}`)).statusCode).toBe(200);
        const events = await services.audit.query({ targetType: 'stream', targetId: String(stream.id) });
        expect(events.items.map((e) => e.action).sort()).toEqual([
          'stream.created',
          'stream.deleted',
          'stream.updated',
        ]);
      });

      it('bad input → 4xx that changes nothing; unknown and out-of-range ids → 404', async () => {
        const count = async () => (await call('GET', '/v1/streams?limit=500')).json().length;
        const datasets = async () => (await call('GET', '/v1/datasets?limit=50')).json().length;
        const [streamsBefore, datasetsBefore] = [await count(), await datasets()];
        for (const payload of [
          { dataSet: { name: 'x', schema: SCHEMA }, updateMethod: 'SOMETIMES' },
          { dataSet: { name: 'x', schema: SCHEMA } },
          { dataSet: { name: '', schema: SCHEMA }, updateMethod: 'APPEND' },
          {
            dataSet: { name: 'x', schema: { columns: [{ name: 'a', type: 'BLOB' }] } },
            updateMethod: 'APPEND',
          },
          { dataSet: { name: 'x', schema: SCHEMA }, updateMethod: 'APPEND', extra: 1 },
          { updateMethod: 'APPEND' },
        ]) {
          const res = await call('POST', '/v1/streams', { payload });
          expect(res.statusCode, JSON.stringify(payload)).toBe(400);
          expect(res.json().error).toBe('validation_error');
        }
        expect([await count(), await datasets()]).toEqual([streamsBefore, datasetsBefore]);
        const badQ = await call('GET', '/v1/streams/search?q=name:x');
        expect(badQ.statusCode).toBe(400);
        expect(badQ.json()).toEqual({
          error: 'validation_error',
          message: '"q" must be dataSource.id:<DataSet id> or dataSource.owner.id:<user id>.',
          details: { field: 'q' },
        });
        expect((await call('GET', '/v1/streams?limit=501')).statusCode).toBe(400);

        for (const id of ['999999', '99999999999999999999', '1e400', 'abc', '-1']) {
          const res = await call('GET', `/v1/streams/${id}`);
          expect(res.statusCode, id).toBe(404);
          expect(res.json()).toEqual({ error: 'not_found', message: `Stream ${id} not found.` });
          expect((await call('GET', `/v1/streams/${id}/executions`)).statusCode).toBe(404);
          expect((await call('POST', `/v1/streams/${id}/executions`)).statusCode).toBe(404);
        }
        const stream = await createStream('Ids');
        for (const id of ['999999', '99999999999999999999', 'abc']) {
          const res = await call('GET', `/v1/streams/${stream.id}/executions/${id}`);
          expect(res.statusCode, id).toBe(404);
          expect(res.json()).toEqual({
            error: 'not_found',
            message: `Execution ${id} of stream ${stream.id} not found.`,
          });
          expect((await part(stream.id, id as never, 1, 'a,1,\n')).statusCode).toBe(404);
          expect((await call('PUT', `/v1/streams/${stream.id}/executions/${id}/commit`)).statusCode).toBe(
            404,
          );
        }
        const exec = await start(stream.id);
        for (const n of ['0', '10001', 'x', '1.5']) {
          const res = await part(stream.id, exec.id, n, 'a,1,\n');
          expect(res.statusCode, n).toBe(400);
        }
        const json = await part(stream.id, exec.id, 1, '{}', { 'content-type': 'application/json' });
        expect(json.statusCode).toBe(415);
        const got = await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`);
        expect(got.json().parts).toEqual([]);
      });
    });

    describe('executions', () => {
      it('parts in parallel and out of order, a re-sent part replacing, commit visible at once in part order', async () => {
        const stream = await createStream('Parallel', 'REPLACE');
        const datasetId = stream.dataSet.id;
        // Rows before: one REPLACE import through the DataSets API.
        const seed = await call('PUT', `/v1/datasets/${datasetId}/data`, {
          payload: 'old,1,2026-01-01\n',
          headers: { 'content-type': 'text/csv' },
        });
        expect(seed.statusCode, seed.body).toBe(204);

        const t0 = clock.now().toISOString();
        const created = await call('POST', `/v1/streams/${stream.id}/executions`);
        expect(created.statusCode).toBe(201);
        const exec = created.json();
        expect(exec).toEqual({
          id: expect.any(Number),
          startedAt: t0,
          currentState: 'ACTIVE',
          createdAt: t0,
          modifiedAt: t0,
          updateMethod: 'REPLACE',
          parts: [],
        });
        // A second one while this is ACTIVE: 409 naming it.
        const second = await call('POST', `/v1/streams/${stream.id}/executions`);
        expect(second.statusCode).toBe(409);
        expect(second.json()).toEqual({
          error: 'conflict',
          message: `Stream ${stream.id} already has an ACTIVE execution (${exec.id}): commit or abort it first.`,
          details: { execution: exec.id },
        });

        clock.advance(1000);
        const results = await Promise.all([
          part(stream.id, exec.id, 3, rows('c', 300)),
          part(stream.id, exec.id, 1, rows('a', 250)),
          part(stream.id, exec.id, 2, gzipSync(rows('b', 200)), {
            'content-type': 'text/csv',
            'content-encoding': 'gzip',
          }),
          part(stream.id, exec.id, 4, gzipSync(rows('wrong', 5)), { 'content-type': 'application/gzip' }),
        ]);
        for (const res of results) expect(res.statusCode, res.body).toBe(200);
        // Part 4 again: replaces the first upload of part 4 (SDK's uploadCompressedPart shape).
        const again = await part(stream.id, exec.id, 4, gzipSync(rows('d', 50)), {
          'content-type': 'application/gzip',
        });
        expect(again.statusCode, again.body).toBe(200);
        const t1 = clock.now().toISOString();
        expect(again.json()).toEqual({
          ...exec,
          modifiedAt: t1,
          parts: [
            { part: 1, rows: 250, uploadedAt: t1 },
            { part: 2, rows: 200, uploadedAt: t1 },
            { part: 3, rows: 300, uploadedAt: t1 },
            { part: 4, rows: 50, uploadedAt: t1 },
          ],
        });
        expect(await partTables(exec.id)).toHaveLength(4);
        // Nothing visible before the commit.
        expect((await exportCsv(datasetId)).body).toBe('old,1,2026-01-01\n');
        expect((await call('GET', `/v1/datasets/${datasetId}`)).json().rows).toBe(1);

        clock.advance(1000);
        const commit = await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`);
        expect(commit.statusCode, commit.body).toBe(200);
        const t2 = clock.now().toISOString();
        expect(commit.json()).toEqual({
          ...exec,
          currentState: 'SUCCESS',
          modifiedAt: t2,
          endedAt: t2,
          rows: 800,
          parts: [],
        });
        expect((await exportCsv(datasetId)).body).toBe(
          rows('a', 250) + rows('b', 200) + rows('c', 300) + rows('d', 50),
        );
        const dataset = (await call('GET', `/v1/datasets/${datasetId}`)).json();
        expect([dataset.rows, dataset.dataCurrentAt]).toEqual([800, t2]);
        expect(await partTables(exec.id)).toEqual([]);

        // Ended: no more parts, no second commit, no abort.
        for (const res of [
          await part(stream.id, exec.id, 5, rows('e', 1)),
          await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`),
          await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/abort`),
        ]) {
          expect(res.statusCode).toBe(409);
          expect(res.json().details).toEqual({ execution: exec.id, currentState: 'SUCCESS' });
        }
        const listed = await call('GET', `/v1/streams/${stream.id}/executions?limit=10&offset=0`, {
          who: 'reader',
        });
        expect(listed.json()).toEqual([commit.json()]);
        const events = await services.audit.query({ targetType: 'stream', targetId: String(stream.id) });
        expect(events.items.map((e) => e.action).sort()).toEqual([
          'stream.created',
          'stream.execution_committed',
          'stream.execution_created',
          'stream.part_uploaded',
          'stream.part_uploaded',
          'stream.part_uploaded',
          'stream.part_uploaded',
          'stream.part_uploaded',
        ]);

        // APPEND: the next execution's rows go after these.
        await call('PATCH', `/v1/streams/${stream.id}`, { payload: { updateMethod: 'APPEND' } });
        const next = await start(stream.id);
        expect((await part(stream.id, next.id, 7, rows('z', 2))).statusCode).toBe(200);
        expect((await call('PUT', `/v1/streams/${stream.id}/executions/${next.id}/commit`)).json().rows).toBe(
          2,
        );
        expect((await call('GET', `/v1/datasets/${datasetId}`)).json().rows).toBe(802);
        expect((await exportCsv(datasetId)).body.endsWith(`${rows('d', 50)}${rows('z', 2)}`)).toBe(true);
      });

      it('a bad value in a part → 400 naming part, row, column and value; not stored; the execution stays ACTIVE', async () => {
        const stream = await createStream('Bad part');
        const exec = await start(stream.id);
        expect((await part(stream.id, exec.id, 1, rows('a', 3))).statusCode).toBe(200);
        const before = (await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`)).json();

        const bad = await part(stream.id, exec.id, 2, 'ok,1,2026-01-01\nbad,x1,2026-01-02\n');
        expect(bad.statusCode).toBe(400);
        expect(bad.json()).toEqual({
          error: 'validation_error',
          message:
            'Part 2: Row 2, column 2 ("Units", LONG): "x1" is not a whole number. The part was not stored.',
          details: {
            part: 2,
            row: 2,
            column: 'Units',
            type: 'LONG',
            value: 'x1',
            reason: 'not a whole number',
          },
        });
        // Re-sending part 1 with a bad value keeps the old part 1.
        const badAgain = await part(stream.id, exec.id, 1, 'a,1\n');
        expect(badAgain.statusCode).toBe(400);
        expect(badAgain.json().details).toEqual({ part: 1, row: 1, expected: 3, got: 2 });
        const badGzip = await part(stream.id, exec.id, 3, 'not gzip', { 'content-type': 'application/gzip' });
        expect(badGzip.statusCode).toBe(400);
        expect(badGzip.json().error).toBe('validation_error');
        const tooLarge = await part(stream.id, exec.id, 3, rows('big', 5000));
        expect(tooLarge.statusCode).toBe(413);

        expect((await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`)).json()).toEqual(before);
        expect(await partTables(exec.id)).toHaveLength(1);
        const commit = await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`);
        expect(commit.json().rows).toBe(3);
      });

      it('commit with no parts, or after the schema changed → 409, nothing changes; abort drops the parts', async () => {
        const stream = await createStream('Conflicts');
        const exec = await start(stream.id);
        const empty = await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`);
        expect(empty.statusCode).toBe(409);
        expect(empty.json()).toEqual({
          error: 'conflict',
          message: `Execution ${exec.id} has no parts: upload at least one, or abort it.`,
          details: { execution: exec.id },
        });
        expect((await part(stream.id, exec.id, 1, rows('a', 2))).statusCode).toBe(200);
        const renamed = await call('PUT', `/v1/datasets/${stream.dataSet.id}`, {
          payload: { schema: { columns: [...SCHEMA.columns, { name: 'Extra', type: 'STRING' }] } },
        });
        expect(renamed.statusCode, renamed.body).toBe(200);
        const changed = await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`);
        expect(changed.statusCode).toBe(409);
        expect(changed.json().message).toBe(
          `The DataSet's schema changed after execution ${exec.id} started; its parts no longer fit. Abort it and start a new one.`,
        );
        expect((await call('GET', `/v1/datasets/${stream.dataSet.id}`)).json().rows).toBe(0);
        const still = (await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`)).json();
        expect([still.currentState, still.parts.length]).toEqual(['ACTIVE', 1]);

        // Abort the current one (no id), as the SDK's abort(streamId) does.
        clock.advance(1000);
        const aborted = await call('PUT', `/v1/streams/${stream.id}/executions/abort`);
        expect(aborted.statusCode, aborted.body).toBe(200);
        const now = clock.now().toISOString();
        expect(aborted.json()).toEqual({
          ...still,
          currentState: 'ABORTED',
          modifiedAt: now,
          endedAt: now,
          parts: [],
        });
        expect(await partTables(exec.id)).toEqual([]);
        expect((await part(stream.id, exec.id, 2, rows('b', 1))).statusCode).toBe(409);
        const none = await call('PUT', `/v1/streams/${stream.id}/executions/abort`);
        expect(none.statusCode).toBe(409);
        expect(none.json().message).toBe(`Stream ${stream.id} has no ACTIVE execution to abort.`);
        // A new execution takes the new schema.
        const next = await start(stream.id);
        expect((await part(stream.id, next.id, 1, 'a,1,2026-01-01,x\n')).statusCode).toBe(200);
        const byId = await call('PUT', `/v1/streams/${stream.id}/executions/${next.id}/abort`);
        expect(byId.json().currentState).toBe('ABORTED');
      });

      it('a reader during the commit sees the old rows or the new ones, never a mix', async () => {
        const stream = await createStream('Atomic', 'REPLACE');
        const datasetId = stream.dataSet.id;
        const seed = await start(stream.id);
        await part(stream.id, seed.id, 1, rows('old', 500));
        await call('PUT', `/v1/streams/${stream.id}/executions/${seed.id}/commit`);
        const oldBody = rows('old', 500);
        const exec = await start(stream.id);
        for (let n = 1; n <= 6; n++)
          expect((await part(stream.id, exec.id, n, rows('new', 400, n * 1000))).statusCode).toBe(200);
        let newBody = '';
        for (let n = 1; n <= 6; n++) newBody += rows('new', 400, n * 1000);

        let done = false;
        const commit = call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`).finally(() => {
          done = true;
        });
        const seen = new Set<string>();
        let reads = 0;
        while (!done || reads < 3) {
          const res = await exportCsv(datasetId);
          expect(res.statusCode).toBe(200);
          seen.add(
            res.body === oldBody ? 'old' : res.body === newBody ? 'new' : `mix of ${res.body.length} chars`,
          );
          reads++;
          if (reads > 500) break;
        }
        expect((await commit).statusCode).toBe(200);
        expect(
          [...seen].every((s) => s === 'old' || s === 'new'),
          [...seen].join(', '),
        ).toBe(true);
        expect((await exportCsv(datasetId)).body).toBe(newBody);
      });

      it('a crash between parts loses nothing: the app rebuilt on another connection continues and commits', async () => {
        const stream = await createStream('Resume');
        const exec = await start(stream.id);
        expect((await part(stream.id, exec.id, 2, rows('b', 20))).statusCode).toBe(200);
        // A second process (another node on PostgreSQL) on the same store, with the first one gone.
        const peerStore = await ts.openPeer();
        const peer = await testServices(peerStore, { clock, config: { datasetMaxUploadBytes: 65_536 } });
        const peerApp = await buildOn(peerStore, peer.services);
        try {
          await app.close();
          const seenThere = await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`, {
            on: peerApp,
          });
          expect(seenThere.json().parts).toEqual([
            { part: 2, rows: 20, uploadedAt: clock.now().toISOString() },
          ]);
          expect((await part(stream.id, exec.id, 1, rows('a', 10), undefined, peerApp)).statusCode).toBe(200);
          const commit = await call('PUT', `/v1/streams/${stream.id}/executions/${exec.id}/commit`, {
            on: peerApp,
          });
          expect(commit.statusCode, commit.body).toBe(200);
          expect(commit.json().rows).toBe(30);
        } finally {
          // The rest of the file goes on with a fresh app on the first connection.
          app = await buildOn(ts.store, services);
          await peerApp.close();
        }
        expect((await exportCsv(stream.dataSet.id)).body).toBe(rows('a', 10) + rows('b', 20));
      });

      it('an execution idle past GATEHOUSE_STREAM_EXECUTION_TTL_HOURS is aborted by the cleanup, its parts dropped', async () => {
        const stream = await createStream('Abandoned');
        const exec = await start(stream.id);
        expect((await part(stream.id, exec.id, 1, rows('a', 5))).statusCode).toBe(200);
        // A part table a node was loading when it died: named by no part row.
        const stray = (await partTables(exec.id))[0]!.replace(/_[0-9a-f]{8}$/, '_00000000');
        await ts.store.db.executeQuery(CompiledQuery.raw(`create table "${stray}" ("_r" integer)`, []));

        clock.advance(23 * 3_600_000);
        await sweepStreams(services);
        expect(
          (await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`)).json().currentState,
        ).toBe('ACTIVE');
        expect(await partTables(exec.id)).toHaveLength(2);

        clock.advance(3_600_000 + 1);
        await sweepStreams(services);
        const ended = (await call('GET', `/v1/streams/${stream.id}/executions/${exec.id}`)).json();
        expect([ended.currentState, ended.endedAt, ended.parts]).toEqual([
          'ABORTED',
          clock.now().toISOString(),
          [],
        ]);
        expect(await partTables(exec.id)).toEqual([]);
        const events = await services.audit.query({
          action: 'stream.execution_aborted',
          targetId: String(stream.id),
        });
        expect(events.items.map((e) => [e.actor, e.details])).toEqual([
          [
            { type: 'system', id: null, label: null },
            { execution: exec.id, droppedParts: 1, reason: 'expired' },
          ],
        ]);
        // The stream takes a new execution.
        await start(stream.id);
      });

      it('deleting the DataSet takes its stream: 404 at once, removed by the cleanup with its parts', async () => {
        const stream = await createStream('Gone');
        const exec = await start(stream.id);
        await part(stream.id, exec.id, 1, rows('a', 2));
        expect((await call('DELETE', `/v1/datasets/${stream.dataSet.id}`)).statusCode).toBe(204);
        expect((await call('GET', `/v1/streams/${stream.id}`)).statusCode).toBe(404);
        expect((await part(stream.id, exec.id, 2, rows('b', 2))).statusCode).toBe(404);
        await sweepStreams(services);
        expect(await partTables(exec.id)).toEqual([]);
        const rowsLeft = await ts.store.db
          .selectFrom('dataset_streams')
          .select('id')
          .where('id', '=', stream.id)
          .execute();
        expect(rowsLeft).toEqual([]);
      });
    });
  });
}
