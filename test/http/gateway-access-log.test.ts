/**
 * The access log and the API platform's call log (README › Logs): a successful gateway call is
 * recorded in the call log only, with no access-log line besides; a refused one (401) and one the
 * upstream failed (5xx status passed through) keep their access-log line; a path naming no
 * collection (an unknown route) keeps its line too.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describe('gateway calls in the access log (SQLite)', () => {
  let ts: TestStore;
  let t: TestApp;
  let upstream: Upstream;
  let base: string;
  let apiToken: string;
  let output = '';

  /** The access-log lines of the request whose X-Request-Id was `id`. */
  const linesOf = (id: string) =>
    output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; reqId?: string; status?: number })
      .filter((line) => line.msg === 'request' && line.reqId === id);

  beforeAll(async () => {
    ts = await sqliteCase.open();
    upstream = await startUpstream();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        output += chunk.toString('utf8');
        done();
      },
    });
    t = await testApp(ts.store, { logger: createLogger('info', sink) });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const p = t.services.platform;
    const shop = await p.createCollection(
      { name: 'Shop', prefix: 'shop', upstreamUrl: upstream.url },
      OPERATOR,
      CLI_ACTOR,
    );
    await p.createEndpoint(
      shop.id,
      { name: 'Item', method: 'GET', path: '/items/:id', upstreamPath: '/echo/:id' },
      OPERATOR,
      CLI_ACTOR,
    );
    await p.createEndpoint(
      shop.id,
      { name: 'Status', method: 'GET', path: '/status/:code', upstreamPath: '/status/:code' },
      OPERATOR,
      CLI_ACTOR,
    );
    const profile = await p.createProfile(
      { name: 'Partner', authMethod: 'token', collections: [shop.id] },
      OPERATOR,
      CLI_ACTOR,
    );
    apiToken = (profile.credentials as { apiToken: string }).apiToken;
  });
  afterAll(async () => {
    await t?.app.close();
    await upstream?.close();
    await ts?.dispose();
  });

  const call = async (path: string, id: string, token: string | null = apiToken) => {
    const res = await fetch(`${base}${path}`, {
      headers: { 'x-request-id': id, ...(token === null ? {} : { 'api-token': token }) },
    });
    await res.arrayBuffer();
    return res.status;
  };

  it('writes no access-log line for a successful call, one for a refused or failed one', async () => {
    expect(await call('/shop/items/1', 'gw-ok')).toBe(200);
    expect(await call('/shop/items/1', 'gw-401', null)).toBe(401);
    expect(await call('/shop/status/503', 'gw-503')).toBe(503);
    expect(await call('/nowhere/items/1', 'gw-404')).toBe(404);
    // (a line is written once the answer has gone out, maybe just after the client read it)
    await vi.waitFor(() => {
      expect(linesOf('gw-401')).toMatchObject([{ status: 401 }]);
      expect(linesOf('gw-503')).toMatchObject([{ status: 503 }]);
      expect(linesOf('gw-404')).toMatchObject([{ status: 404 }]);
    });
    // Every later request's line is in, so the first one's would be too.
    expect(linesOf('gw-ok')).toEqual([]);
  });
});
