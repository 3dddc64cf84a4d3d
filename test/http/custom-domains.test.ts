/**
 * Custom domains (issue 14, spec 003) on both stores, over a real HTTPS server (two self-signed
 * certificates: the instance's default for localhost, and api.example.com's own):
 * - the admin API: create/get/list/update/delete, `gateway.manage`, audit, bad input 4xx;
 * - SNI: a TLS client naming api.example.com gets its certificate, any other name the default;
 *   a replaced certificate, a disabled domain and a SIGHUP-style reload of the default are seen
 *   by the next connection;
 * - the token endpoint follows the domain: `https://api.example.com/oauth2/token` issues
 *   `iss: https://api.example.com`, which the guard accepts; an unregistered Host gets the
 *   configured issuer (never the Host reflected); a token of a foreign issuer, even signed with
 *   Gatehouse's own key, is refused; a disabled or deleted domain's tokens are refused on the
 *   next call;
 * - metadata and JWKS per host, usable by an outside verifier.
 */
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { loadTlsMaterial, reloadTlsMaterial } from '../../src/tls.js';
import { createUser, type SignedIn, signIn } from '../helpers/app.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/certificates.js';
import { basic } from '../helpers/oauth.js';
import { checkResponses } from '../helpers/response-check.js';
import { testServices } from '../helpers/services.js';
import { countRows, dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1/platform/domains';
const ISSUER = 'https://gatehouse.example.com';

interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`custom domains (${dialect.name})`, () => {
    let ts: TestStore;
    let app: App;
    let services: Services;
    let config: Config;
    let port: number;
    let admin: SignedIn;
    let editor: SignedIn;
    let client: { id: string; secret: string };
    let defaultCert: TestCertificate;
    let apiCert: TestCertificate;
    let apiRenewed: TestCertificate;
    let renewedDefault: TestCertificate;
    let ca: string[];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-domains-'));
    const files = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };

    beforeAll(async () => {
      ts = await dialect.open();
      [defaultCert, apiCert, apiRenewed, renewedDefault] = await Promise.all([
        selfSignedCertificate(['localhost']),
        selfSignedCertificate(['api.example.com']),
        selfSignedCertificate(['api.example.com']),
        selfSignedCertificate(['localhost']),
      ]);
      ca = [defaultCert.cert, apiCert.cert, apiRenewed.cert, renewedDefault.cert];
      fs.writeFileSync(files.certFile, defaultCert.cert);
      fs.writeFileSync(files.keyFile, defaultCert.key);
      ({ services, config } = await testServices(ts.store, { config: { issuer: ISSUER, tls: files } }));
      await services.keys.prepare();
      app = await buildApp({
        config,
        store: ts.store,
        services,
        logger: silentLogger(),
        instrument: checkResponses,
        tls: loadTlsMaterial(files),
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.server.address() as AddressInfo).port;
      await createUser(services, 'domains-admin@example.com', 'Privileged');
      await createUser(services, 'domains-editor@example.com', 'Editor');
      [admin, editor] = await Promise.all([
        signIn(app, 'domains-admin@example.com'),
        signIn(app, 'domains-editor@example.com'),
      ]);
      const issued = await services.clients.create(
        { name: 'Domain caller', scopes: ['workflow'], owner: 'domains-admin@example.com' },
        CLI_ACTOR,
      );
      client = { id: issued.clientId, secret: issued.clientSecret };
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    /** One request on a fresh TLS connection to the listening app, verifying the server against `ca` for `servername`. */
    function request(
      servername: string | undefined,
      method: string,
      url: string,
      options: { host?: string; headers?: Record<string, string>; body?: string } = {},
    ): Promise<HttpsAnswer> {
      return new Promise((resolve, reject) => {
        const req = https.request(
          {
            host: '127.0.0.1',
            port,
            method,
            path: url,
            agent: false,
            ca,
            // No SNI when undefined (as a client that dials an address); else the name to verify.
            servername: servername ?? '',
            ...(servername === undefined ? { checkServerIdentity: () => undefined } : {}),
            headers: { host: options.host ?? servername ?? 'localhost', ...options.headers },
          },
          (res) => {
            const fingerprint = (res.socket as tls.TLSSocket).getPeerX509Certificate()?.fingerprint256 ?? '';
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body, fingerprint }),
            );
          },
        );
        req.once('error', reject);
        req.end(options.body);
      });
    }

    const manage = (
      s: SignedIn,
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
      url: string,
      payload?: unknown,
    ) =>
      app.inject({
        method,
        url: `${API}${url}`,
        headers: s.headers,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    /** A token from `/oauth2/token` asked for at `host` over HTTPS (SNI = `servername`). */
    async function tokenAt(servername: string | undefined, host: string): Promise<string> {
      const res = await request(servername, 'POST', '/oauth2/token', {
        host,
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=workflow',
      });
      expect(res.status, res.body).toBe(200);
      return (JSON.parse(res.body) as { access_token: string }).access_token;
    }

    const workflows = (token: string) =>
      app.inject({ method: 'GET', url: '/v1/workflows', headers: { authorization: `Bearer ${token}` } });

    it('registers, reads, lists, changes and deletes a domain through the admin API, never showing the key', async () => {
      const created = await manage(admin, 'POST', '', {
        hostname: 'API.Example.com',
        certificate: apiCert.cert,
        privateKey: apiCert.key,
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.body).not.toContain('PRIVATE KEY');
      const body = created.json();
      expect(body).toEqual({
        id: expect.any(Number),
        hostname: 'api.example.com',
        issuer: 'https://api.example.com',
        enabled: true,
        certificate: {
          subject: expect.stringMatching(/^CN=api\.example\.com, O=test [0-9a-f]{8}$/),
          subjectAltNames: ['api.example.com'],
          issuer: expect.stringMatching(/^CN=api\.example\.com, O=test /),
          notBefore: expect.any(String),
          notAfter: expect.any(String),
          fingerprint256: apiCert.fingerprint,
        },
        createdAt: '2026-03-01T12:00:00.000Z',
        updatedAt: '2026-03-01T12:00:00.000Z',
      });
      expect((await manage(admin, 'GET', '/api.example.com')).json()).toEqual(body);
      expect((await manage(admin, 'GET', `/${body.id}`)).json()).toEqual(body);
      const other = await manage(admin, 'POST', '', { hostname: 'temp.example.com', enabled: false });
      expect(other.statusCode, other.body).toBe(201);
      const page = await manage(admin, 'GET', '?limit=1');
      expect(page.json()).toEqual({ items: [body], nextCursor: expect.any(String) });
      const rest = await manage(admin, 'GET', `?limit=1&cursor=${page.json().nextCursor}`);
      expect(rest.json()).toMatchObject({
        items: [{ hostname: 'temp.example.com', certificate: null }],
        nextCursor: null,
      });
      const patched = await manage(admin, 'PATCH', '/temp.example.com', { enabled: true });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({ enabled: true });
      expect((await manage(admin, 'DELETE', '/temp.example.com')).statusCode).toBe(204);
      expect((await manage(admin, 'GET', '/temp.example.com')).statusCode).toBe(404);
      const actions = (await services.audit.query({ targetType: 'platform_domain', limit: 10 })).items
        .map((e) => e.action)
        .reverse();
      expect(actions).toEqual([
        'platform_domain.created',
        'platform_domain.created',
        'platform_domain.updated',
        'platform_domain.deleted',
      ]);
    });

    it('answers bad input 400, a taken host 409, an unknown one 404, and a caller without gateway.manage 403, changing nothing', async () => {
      const count = () => countRows(ts.store, 'platform_domains');
      const before = await count();
      const cases: Array<[unknown, number, string]> = [
        [{ hostname: '203.0.113.9' }, 400, 'hostname'],
        [{ hostname: 'not a host' }, 400, 'hostname'],
        [
          { hostname: 'x.example.com', certificate: apiCert.cert, privateKey: defaultCert.key },
          400,
          'privateKey',
        ],
        [
          { hostname: 'x.example.com', certificate: apiCert.cert, privateKey: apiCert.key },
          400,
          'certificate',
        ],
        [{ hostname: 'x.example.com', certificate: apiCert.cert }, 400, 'privateKey'],
        [{ hostname: 'api.example.com' }, 409, 'hostname'],
      ];
      for (const [payload, status, field] of cases) {
        const res = await manage(admin, 'POST', '', payload);
        expect(res.statusCode, res.body).toBe(status);
        expect(res.json()).toMatchObject({ details: { field } });
        expect(res.body).not.toContain('PRIVATE KEY');
      }
      const unknownField = await manage(admin, 'POST', '', { hostname: 'y.example.com', key: 'x' });
      expect(unknownField.statusCode).toBe(400);
      const rename = await manage(admin, 'PATCH', '/api.example.com', { hostname: 'z.example.com' });
      expect(rename.statusCode).toBe(400);
      expect((await manage(admin, 'PATCH', '/nope.example.com', { enabled: false })).statusCode).toBe(404);
      expect((await manage(admin, 'DELETE', '/999999')).statusCode).toBe(404);
      const forbidden = await manage(editor, 'POST', '', { hostname: 'e.example.com' });
      expect(forbidden.statusCode).toBe(403);
      expect(forbidden.json()).toMatchObject({ error: 'forbidden', details: { grant: 'gateway.manage' } });
      expect((await manage(editor, 'GET', '')).statusCode).toBe(403);
      expect(await count()).toBe(before);
    });

    it('SNI: the domain gets its own certificate, any other name the default; changes reach the next connection', async () => {
      const domain = await request('api.example.com', 'GET', '/healthz');
      expect(domain).toMatchObject({ status: 200, fingerprint: apiCert.fingerprint });
      expect(await request('localhost', 'GET', '/healthz')).toMatchObject({
        status: 200,
        fingerprint: defaultCert.fingerprint,
      });
      expect((await request(undefined, 'GET', '/healthz')).fingerprint).toBe(defaultCert.fingerprint);
      // An unregistered name gets the default certificate, which does not cover it: the client refuses it.
      await expect(request('unknown.example.com', 'GET', '/healthz')).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });

      const renewed = await manage(admin, 'PATCH', '/api.example.com', {
        certificate: apiRenewed.cert,
        privateKey: apiRenewed.key,
      });
      expect(renewed.statusCode, renewed.body).toBe(200);
      expect((await request('api.example.com', 'GET', '/healthz')).fingerprint).toBe(apiRenewed.fingerprint);

      expect((await manage(admin, 'PATCH', '/api.example.com', { enabled: false })).statusCode).toBe(200);
      await expect(request('api.example.com', 'GET', '/healthz')).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
      expect((await manage(admin, 'PATCH', '/api.example.com', { enabled: true })).statusCode).toBe(200);
      expect((await request('api.example.com', 'GET', '/healthz')).fingerprint).toBe(apiRenewed.fingerprint);

      // A SIGHUP reload swaps the default certificate; the domain keeps its own.
      fs.writeFileSync(files.certFile, renewedDefault.cert);
      fs.writeFileSync(files.keyFile, renewedDefault.key);
      reloadTlsMaterial(app.server as unknown as tls.Server, files);
      expect((await request('localhost', 'GET', '/healthz')).fingerprint).toBe(renewedDefault.fingerprint);
      expect((await request('api.example.com', 'GET', '/healthz')).fingerprint).toBe(apiRenewed.fingerprint);
    });

    it('the token endpoint follows the domain: iss https://api.example.com, accepted by the guard; other hosts get the configured issuer', async () => {
      const domainToken = await tokenAt('api.example.com', 'api.example.com');
      // One table per change: requests read it from memory, none loads it again (no query per request).
      const table = services.domains.current();
      expect(table).toBeDefined();
      for (let i = 0; i < 5; i++) expect((await workflows(domainToken)).statusCode).toBe(200);
      expect(services.domains.current()).toBe(table);
      expect(decodeJwt(domainToken)).toMatchObject({
        iss: 'https://api.example.com',
        aud: config.audience,
        scope: ['workflow'],
      });
      expect((await workflows(domainToken)).statusCode).toBe(200);
      // Through /oauth/token too, and the Host decides (with a port, in any case).
      const viaDomo = await app.inject({
        method: 'GET',
        url: '/oauth/token?grant_type=client_credentials&scope=workflow',
        headers: { host: 'API.EXAMPLE.COM:443', authorization: basic(client.id, client.secret) },
      });
      expect(viaDomo.statusCode, viaDomo.body).toBe(200);
      expect(decodeJwt(viaDomo.json().access_token).iss).toBe('https://api.example.com');

      const defaultToken = await tokenAt('localhost', 'localhost');
      expect(decodeJwt(defaultToken).iss).toBe(ISSUER);
      // An unregistered Host is never reflected into iss; nor is an untrusted X-Forwarded-Host.
      const spoofed = await tokenAt('localhost', 'evil.example.com');
      expect(decodeJwt(spoofed).iss).toBe(ISSUER);
      const forwarded = await tokenAt('localhost', 'localhost').then(() =>
        app.inject({
          method: 'POST',
          url: '/oauth2/token',
          headers: {
            host: 'localhost',
            'x-forwarded-host': 'api.example.com',
            authorization: basic(client.id, client.secret),
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: 'grant_type=client_credentials',
        }),
      );
      expect(decodeJwt(forwarded.json().access_token).iss).toBe(ISSUER);

      // Introspection knows the domain's token.
      const introspected = await app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: `token=${domainToken}`,
      });
      expect(introspected.json()).toMatchObject({ active: true, iss: 'https://api.example.com' });
    });

    it('refuses a token of a foreign issuer, even one signed with our own key', async () => {
      const record = await services.clients.record(client.id);
      const owner = await services.clients.owner(record!.ownerUserId);
      for (const iss of ['https://evil.example.com', 'https://API.example.com', 'http://api.example.com']) {
        const forged = await services.tokens.issue(record!, owner!, ['workflow'], iss);
        const res = await workflows(forged.accessToken);
        expect(res.statusCode, iss).toBe(401);
        expect(res.json()).toMatchObject({ error: 'invalid_token' });
      }
    });

    it('disabling the domain refuses its tokens on the next call; enabling it accepts them again; deleting ends them', async () => {
      const domainToken = await tokenAt('api.example.com', 'api.example.com');
      const defaultToken = await tokenAt('localhost', 'localhost');
      expect((await workflows(domainToken)).statusCode).toBe(200);
      expect((await manage(admin, 'PATCH', '/api.example.com', { enabled: false })).statusCode).toBe(200);
      const refused = await workflows(domainToken);
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toMatchObject({ error: 'invalid_token' });
      expect((await workflows(defaultToken)).statusCode).toBe(200);
      const introspected = await app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: `token=${domainToken}`,
      });
      expect(introspected.json()).toEqual({ active: false });
      // While disabled the host is an ordinary one: the configured issuer.
      expect(decodeJwt(await tokenAt(undefined, 'api.example.com')).iss).toBe(ISSUER);
      expect((await manage(admin, 'PATCH', '/api.example.com', { enabled: true })).statusCode).toBe(200);
      expect((await workflows(domainToken)).statusCode).toBe(200);
      const kept = await manage(admin, 'GET', '/api.example.com');
      expect((await manage(admin, 'DELETE', '/api.example.com')).statusCode).toBe(204);
      expect((await workflows(domainToken)).statusCode).toBe(401);
      // Registered again (as the other tests left it).
      const again = await manage(admin, 'POST', '', {
        hostname: 'api.example.com',
        certificate: apiRenewed.cert,
        privateKey: apiRenewed.key,
      });
      expect(again.statusCode, again.body).toBe(201);
      expect(again.json().certificate).toEqual(kept.json().certificate);
    });

    it('serves the metadata per host, and the JWKS on every host, enough for an outside verifier', async () => {
      const at = async (servername: string, url: string) => {
        const res = await request(servername, 'GET', url);
        expect(res.status, res.body).toBe(200);
        return JSON.parse(res.body) as Record<string, unknown>;
      };
      const domainMeta = await at('api.example.com', '/.well-known/oauth-authorization-server');
      expect(domainMeta).toMatchObject({
        issuer: 'https://api.example.com',
        token_endpoint: 'https://api.example.com/oauth/token',
        jwks_uri: 'https://api.example.com/.well-known/jwks.json',
        introspection_endpoint: 'https://api.example.com/oauth/introspect',
        revocation_endpoint: 'https://api.example.com/oauth/revoke',
      });
      const defaultMeta = await at('localhost', '/.well-known/oauth-authorization-server');
      expect(defaultMeta).toMatchObject({ issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json` });
      const spoofed = await app.inject({
        method: 'GET',
        url: '/.well-known/oauth-authorization-server',
        headers: { host: 'evil.example.com' },
      });
      expect(spoofed.json().issuer).toBe(ISSUER);

      const domainJwks = await at('api.example.com', '/.well-known/jwks.json');
      expect(domainJwks).toEqual(await at('localhost', '/.well-known/jwks.json'));
      const token = await tokenAt('api.example.com', 'api.example.com');
      const { payload } = await jwtVerify(token, createLocalJWKSet(domainJwks as unknown as JSONWebKeySet), {
        issuer: domainMeta.issuer as string,
        audience: config.audience,
        // The services' manual clock.
        currentDate: new Date('2026-03-01T12:00:30Z'),
      });
      expect(payload.iss).toBe('https://api.example.com');
    });
  });
}
