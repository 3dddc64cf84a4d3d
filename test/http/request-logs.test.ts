/**
 * What the request log says (Operations › Logs): every 4xx/5xx line carries the error code and
 * message the client got, the principal when the guard identified one, and the request id the
 * client saw in X-Request-Id; and no credential the client sent (a wrong client secret, a
 * password, a bearer token) appears anywhere in the output.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createUser, type TestApp, testApp } from '../helpers/app.js';
import { basic } from '../helpers/oauth.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';
import { CLI_ACTOR } from '../../src/services/context.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  method?: string;
  url?: string;
  status?: number;
  error?: string;
  message?: string;
  principal?: { kind: string; id: string | number | null; via: string };
}

describe('request log lines (SQLite)', () => {
  let ts: TestStore;
  let t: TestApp;
  let output = '';
  let client: { id: string; secret: string };
  let ownerId: number;

  const lines = (): Line[] =>
    output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Line);
  /** The access-log line of the request whose X-Request-Id was `id`. */
  const lineOf = (id: string): Line => {
    const found = lines().filter((line) => line.msg === 'request' && line.reqId === id);
    expect(found, `one access line for ${id}`).toHaveLength(1);
    return found[0]!;
  };

  beforeAll(async () => {
    ts = await sqliteCase.open();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        output += chunk.toString('utf8');
        done();
      },
    });
    t = await testApp(ts.store, { logger: createLogger('info', sink) });
    await t.services.keys.prepare();
    const owner = await createUser(t.services, 'owner@example.com', 'Privileged');
    ownerId = owner.id;
    const issued = await t.services.clients.create(
      { name: 'Nightly export', scopes: ['data'], owner: owner.email },
      CLI_ACTOR,
    );
    client = { id: issued.clientId, secret: issued.clientSecret };
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('a wrong client secret: the line names invalid_client and its message, and the secret is nowhere', async () => {
    const wrongSecret = `${client.secret.slice(0, -6)}zzzzzz`;
    const viaBasic = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: {
        authorization: basic(client.id, wrongSecret),
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': 'wrong-secret-basic',
      },
      payload: 'grant_type=client_credentials',
    });
    const inBody = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': 'wrong-secret-body' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: client.id,
        client_secret: wrongSecret,
      }).toString(),
    });
    expect([viaBasic.statusCode, inBody.statusCode]).toEqual([401, 401]);
    expect(viaBasic.headers['x-request-id']).toBe('wrong-secret-basic');
    for (const id of ['wrong-secret-basic', 'wrong-secret-body']) {
      expect(lineOf(id)).toMatchObject({
        level: 30,
        status: 401,
        error: 'invalid_client',
        message: 'Client authentication failed.',
      });
      // Nobody was authenticated: no principal is claimed for the line.
      expect(lineOf(id).principal).toBeUndefined();
    }
    expect(lineOf('wrong-secret-body').url).toBe('/oauth2/token');
    expect(output).not.toContain(wrongSecret);
    expect(output).not.toContain(client.secret);
  });

  it('a wrong password at sign-in: invalid_credentials with its message, and the password is nowhere', async () => {
    const password = 'Tr0ub4dor&3 is not it';
    const answer = await t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      headers: { 'x-request-id': 'wrong-password' },
      payload: { email: 'owner@example.com', password },
    });
    expect(answer.statusCode).toBe(401);
    expect(lineOf('wrong-password')).toMatchObject({
      method: 'POST',
      url: '/api/admin/v1/session',
      status: 401,
      error: 'invalid_credentials',
      message: 'Email or password is incorrect.',
    });
    expect(output).not.toContain(password);
  });

  it('a bearer token refused for its scope: the line names the client, and the token is nowhere', async () => {
    const issued = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: {
        authorization: basic(client.id, client.secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: 'grant_type=client_credentials&scope=data',
    });
    expect(issued.statusCode).toBe(200);
    const token = (JSON.parse(issued.body) as { access_token: string }).access_token;
    const refused = await t.app.inject({
      method: 'GET',
      url: '/v1/workflows?limit=5',
      headers: { authorization: `Bearer ${token}`, 'x-request-id': 'no-workflow-scope' },
    });
    expect(refused.statusCode).toBe(403);
    const body = JSON.parse(refused.body) as { error: string; message: string };
    expect(lineOf('no-workflow-scope')).toMatchObject({
      status: 403,
      url: '/v1/workflows',
      error: body.error,
      message: body.message,
      principal: { kind: 'client', id: client.id, via: 'client_jwt' },
    });

    const garbled = `${token.slice(0, -8)}AAAAAAAA`;
    const invalid = await t.app.inject({
      method: 'GET',
      url: '/v1/workflows',
      headers: { authorization: `Bearer ${garbled}`, 'x-request-id': 'garbled-token' },
    });
    expect(invalid.statusCode).toBe(401);
    expect(lineOf('garbled-token')).toMatchObject({ status: 401, error: JSON.parse(invalid.body).error });
    expect(lineOf('garbled-token').message).toBe((JSON.parse(invalid.body) as { message: string }).message);

    for (const credential of [token, garbled, token.split('.')[2]!, garbled.split('.')[2]!])
      expect(output).not.toContain(credential);
  });

  it('a signed-in user refused a grant is named by kind and id; a 404 says which route was missing', async () => {
    const reader = await createUser(t.services, 'reader@example.com', 'Participant');
    const signedIn = await t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      payload: { email: 'reader@example.com', password: 'correct horse battery staple' },
    });
    expect(signedIn.statusCode).toBe(200);
    const cookie = signedIn.cookies.find((c) => c.name === 'gatehouse_session')!;
    const refused = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/users',
      headers: { cookie: `gatehouse_session=${cookie.value}`, 'x-request-id': 'reader-refused' },
    });
    expect(refused.statusCode).toBe(403);
    const line = lineOf('reader-refused');
    expect(line).toMatchObject({
      status: 403,
      error: 'forbidden',
      message: (JSON.parse(refused.body) as { message: string }).message,
      principal: { kind: 'user', id: reader.id, via: 'session' },
    });
    expect(reader.id).not.toBe(ownerId);
    expect(output).not.toContain(cookie.value);

    const missing = await t.app.inject({
      method: 'GET',
      url: '/no/such/page?x=1',
      headers: { 'x-request-id': 'nope' },
    });
    expect(missing.statusCode).toBe(404);
    expect(lineOf('nope')).toMatchObject({
      url: '/no/such/page',
      status: 404,
      error: 'not_found',
      message: 'No route for GET /no/such/page.',
    });
  });

  it('a success carries no error fields', async () => {
    const answer = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'healthy' },
    });
    expect(answer.statusCode).toBe(200);
    const line = lineOf('healthy');
    expect(line).toMatchObject({ method: 'GET', url: '/healthz', status: 200 });
    expect(line.error).toBeUndefined();
    expect(line.message).toBeUndefined();
  });
});
