/**
 * DataSet uploads over a real socket (app.inject cannot break a connection off): a client that
 * goes away mid-upload is a 499 in the access log, not a 500, and leaves no staging table; an
 * upload refused at its second row gets its 400 and the connection drains and stays usable.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { asPrincipal, testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`DataSet uploads over a socket (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let app: App;
    let port: number;
    let token: string;
    let userId: number;
    const logged: Array<Record<string, unknown>> = [];

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      await services.keys.prepare();
      const sink = new Writable({
        write(chunk, _encoding, callback) {
          for (const line of chunk.toString().split('\n')) if (line) logged.push(JSON.parse(line));
          callback();
        },
      });
      app = await buildApp({
        config: services.ctx.config,
        store: ts.store,
        services,
        logger: createLogger('info', sink),
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      port = (app.server.address() as AddressInfo).port;
      const user = await services.users.create(
        { email: 'up@example.com', role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      userId = user.id;
      token = (
        await services.accessTokens.create(
          { description: 'uploads', user: user.id, expiresInDays: 1 },
          OPERATOR,
          CLI_ACTOR,
        )
      ).token;
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    async function tablesOf(id: string): Promise<string[]> {
      const prefix = `ds_${id.replace(/-/g, '')}`;
      const rows =
        ts.store.dialect === 'postgres'
          ? await ts.store.db
              .selectFrom('pg_catalog.pg_tables' as never)
              .select('tablename as name' as never)
              .where('schemaname' as never, '=', ts.schema as never)
              .execute()
          : await ts.store.db
              .selectFrom('sqlite_schema' as never)
              .select('name' as never)
              .where('type' as never, '=', 'table' as never)
              .execute();
      return (rows as Array<{ name: string }>).map((r) => r.name).filter((n) => n.startsWith(prefix));
    }

    it('a client that disconnects mid-upload: 499 client_closed_request in the access log, no 500, staging dropped, data unchanged', async () => {
      const dataset = await services.datasets.create(
        {
          name: 'Dropped',
          schema: {
            columns: [
              { name: 'A', type: 'STRING' },
              { name: 'N', type: 'LONG' },
            ],
          },
        },
        await asPrincipal(services, userId),
        CLI_ACTOR,
      );
      const request = http.request({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `/v1/datasets/${dataset.id}/data`,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'text/csv',
          'transfer-encoding': 'chunked',
        },
      });
      request.on('error', () => {});
      request.write('a,1\nb,2\n'.repeat(5000));
      // Wait until the import is under way (its staging table exists), then break the connection.
      await vi.waitFor(async () => expect((await tablesOf(dataset.id)).length).toBe(2), { timeout: 10_000 });
      request.destroy();
      await vi.waitFor(
        () => {
          const line = logged.find((l) => l.msg === 'request' && l.url === `/v1/datasets/${dataset.id}/data`);
          expect(line).toMatchObject({ status: 499, error: 'client_closed_request' });
        },
        { timeout: 10_000 },
      );
      expect(logged.filter((l) => l.msg === 'request failed')).toEqual([]);
      expect(
        logged.filter((l) => l.msg === 'request' && l.url === `/v1/datasets/${dataset.id}/data`),
      ).toHaveLength(1);
      await vi.waitFor(
        async () => expect(await tablesOf(dataset.id)).toEqual([`ds_${dataset.id.replace(/-/g, '')}`]),
        {
          timeout: 10_000,
        },
      );
      expect((await services.datasets.get(dataset.id)).rows).toBe(0);
    });

    it('an upload refused at row 2 while the client is still sending: the 400 arrives, the rest of the body is drained, and the connection serves the next request', async () => {
      const dataset = await services.datasets.create(
        {
          name: 'Refused early',
          schema: {
            columns: [
              { name: 'A', type: 'STRING' },
              { name: 'N', type: 'LONG' },
            ],
          },
        },
        await asPrincipal(services, userId),
        CLI_ACTOR,
      );
      const socket = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
      });
      const send = (text: string) =>
        new Promise<void>((resolve, reject) => {
          if (socket.write(text)) resolve();
          else socket.once('drain', resolve);
          socket.once('error', reject);
        });
      await send(
        `PUT /v1/datasets/${dataset.id}/data HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n` +
          'Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n',
      );
      const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;
      await send(chunk('a,1\nb,not a number\n'));
      // 16 MB more, far past every socket buffer: a server that stopped reading would block these writes.
      const rows = 'c,3\n'.repeat(16_384);
      for (let sent = 0; sent < 16 * 1024 * 1024; sent += rows.length) await send(chunk(rows));
      await send('0\r\n\r\n');
      await vi.waitFor(() => expect(received).toContain('"reason":"not a whole number"}}'), {
        timeout: 10_000,
      });
      expect(received).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(received).not.toMatch(/^connection: close/im);
      const body = received.slice(received.indexOf('\r\n\r\n') + 4);
      expect(JSON.parse(body)).toEqual({
        error: 'validation_error',
        message: 'Row 2, column 2 ("N", LONG): "not a number" is not a whole number. Nothing was imported.',
        details: { row: 2, column: 'N', type: 'LONG', value: 'not a number', reason: 'not a whole number' },
      });
      received = '';
      await send('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await vi.waitFor(() => expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*"status":"ok"/), {
        timeout: 10_000,
      });
      socket.destroy();
      expect((await services.datasets.get(dataset.id)).rows).toBe(0);
      expect(await tablesOf(dataset.id)).toEqual([`ds_${dataset.id.replace(/-/g, '')}`]);
    });
  });
}
