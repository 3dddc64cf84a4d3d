/**
 * The API platform's proxy (issue 14) on both stores, over real HTTP: one listening Gatehouse per
 * store and a real upstream on a loopback port. Methods, path parameters, query and body; a large
 * body streamed both ways (the upstream must see the first bytes before the client has sent the
 * rest, which a buffering proxy could never do); upstream 5xx passed through; 502 and 504; the
 * three authentication methods (jwt with a JWKS server of its own); IP allow-list; collection not
 * allowed; disabled profile refused on its next call, on this node and (a second app over the same
 * store) on another; HEAD through a GET endpoint; a credential of no access profile refused; unknown
 * paths answer as before.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import type { Services } from '../../src/services/index.js';
import { createUser, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const MB = 1024 * 1024;

interface Upstream {
  url: string;
  /** Resolves once the upstream has read at least `bytes` of the current /big-upload body. */
  received(bytes: number): Promise<void>;
  /** Lets /big-download go on after its first chunk. */
  releaseDownload(): void;
  close(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  let uploaded = 0;
  let waiters: Array<{ bytes: number; resolve: () => void }> = [];
  let release: () => void = () => {};
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/big-upload') {
      uploaded = 0;
      const hash = crypto.createHash('sha256');
      req.on('data', (chunk: Buffer) => {
        uploaded += chunk.length;
        hash.update(chunk);
        const ready = waiters.filter((w) => uploaded >= w.bytes);
        waiters = waiters.filter((w) => uploaded < w.bytes);
        for (const w of ready) w.resolve();
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ bytes: uploaded, sha256: hash.digest('hex') }));
      });
      return;
    }
    if (url.pathname === '/big-download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(MB, 7));
      const more = new Promise<void>((resolve) => {
        release = resolve;
      });
      void more.then(() => {
        for (let i = 0; i < 49; i++) res.write(Buffer.alloc(MB, 7));
        res.end();
      });
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (url.pathname.startsWith('/fail/')) {
        res.writeHead(Number(url.pathname.split('/')[2]), {
          'content-type': 'text/plain',
          'x-upstream': 'yes',
        });
        res.end('upstream says no');
        return;
      }
      if (url.pathname === '/slow') return; // never answers: the endpoint's timeout decides
      if (url.pathname === '/hop') {
        // An interim answer first, then one whose Connection header names a hop-by-hop header.
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.writeHead(200, {
          'content-type': 'application/json',
          connection: 'x-secret-hop',
          'x-secret-hop': 'for the next hop only',
        });
        res.end(JSON.stringify({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }));
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        'x-upstream': 'yes',
        'x-upstream-method': req.method ?? '',
      });
      res.end(
        JSON.stringify({
          method: req.method,
          path: url.pathname,
          query: url.search,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received: (bytes) =>
      uploaded >= bytes ? Promise.resolve() : new Promise((resolve) => waiters.push({ bytes, resolve })),
    releaseDownload: () => release(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A JWKS endpoint serving whichever public keys the test puts in `keys`. */
async function startJwks(): Promise<{ url: string; keys: object[]; close(): Promise<void> }> {
  const state = { keys: [] as object[] };
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`,
    get keys() {
      return state.keys;
    },
    set keys(value) {
      state.keys = value;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as { url: string; keys: object[]; close(): Promise<void> };
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`API platform proxy (${dialect.name})`, () => {
    let ts: TestStore;
    let app: App;
    let services: Services;
    let base: string;
    let upstream: Upstream;
    let jwks: Awaited<ReturnType<typeof startJwks>>;
    let apiToken: string;
    let oauth: { clientId: string; clientSecret: string };
    let tokenProfileId: number;
    let clock: TestApp['clock'];
    let config: TestApp['config'];

    beforeAll(async () => {
      ts = await dialect.open();
      upstream = await startUpstream();
      jwks = await startJwks();
      ({ app, services, clock, config } = await testApp(ts.store, {
        config: { gatewayJwksCooldownSeconds: 0 },
      }));
      await services.keys.prepare();
      await createUser(services, 'gw-owner@example.com', 'Privileged');
      await app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const p = services.platform;
      const shop = await p.createCollection(
        { name: 'Shop', prefix: 'shop', upstreamUrl: `${upstream.url}/base` },
        OPERATOR,
        CLI_ACTOR,
      );
      const direct = await p.createCollection(
        { name: 'Direct', prefix: 'direct', upstreamUrl: upstream.url },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createCollection(
        { name: 'Other', prefix: 'other', upstreamUrl: upstream.url },
        OPERATOR,
        CLI_ACTOR,
      );
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        await p.createEndpoint(
          shop.id,
          { name: `${method} item`, method, path: '/orders/:id/items/:item', upstreamPath: '/o/:item/:id' },
          OPERATOR,
          CLI_ACTOR,
        );
      }
      await p.createEndpoint(
        shop.id,
        { name: 'Off', method: 'GET', path: '/off', enabled: false },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createEndpoint(
        direct.id,
        { name: 'Upload', method: 'POST', path: '/big-upload' },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createEndpoint(
        direct.id,
        { name: 'Download', method: 'GET', path: '/big-download' },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createEndpoint(
        direct.id,
        { name: 'Fail', method: 'GET', path: '/fail/:code' },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createEndpoint(
        direct.id,
        { name: 'Slow', method: 'GET', path: '/slow', timeoutMs: 300 },
        OPERATOR,
        CLI_ACTOR,
      );
      await p.createEndpoint(direct.id, { name: 'Hop', method: 'POST', path: '/hop' }, OPERATOR, CLI_ACTOR);
      const token = await p.createProfile(
        { name: 'Token', authMethod: 'token', collections: [shop.id, direct.id] },
        OPERATOR,
        CLI_ACTOR,
      );
      tokenProfileId = token.profile.id;
      apiToken = (token.credentials as { apiToken: string }).apiToken;
      const issued = await p.createProfile(
        { name: 'OAuth', authMethod: 'oauth2', collections: [shop.id], owner: 'gw-owner@example.com' },
        OPERATOR,
        CLI_ACTOR,
      );
      oauth = issued.credentials as { clientId: string; clientSecret: string };
      await p.createProfile(
        { name: 'Far away', authMethod: 'token', collections: [shop.id], ipAllowList: ['203.0.113.0/24'] },
        OPERATOR,
        CLI_ACTOR,
      );
    });
    afterAll(async () => {
      await app?.close();
      await upstream?.close();
      await jwks?.close();
      await ts?.dispose();
    });

    const withToken = (token = apiToken) => ({ 'api-token': token });

    it('forwards method, path parameters, query and body, with the forwarding headers and without credentials', async () => {
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const hasBody = method !== 'GET' && method !== 'OPTIONS';
        const res = await fetch(`${base}/shop/orders/42/items/a%2Fb?x=1&y=%C3%A9`, {
          method,
          headers: {
            ...withToken(),
            'content-type': 'application/json',
            'x-gatehouse-profile': 'spoofed',
            'x-request-id': 'req-1',
          },
          ...(hasBody ? { body: JSON.stringify({ n: 1 }) } : {}),
        });
        expect(res.status, method).toBe(200);
        expect(res.headers.get('x-upstream')).toBe('yes');
        const echo = (await res.json()) as {
          method: string;
          path: string;
          query: string;
          body: string;
          headers: Record<string, string>;
        };
        expect(echo).toMatchObject({
          method,
          path: '/base/o/a%2Fb/42',
          query: '?x=1&y=%C3%A9',
          body: hasBody ? '{"n":1}' : '',
        });
        expect(echo.headers['api-token']).toBeUndefined();
        expect(echo.headers.authorization).toBeUndefined();
        expect(echo.headers['x-gatehouse-profile']).toBe(String(tokenProfileId));
        expect(echo.headers['x-gatehouse-client-id']).toBeUndefined();
        expect(echo.headers['x-request-id']).toBe('req-1');
        expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
        expect(echo.headers['x-forwarded-proto']).toBe('http');
        expect(echo.headers['x-forwarded-host']).toBe(new URL(base).host);
      }
    });

    it('streams a 50 MB upload and a 50 MB download through, never holding the whole body', async () => {
      const total = 50 * MB;
      const chunk = Buffer.alloc(MB, 3);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          // After the first megabyte, wait until the upstream has it: a proxy that buffered the
          // whole body before forwarding would never let this go on.
          if (sent === MB) await upstream.received(MB);
          if (sent >= total) return controller.close();
          controller.enqueue(chunk);
          sent += chunk.length;
        },
      });
      const up = await fetch(`${base}/direct/big-upload`, {
        method: 'POST',
        headers: { ...withToken(), 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(up.status).toBe(200);
      const expected = crypto.createHash('sha256');
      for (let i = 0; i < 50; i++) expected.update(chunk);
      expect(await up.json()).toEqual({ bytes: total, sha256: expected.digest('hex') });

      const down = await fetch(`${base}/direct/big-download`, { headers: withToken() });
      expect(down.status).toBe(200);
      const reader = down.body!.getReader();
      let received = 0;
      // The upstream sends the rest only once the client has the first megabyte.
      while (received < MB) received += (await reader.read()).value?.length ?? 0;
      upstream.releaseDownload();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
      expect(received).toBe(total);
    });

    it('forwards a compressed request body as it came: Content-Encoding is the upstream’s business', async () => {
      const plain = Buffer.from(JSON.stringify({ n: 'x'.repeat(5000) }));
      for (const [encoding, body] of [
        ['gzip', zlib.gzipSync(plain)],
        ['deflate', zlib.deflateSync(plain)],
        ['br', zlib.brotliCompressSync(plain)],
      ] as const) {
        const res = await fetch(`${base}/direct/big-upload`, {
          method: 'POST',
          headers: { ...withToken(), 'content-type': 'application/json', 'content-encoding': encoding },
          body,
        });
        expect(res.status, encoding).toBe(200);
        expect(await res.json(), encoding).toEqual({
          bytes: body.length,
          sha256: crypto.createHash('sha256').update(body).digest('hex'),
        });
      }
    });

    it('passes upstream errors through, and answers 502 and 504 naming the endpoint only', async () => {
      const failed = await fetch(`${base}/direct/fail/503`, { headers: withToken() });
      expect(failed.status).toBe(503);
      expect(failed.headers.get('x-upstream')).toBe('yes');
      expect(await failed.text()).toBe('upstream says no');
      expect((await fetch(`${base}/direct/fail/404`, { headers: withToken() })).status).toBe(404);

      const slow = await fetch(`${base}/direct/slow`, { headers: withToken() });
      expect(slow.status).toBe(504);
      expect(await slow.json()).toEqual({
        error: 'gateway_timeout',
        message: 'The upstream of endpoint "Slow" (GET /slow) did not answer within 300 ms.',
        details: { endpoint: { id: expect.any(Number), name: 'Slow' } },
      });

      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const dead = await services.platform.createCollection(
        { name: 'Dead', prefix: 'dead', upstreamUrl: `http://127.0.0.1:${deadPort}` },
        OPERATOR,
        CLI_ACTOR,
      );
      await services.platform.createEndpoint(
        dead.id,
        { name: 'Gone', method: 'GET', path: '/x' },
        OPERATOR,
        CLI_ACTOR,
      );
      await services.platform.updateProfile(
        tokenProfileId,
        { collections: ['shop', 'direct', 'dead'] },
        OPERATOR,
        CLI_ACTOR,
      );
      const unreachable = await fetch(`${base}/dead/x`, { headers: withToken() });
      expect(unreachable.status).toBe(502);
      const text = await unreachable.text();
      expect(JSON.parse(text)).toEqual({
        error: 'bad_gateway',
        message: 'The upstream of endpoint "Gone" (GET /x) could not be reached.',
        details: { endpoint: { id: expect.any(Number), name: 'Gone' } },
      });
      expect(text).not.toContain(String(deadPort));
    });

    it('answers unknown and disabled paths as an unknown route, before asking for credentials', async () => {
      for (const path of ['/nothing/here', '/shop/off', '/shop/orders/1', '/shop/orders/../items/x']) {
        const res = await fetch(`${base}${path}`, { headers: withToken() });
        expect(res.status, path).toBe(404);
        expect(((await res.json()) as { error: string }).error).toBe('not_found');
      }
      const noCredential = await fetch(`${base}/shop/orders/1/items/2`);
      expect(noCredential.status).toBe(401);
      const wrong = await fetch(`${base}/shop/orders/1/items/2`, { headers: withToken('gh_api_wrong') });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as { error: string }).error).toBe('invalid_token');
      // Gatehouse's own routes are untouched by the catch-all.
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });

    it('refuses a collection the profile may not call, and a call from outside the IP allow-list (403)', async () => {
      // The profile check comes before the endpoint is looked up: an existing collection answers 403.
      const refused = await fetch(`${base}/other/anything`, { headers: withToken() });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: 'forbidden',
        message: 'The access profile "Token" may not call the API collection "Other".',
        details: { reason: 'collection_not_allowed' },
      });
      const far = await services.platform.regenerateCredentials('Far away', {}, OPERATOR, CLI_ACTOR);
      const outside = await fetch(`${base}/shop/orders/1/items/2`, {
        headers: withToken((far.credentials as { apiToken: string }).apiToken),
      });
      expect(outside.status).toBe(403);
      expect(await outside.json()).toMatchObject({ details: { reason: 'ip_not_allowed' } });
    });

    it('takes an oauth2 profile token from /oauth2/token, and refuses it once the profile is disabled', async () => {
      const tokenRes = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: oauth.clientId,
          client_secret: oauth.clientSecret,
        }),
      });
      expect(tokenRes.status).toBe(200);
      const { access_token: bearer, scope } = (await tokenRes.json()) as {
        access_token: string;
        scope: string;
      };
      expect(scope).toBe('gateway');
      const call = () =>
        fetch(`${base}/shop/orders/7/items/8`, { headers: { authorization: `Bearer ${bearer}` } });
      const ok = await call();
      expect(ok.status).toBe(200);
      expect(
        ((await ok.json()) as { headers: Record<string, string> }).headers['x-gatehouse-client-id'],
      ).toBe(oauth.clientId);
      // The token reaches nothing else of Gatehouse's.
      expect(
        (await fetch(`${base}/v1/workflows`, { headers: { authorization: `Bearer ${bearer}` } })).status,
      ).toBe(403);

      await services.platform.updateProfile('OAuth', { enabled: false }, OPERATOR, CLI_ACTOR);
      const refused = await call();
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({
        error: 'invalid_token',
        message: 'The access profile "OAuth" is disabled.',
      });
      await services.platform.updateProfile('OAuth', { enabled: true }, OPERATOR, CLI_ACTOR);
      expect((await call()).status).toBe(200);
    });

    it('takes an outside IdP JWT checked against its JWKS (issuer, audience, claims; a new kid is fetched)', async () => {
      const first = await generateKeyPair('ES256');
      const second = await generateKeyPair('ES256');
      jwks.keys = [{ ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'ES256' }];
      await services.platform.createProfile(
        {
          name: 'IdP',
          authMethod: 'jwt',
          collections: ['shop'],
          jwt: {
            jwksUrl: jwks.url,
            issuer: 'https://idp.example.test',
            audience: 'shop-api',
            requiredClaims: { tier: 'gold' },
          },
        },
        OPERATOR,
        CLI_ACTOR,
      );
      const sign = (
        key: Parameters<SignJWT['sign']>[0],
        kid: string,
        claims: Record<string, unknown>,
        aud = 'shop-api',
      ) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'ES256', kid })
          .setIssuer('https://idp.example.test')
          .setAudience(aud)
          .setSubject('partner-7')
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(key);
      const call = (jwt: string) =>
        fetch(`${base}/shop/orders/1/items/2`, { headers: { authorization: `Bearer ${jwt}` } });
      const ok = await call(await sign(first.privateKey, 'k1', { tier: 'gold' }));
      expect(ok.status).toBe(200);
      expect(
        ((await ok.json()) as { headers: Record<string, string> }).headers['x-gatehouse-client-id'],
      ).toBe('partner-7');
      expect((await call(await sign(first.privateKey, 'k1', { tier: 'silver' }))).status).toBe(401);
      expect((await call(await sign(first.privateKey, 'k1', { tier: 'gold' }, 'other-api'))).status).toBe(
        401,
      );
      // A key the JWKS does not have yet, then has: fetched again on the unknown kid.
      expect((await call(await sign(second.privateKey, 'k2', { tier: 'gold' }))).status).toBe(401);
      jwks.keys = [...jwks.keys, { ...(await exportJWK(second.publicKey)), kid: 'k2', alg: 'ES256' }];
      expect((await call(await sign(second.privateKey, 'k2', { tier: 'gold' }))).status).toBe(200);
    });
    it('drops hop-by-hop headers both ways (those a Connection header names too), and takes Expect: 100-continue', async () => {
      // node:http, not fetch: fetch will not send Expect or a Connection header of its own.
      const { status, headers, body } = await new Promise<{
        status: number;
        headers: http.IncomingHttpHeaders;
        body: string;
      }>((resolve, reject) => {
        const req = http.request(`${base}/direct/hop`, {
          method: 'POST',
          agent: false,
          headers: {
            ...withToken(),
            'content-type': 'text/plain',
            expect: '100-continue',
            connection: 'keep-alive, x-drop-me',
            'x-drop-me': 'for Gatehouse only',
            'x-kept': 'yes',
          },
        });
        req.on('continue', () => req.end('hello'));
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      expect(status).toBe(200);
      expect(headers['x-secret-hop']).toBeUndefined();
      expect(headers['x-request-id']).toBeDefined();
      const echo = JSON.parse(body) as { headers: Record<string, string>; body: string };
      expect(echo.body).toBe('hello');
      expect(echo.headers['x-kept']).toBe('yes');
      expect(echo.headers['x-drop-me']).toBeUndefined();
      expect(echo.headers.expect).toBeUndefined();
      expect(echo.headers.host).toBe(new URL(upstream.url).host);
    });

    it('answers HEAD through the GET endpoint: the upstream sees HEAD, the caller gets its headers and no body', async () => {
      const res = await fetch(`${base}/shop/orders/42/items/7?q=1`, { method: 'HEAD', headers: withToken() });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(res.headers.get('x-upstream-method')).toBe('HEAD');
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.text()).toBe('');
    });

    it('refuses a credential of no access profile: an ordinary client token with scope gateway (403), a developer token (401)', async () => {
      const owner = await createUser(services, `plain-owner-${dialect.name}@example.com`, 'Privileged');
      const plain = await services.clients.create(
        { name: 'Plain client', scopes: ['gateway', 'data'], owner: owner.email },
        CLI_ACTOR,
      );
      const tokenRes = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: plain.clientId,
          client_secret: plain.clientSecret,
          scope: 'gateway',
        }),
      });
      expect(tokenRes.status).toBe(200);
      const { access_token: bearer } = (await tokenRes.json()) as { access_token: string };
      const refused = await fetch(`${base}/shop/orders/1/items/2`, {
        headers: { authorization: `Bearer ${bearer}` },
      });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: 'forbidden',
        message: 'This credential belongs to no access profile; the API platform takes only those.',
        details: { reason: 'no_access_profile' },
      });

      // A developer token is not a kind of credential the gateway takes at all: the surface's 401.
      const developer = await services.accessTokens.create(
        { description: 'not for the gateway', user: owner.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      for (const headers of <Array<Record<string, string>>>[
        { authorization: `Bearer ${developer.token}` },
        { 'x-domo-developer-token': developer.token },
      ]) {
        const res = await fetch(`${base}/shop/orders/1/items/2`, { headers });
        expect(res.status).toBe(401);
        expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
      }
    });

    it('two nodes on one store: a profile disabled through node A is refused on its next call through node B', async () => {
      const peer = await testApp(await ts.openPeer(), { clock, config });
      try {
        const issued = await services.platform.createProfile(
          { name: 'Two nodes', authMethod: 'oauth2', collections: ['shop'], owner: 'gw-owner@example.com' },
          OPERATOR,
          CLI_ACTOR,
        );
        const { clientId, clientSecret } = issued.credentials as { clientId: string; clientSecret: string };
        const token = await fetch(`${base}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: clientId,
            client_secret: clientSecret,
          }),
        });
        const { access_token: bearer } = (await token.json()) as { access_token: string };
        const onB = () =>
          peer.app.inject({
            method: 'GET',
            url: '/shop/orders/5/items/6',
            headers: { authorization: `Bearer ${bearer}` },
          });
        // Node B has the catalog cached from this call on.
        await peer.services.epochs.poll();
        expect((await onB()).statusCode).toBe(200);

        const admin = await createUser(services, `gw-admin-${dialect.name}@example.com`, 'Admin');
        const adminToken = await services.accessTokens.create(
          { description: 'gateway admin', user: admin.id, expiresInDays: 1 },
          OPERATOR,
          CLI_ACTOR,
        );
        const disabled = await fetch(`${base}/api/admin/v1/platform/profiles/${issued.profile.id}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${adminToken.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ enabled: false }),
        });
        expect(disabled.status).toBe(200);
        // B learns of the change by its cache-epoch poll (on PostgreSQL also by NOTIFY): the next call is refused.
        await peer.services.epochs.poll();
        const refused = await onB();
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toMatchObject({
          error: 'invalid_token',
          message: 'The access profile "Two nodes" is disabled.',
        });
      } finally {
        await peer.app.close();
      }
    });
  });
}
