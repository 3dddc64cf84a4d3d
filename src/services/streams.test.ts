/**
 * StreamsService on both stores, for what HTTP cannot time: two callers racing to start an
 * execution or to send the same part, an execution that ends while a part is still arriving,
 * and two nodes running the cleanup at once.
 */
import { PassThrough, Readable } from 'node:stream';
import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asPrincipal, testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import type { ManualClock } from '../clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR, type Principal } from './principal.js';

const SCHEMA = { columns: [{ name: 'n', type: 'LONG' }] };

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`StreamsService (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let owner: Principal;

    const csv = (text: string) => Readable.from([Buffer.from(text)]);
    async function newStream(name: string) {
      return services.streams.create(
        { dataSet: { name, schema: SCHEMA }, updateMethod: 'APPEND' },
        owner,
        CLI_ACTOR,
      );
    }
    async function partTables(execId: number): Promise<string[]> {
      const text =
        dialect.name === 'postgres'
          ? 'select tablename as name from pg_tables where schemaname = current_schema()'
          : "select name from sqlite_master where type = 'table'";
      const result = await ts.store.db.executeQuery<{ name: string }>(CompiledQuery.raw(text, []));
      return result.rows
        .map((r) => r.name)
        .filter((name) => new RegExp(`_s${execId}_[0-9a-f]{8}$`).test(name));
    }

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      const user = await services.users.create(
        { email: 'owner@example.com', displayName: 'Owner', role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      owner = await asPrincipal(services, user);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('two callers starting an execution at once: one wins, the other gets a 409', async () => {
      const stream = await newStream('Race start');
      const results = await Promise.allSettled([
        services.streams.createExecution(stream.id, owner, CLI_ACTOR),
        services.streams.createExecution(stream.id, owner, CLI_ACTOR),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toBeInstanceOf(ConflictError);
      expect(await services.streams.listExecutions(stream.id)).toHaveLength(1);
    });

    it('the same part sent twice at once: one is kept, the other table is dropped', async () => {
      const stream = await newStream('Race part');
      const exec = await services.streams.createExecution(stream.id, owner, CLI_ACTOR);
      await Promise.all([
        services.streams.uploadPart(stream.id, exec.id, 1, csv('1\n2\n'), owner, CLI_ACTOR),
        services.streams.uploadPart(stream.id, exec.id, 1, csv('3\n4\n5\n'), owner, CLI_ACTOR),
      ]);
      const parts = (await services.streams.getExecution(stream.id, exec.id)).parts;
      expect(parts).toHaveLength(1);
      expect([2, 3]).toContain(parts[0]?.rows);
      expect(await partTables(exec.id)).toHaveLength(1);
    });

    it('a part still arriving when its execution is aborted: 409, and its rows are not kept', async () => {
      const stream = await newStream('Late part');
      const exec = await services.streams.createExecution(stream.id, owner, CLI_ACTOR);
      const body = new PassThrough();
      const upload = services.streams.uploadPart(stream.id, exec.id, 1, body, owner, CLI_ACTOR);
      body.write('1\n2\n');
      await services.streams.abort(stream.id, exec.id, owner, CLI_ACTOR);
      body.end('3\n');
      await expect(upload).rejects.toThrow(ConflictError);
      await expect(upload).rejects.toThrow(`Execution ${exec.id} is ABORTED: it cannot take more parts.`);
      expect(await partTables(exec.id)).toEqual([]);
      expect((await services.streams.getExecution(stream.id, exec.id)).parts).toEqual([]);
    });

    // Several nodes share PostgreSQL only; two better-sqlite3 connections in one process cannot
    // race (a blocked BEGIN IMMEDIATE blocks the whole event loop, the holder included).
    it.skipIf(dialect.name === 'sqlite')(
      'two nodes running the cleanup at once abort an abandoned execution once',
      async () => {
        const stream = await newStream('Two sweepers');
        const exec = await services.streams.createExecution(stream.id, owner, CLI_ACTOR);
        await services.streams.uploadPart(stream.id, exec.id, 1, csv('1\n'), owner, CLI_ACTOR);
        const active = await ts.store.db
          .selectFrom('dataset_stream_executions')
          .select('id')
          .where('state', '=', 'ACTIVE')
          .execute();
        const peer = await testServices(await ts.openPeer(), { clock });
        clock.advance(services.ctx.config.streamExecutionTtlHours * 3_600_000 + 1);
        const [a, b] = await Promise.all([services.streams.sweep(), peer.services.streams.sweep()]);
        expect(a.expired + b.expired).toBe(active.length);
        expect((await services.streams.getExecution(stream.id, exec.id)).currentState).toBe('ABORTED');
        const events = await services.audit.query({
          action: 'stream.execution_aborted',
          targetId: String(stream.id),
        });
        expect(events.items).toHaveLength(1);
        expect(await partTables(exec.id)).toEqual([]);
      },
    );

    it('refuses bad pages, part numbers and searches with a 400; ids that cannot be rows are 404', async () => {
      await expect(services.streams.list({ limit: 0 })).rejects.toThrow(ValidationError);
      await expect(services.streams.list({ offset: -1 })).rejects.toThrow(ValidationError);
      await expect(services.streams.search('dataSource.owner.id:x')).rejects.toThrow(ValidationError);
      expect(await services.streams.search('dataSource.owner.id:99999999999999999999')).toEqual([]);
      expect(await services.streams.search('dataSource.id:no-such-dataset')).toEqual([]);
      const stream = await newStream('Checks');
      const exec = await services.streams.createExecution(stream.id, owner, CLI_ACTOR);
      await expect(
        services.streams.uploadPart(stream.id, exec.id, 0, csv('1\n'), owner, CLI_ACTOR),
      ).rejects.toThrow(ValidationError);
      await expect(services.streams.get('2147483648')).rejects.toThrow(NotFoundError);
      await expect(services.streams.getExecution(stream.id, '1e3')).rejects.toThrow(NotFoundError);
      await expect(
        services.streams.create({ dataSet: [], updateMethod: 'APPEND' }, owner, CLI_ACTOR),
      ).rejects.toThrow('"dataSet" must be {name, description, schema}.');
    });
  });
}
