/**
 * The token endpoints as spec 001/002 (Domo) and 003 (Workato) describe them:
 * the documented requests replayed, every header and field asserted, the JWT
 * verified with jose against the served JWKS; then every error. On both store
 * dialects.
 */
import zlib from 'node:zlib';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'content-type': 'application/json;charset=utf-8',
};

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`token endpoints (${dialect.name})`, () => {
    let ts: TestStore;
    let f: OAuthFixture;
    let client: { id: string; secret: string };

    beforeAll(async () => {
      ts = await dialect.open();
      f = await oauthFixture(ts.store);
      client = await f.createClient({ name: 'Reporting', scopes: ['data', 'user', 'dashboard'] });
    });
    afterAll(async () => {
      await f?.close();
      await ts?.dispose();
    });

    function expectOAuthError(
      response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
      status: number,
      body: { error: string; error_description: string },
      extraHeaders: Record<string, string> = {},
    ) {
      expect(response.statusCode).toBe(status);
      expect(response.headers).toMatchObject({ ...SECURITY_HEADERS, ...extraHeaders });
      if (!('www-authenticate' in extraHeaders)) expect(response.headers['www-authenticate']).toBeUndefined();
      expect(response.json()).toEqual(body);
    }

    async function verifyWithServedJwks(token: string) {
      const jwks = await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      return jwtVerify(token, createLocalJWKSet(jwks.json()), {
        issuer: f.config.issuer,
        audience: f.config.audience,
        typ: 'at+jwt',
        currentDate: f.clock.now(),
      });
    }

    describe('spec 001/002: GET /oauth/token with Basic', () => {
      it('answers the curl request of spec 002 with Domo headers and body, and a JWT verifiable with the served JWKS', async () => {
        // curl -v -u {CLIENT_ID}:{CLIENT_SECRET} "https://…/oauth/token?grant_type=client_credentials&scope=data%20user"
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials&scope=data%20user',
          headers: {
            authorization: basic(client.id, client.secret),
            'user-agent': 'curl/8.5.0',
            accept: '*/*',
          },
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers).toMatchObject(SECURITY_HEADERS);
        const body = response.json();
        expect(Object.keys(body)).toEqual([
          'access_token',
          'customer',
          'expires_in',
          'jti',
          'role',
          'scope',
          'token_type',
          'userId',
        ]);
        expect(body).toEqual({
          access_token: expect.stringMatching(/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/),
          customer: 'gatehouse',
          expires_in: 3599,
          jti: expect.stringMatching(UUID),
          role: 'Privileged',
          scope: 'data user',
          token_type: 'bearer',
          userId: f.owner.id,
        });

        const { payload, protectedHeader } = await verifyWithServedJwks(body.access_token);
        const jwks = (await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
        expect(protectedHeader).toEqual({ alg: 'RS256', kid: jwks.keys[0].kid, typ: 'at+jwt' });
        const iat = Math.floor(f.clock.now().getTime() / 1000);
        expect(Object.keys(payload)).toEqual([
          'role',
          'scope',
          'exp',
          'env',
          'userId',
          'jti',
          'client_id',
          'customer',
          'iss',
          'sub',
          'aud',
          'iat',
        ]);
        expect(payload).toEqual({
          role: 'Privileged',
          scope: ['data', 'user'],
          exp: iat + 3600,
          env: 'prod1',
          userId: f.owner.id,
          jti: body.jti,
          client_id: client.id,
          customer: 'gatehouse',
          iss: 'http://localhost:8080',
          sub: client.id,
          aud: 'http://localhost:8080',
          iat,
        });
      });

      it('gzips the body when the client accepts it, as Domo does', async () => {
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials&scope=data',
          headers: { authorization: basic(client.id, client.secret), 'accept-encoding': 'gzip, deflate' },
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers).toMatchObject({
          ...SECURITY_HEADERS,
          'content-encoding': 'gzip',
          vary: 'accept-encoding',
        });
        const body = JSON.parse(zlib.gunzipSync(response.rawPayload).toString('utf8'));
        expect(body).toMatchObject({ scope: 'data', token_type: 'bearer', expires_in: 3599 });
      });

      it('grants all the client scopes when scope is absent, accepts commas, collapses duplicates into catalog order', async () => {
        const cases: Array<[string, string]> = [
          ['', 'dashboard data user'],
          ['&scope=', 'dashboard data user'],
          ['&scope=user%20data%20data', 'data user'],
          ['&scope=user,%20dashboard', 'dashboard user'],
          ['&scope=data+user', 'data user'],
        ];
        for (const [query, scope] of cases) {
          const response = await f.app.inject({
            method: 'GET',
            url: `/oauth/token?grant_type=client_credentials${query}`,
            headers: { authorization: basic(client.id, client.secret) },
          });
          expect(response.statusCode, query).toBe(200);
          expect(response.json().scope, query).toBe(scope);
        }
      });

      it('decodes form-url-encoded Basic credentials (RFC 6749 §2.3.1)', async () => {
        const encodedSecret = `%${client.secret.charCodeAt(0).toString(16)}${client.secret.slice(1)}`;
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials',
          headers: { authorization: basic(encodeURIComponent(client.id), encodedSecret) },
        });
        expect(response.statusCode).toBe(200);
      });

      it('uses the client TTL for exp and expires_in', async () => {
        const short = await f.createClient({ scopes: ['data'], ttl: 600 });
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials',
          headers: { authorization: basic(short.id, short.secret) },
        });
        const body = response.json();
        expect(body.expires_in).toBe(599);
        const { payload } = await verifyWithServedJwks(body.access_token);
        expect(payload.exp! - payload.iat!).toBe(600);
      });
    });

    describe('spec 003: POST /oauth2/token', () => {
      it('answers the documented form + Basic request with Workato’s body', async () => {
        const response = await f.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: { authorization: basic(client.id, client.secret), ...FORM },
          payload: 'grant_type=client_credentials',
        });
        expect(response.statusCode).toBe(200);
        expect(response.headers).toMatchObject(SECURITY_HEADERS);
        const body = response.json();
        expect(Object.keys(body)).toEqual(['access_token', 'token_type', 'expires_in', 'scope']);
        expect(body).toEqual({
          access_token: expect.any(String),
          token_type: 'bearer',
          expires_in: 3599,
          scope: 'dashboard data user',
        });
        const { payload } = await verifyWithServedJwks(body.access_token);
        expect(payload.client_id).toBe(client.id);
      });

      it('accepts client_id and client_secret in a form body or a JSON body', async () => {
        const form = await f.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: FORM,
          payload: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: client.id,
            client_secret: client.secret,
            scope: 'data',
          }).toString(),
        });
        expect(form.statusCode).toBe(200);
        expect(form.json().scope).toBe('data');
        const json = await f.app.inject({
          method: 'POST',
          url: '/oauth/token',
          payload: {
            grant_type: 'client_credentials',
            client_id: client.id,
            client_secret: client.secret,
            scope: 'user',
          },
        });
        expect(json.statusCode).toBe(200);
        expect(json.headers).toMatchObject(SECURITY_HEADERS);
        expect(json.json()).toMatchObject({
          scope: 'user',
          token_type: 'bearer',
          userId: f.owner.id,
          role: 'Privileged',
        });
      });
    });

    describe('token endpoint errors (RFC 6749 §5.2)', () => {
      const auth = () => ({ authorization: basic(client.id, client.secret) });

      it('missing grant_type → 400 invalid_request', async () => {
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?scope=data',
          headers: auth(),
        });
        expectOAuthError(response, 400, {
          error: 'invalid_request',
          error_description: 'Missing parameter "grant_type".',
        });
      });

      it('another grant type → 400 unsupported_grant_type', async () => {
        const response = await f.app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: { ...auth(), ...FORM },
          payload: 'grant_type=password&username=a&password=b',
        });
        expectOAuthError(response, 400, {
          error: 'unsupported_grant_type',
          error_description: 'Grant type "password" is not supported; use client_credentials.',
        });
      });

      it('a scope outside the client’s → 400 invalid_scope', async () => {
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials&scope=data%20audit',
          headers: auth(),
        });
        expectOAuthError(response, 400, {
          error: 'invalid_scope',
          error_description: 'The client may not request scope "audit".',
        });
      });

      it('a scope that does not exist → 400 invalid_scope naming the known scopes', async () => {
        const response = await f.app.inject({
          method: 'GET',
          url: '/oauth/token?grant_type=client_credentials&scope=data%20foo',
          headers: auth(),
        });
        expectOAuthError(response, 400, {
          error: 'invalid_scope',
          error_description:
            '"foo" is not a known scope; the scopes are: account, audit, buzz, dashboard, data, gateway, user, workflow.',
        });
      });

      it('unknown client, wrong secret, revoked client and disabled owner get identical 401 invalid_client bodies', async () => {
        const revoked = await f.createClient();
        await f.services.clients.revoke(revoked.id, CLI_ACTOR, OPERATOR);
        const other = await f.services.users.create(
          { email: 'soon-disabled@example.com', role: 'Privileged' },
          OPERATOR,
          CLI_ACTOR,
        );
        const orphan = await f.createClient({ owner: other.email });
        await f.services.users.disable(other.id, OPERATOR, CLI_ACTOR);
        const attempts: Array<[string, string]> = [
          ['00000000-0000-4000-8000-000000000000', client.secret],
          [client.id, 'f'.repeat(64)],
          [revoked.id, revoked.secret],
          [orphan.id, orphan.secret],
          ['not-a-uuid', 'x'],
        ];
        const bodies = new Set<string>();
        for (const [id, secret] of attempts) {
          const viaBasic = await f.app.inject({
            method: 'GET',
            url: '/oauth/token?grant_type=client_credentials',
            headers: { authorization: basic(id, secret) },
          });
          expectOAuthError(
            viaBasic,
            401,
            { error: 'invalid_client', error_description: 'Client authentication failed.' },
            { 'www-authenticate': 'Basic realm="gatehouse"' },
          );
          bodies.add(viaBasic.body);
          const viaBody = await f.app.inject({
            method: 'POST',
            url: '/oauth2/token',
            headers: FORM,
            payload: new URLSearchParams({
              grant_type: 'client_credentials',
              client_id: id,
              client_secret: secret,
            }).toString(),
          });
          expectOAuthError(viaBody, 401, {
            error: 'invalid_client',
            error_description: 'Client authentication failed.',
          });
          bodies.add(viaBody.body);
        }
        expect(bodies.size).toBe(1);
      });

      it('no credentials, or an unreadable Authorization header → 401 invalid_client with the Basic challenge', async () => {
        for (const headers of [
          {},
          { authorization: 'Bearer abc' },
          { authorization: 'Basic %%%' },
          { authorization: 'Basic bm9jb2xvbg==' },
        ]) {
          const response = await f.app.inject({
            method: 'GET',
            url: '/oauth/token?grant_type=client_credentials',
            headers,
          });
          expectOAuthError(
            response,
            401,
            { error: 'invalid_client', error_description: 'Client authentication failed.' },
            { 'www-authenticate': 'Basic realm="gatehouse"' },
          );
        }
      });

      it('credentials in both the header and the body → 400 invalid_request', async () => {
        const response = await f.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { ...auth(), ...FORM },
          payload: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: client.id,
            client_secret: client.secret,
          }).toString(),
        });
        expectOAuthError(response, 400, {
          error: 'invalid_request',
          error_description:
            'Send client credentials either in the Authorization header or in the body, not both.',
        });
      });

      it('a body that does not match its Content-Type, or an unsupported one → 400 invalid_request', async () => {
        const cases: Array<[Record<string, string>, string, string]> = [
          [
            FORM,
            '{"grant_type":"client_credentials"}',
            'The body is JSON but Content-Type says application/x-www-form-urlencoded.',
          ],
          [
            { 'content-type': 'application/json' },
            'grant_type=client_credentials',
            'The body is not valid JSON.',
          ],
          [
            { 'content-type': 'application/json' },
            '["grant_type"]',
            'The request body must be a form or a JSON object.',
          ],
          [
            { 'content-type': 'application/xml' },
            '<grant_type>client_credentials</grant_type>',
            'Send the parameters as application/x-www-form-urlencoded or application/json.',
          ],
        ];
        for (const [headers, payload, description] of cases) {
          const response = await f.app.inject({
            method: 'POST',
            url: '/oauth2/token',
            headers: { ...auth(), ...headers },
            payload,
          });
          expectOAuthError(response, 400, { error: 'invalid_request', error_description: description });
        }
      });

      it('an oversized body, a repeated or non-string parameter, or a secret in the URL → 400 invalid_request', async () => {
        const cases: Array<[InjectOptions, string]> = [
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              headers: { ...auth(), ...FORM },
              payload: `grant_type=client_credentials&x=${'a'.repeat(70_000)}`,
            },
            'The request body is too large.',
          ],
          [
            {
              method: 'POST',
              url: '/oauth2/token',
              headers: { ...auth(), ...FORM },
              payload: 'grant_type=client_credentials&grant_type=client_credentials',
            },
            'Parameter "grant_type" is given more than once.',
          ],
          [
            {
              method: 'GET',
              url: '/oauth/token?grant_type=client_credentials&scope=data&scope=user',
              headers: auth(),
            },
            'Parameter "scope" is given more than once.',
          ],
          [
            { method: 'POST', url: '/oauth/token', headers: auth(), payload: { grant_type: 42 } },
            'Parameter "grant_type" must be a string.',
          ],
          [
            {
              method: 'GET',
              url: `/oauth/token?grant_type=client_credentials&client_id=${client.id}&client_secret=${client.secret}`,
            },
            '"client_id" must not be sent in the URL.',
          ],
        ];
        for (const [request, description] of cases) {
          const response = await f.app.inject(request);
          expectOAuthError(response, 400, { error: 'invalid_request', error_description: description });
        }
      });
    });

    describe('throttling failed client authentication', () => {
      it('refuses one client ID from one address after 20 failures with 429, Retry-After and RateLimit-*, leaves other clients alone, and unlocks', async () => {
        const victim = await f.createClient();
        const bystander = await f.createClient();
        const attempt = (c: { id: string; secret: string }) =>
          f.app.inject({
            method: 'GET',
            url: '/oauth/token?grant_type=client_credentials',
            headers: { authorization: basic(c.id, c.secret) },
          });
        for (let i = 0; i < 20; i++)
          expect((await attempt({ id: victim.id, secret: 'wrong' })).statusCode).toBe(401);
        const locked = await attempt(victim);
        expectOAuthError(
          locked,
          429,
          {
            error: 'slow_down',
            error_description:
              'Too many failed authentication attempts for this client; try again in 60 seconds.',
          },
          {
            'retry-after': '60',
            'ratelimit-limit': '20',
            'ratelimit-remaining': '0',
            'ratelimit-reset': '60',
          },
        );
        expect((await attempt(bystander)).statusCode).toBe(200);
        f.clock.advance(30_000);
        expect((await attempt(victim)).headers['retry-after']).toBe('30');
        f.clock.advance(30_000);
        expect((await attempt(victim)).statusCode).toBe(200);
      });
    });

    describe('discovery', () => {
      it('serves RFC 8414 metadata and a cacheable JWKS', async () => {
        const metadata = await f.app.inject({
          method: 'GET',
          url: '/.well-known/oauth-authorization-server',
        });
        expect(metadata.statusCode).toBe(200);
        expect(metadata.headers['cache-control']).toBe('public, max-age=300');
        expect(metadata.json()).toEqual({
          issuer: 'http://localhost:8080',
          token_endpoint: 'http://localhost:8080/oauth/token',
          jwks_uri: 'http://localhost:8080/.well-known/jwks.json',
          scopes_supported: ['account', 'audit', 'buzz', 'dashboard', 'data', 'gateway', 'user', 'workflow'],
          response_types_supported: [],
          grant_types_supported: ['client_credentials'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          introspection_endpoint: 'http://localhost:8080/oauth/introspect',
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          revocation_endpoint: 'http://localhost:8080/oauth/revoke',
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        });
        const jwks = await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
        expect(jwks.statusCode).toBe(200);
        expect(jwks.headers['cache-control']).toBe('public, max-age=300');
        const [key] = jwks.json().keys;
        expect(Object.keys(key).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
        expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
        expect(key.d).toBeUndefined();
        const token = (
          await f.app.inject({
            method: 'GET',
            url: '/oauth/token?grant_type=client_credentials',
            headers: { authorization: basic(client.id, client.secret) },
          })
        ).json().access_token;
        expect(decodeProtectedHeader(token).kid).toBe(key.kid);
      });
    });
  });
}
