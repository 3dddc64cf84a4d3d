/**
 * A real OAuth client library against a listening Gatehouse: oauth4webapi
 * discovers the server through RFC 8414 metadata, runs the client-credentials
 * grant with client_secret_basic and client_secret_post, and validates the
 * access token as an RFC 9068 JWT against the JWKS the metadata names.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { freePort } from '../helpers/net.js';
import { OPERATOR } from '../../src/services/principal.js';

/** Plain HTTP on loopback in tests; oauth4webapi refuses it unless told. */
const INSECURE = { [oauth.allowInsecureRequests]: true } as const;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`oauth4webapi against a listening Gatehouse (${dialect.name})`, () => {
    let ts: TestStore;
    let f: OAuthFixture;
    let issuer: URL;
    let as: oauth.AuthorizationServer;
    let credentials: { id: string; secret: string };

    beforeAll(async () => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      ts = await dialect.open();
      f = await oauthFixture(ts.store, { config: { issuer: base, audience: `${base}/api` } });
      // oauth4webapi checks iat and exp against the real time.
      f.clock.set(new Date());
      await f.app.listen({ port, host: '127.0.0.1' });
      issuer = new URL(base);
      credentials = await f.createClient({
        name: 'oauth4webapi',
        scopes: ['data', 'user', 'workflow'],
        ttl: 900,
      });
      const discovery = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...INSECURE });
      as = await oauth.processDiscoveryResponse(issuer, discovery);
    });
    afterAll(async () => {
      await f?.close();
      await ts?.dispose();
    });

    it('discovers the token endpoint and JWKS from /.well-known/oauth-authorization-server', () => {
      expect(as.issuer).toBe(issuer.href.replace(/\/$/, ''));
      expect(as.token_endpoint).toBe(`${as.issuer}/oauth/token`);
      expect(as.jwks_uri).toBe(`${as.issuer}/.well-known/jwks.json`);
      expect(as.grant_types_supported).toEqual(['client_credentials']);
      expect(as.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post']);
    });

    for (const [method, auth] of [
      ['client_secret_basic', (secret: string) => oauth.ClientSecretBasic(secret)],
      ['client_secret_post', (secret: string) => oauth.ClientSecretPost(secret)],
    ] as const) {
      it(`gets a token with ${method} and validates it as a JWT access token against the JWKS`, async () => {
        const client: oauth.Client = { client_id: credentials.id };
        const response = await oauth.clientCredentialsGrantRequest(
          as,
          client,
          auth(credentials.secret),
          new URLSearchParams({ scope: 'user data' }),
          INSECURE,
        );
        const result = await oauth.processClientCredentialsResponse(as, client, response);
        expect(result.token_type).toBe('bearer');
        expect(result.expires_in).toBe(899);
        expect(result.scope).toBe('data user');

        const request = new Request(`${as.issuer}/v1/datasets`, {
          headers: { authorization: `Bearer ${result.access_token}` },
        });
        const claims = await oauth.validateJwtAccessToken(as, request, `${as.issuer}/api`, INSECURE);
        expect(claims).toMatchObject({
          iss: as.issuer,
          aud: `${as.issuer}/api`,
          sub: credentials.id,
          client_id: credentials.id,
          scope: ['data', 'user'],
          userId: f.owner.id,
          role: 'Privileged',
        });
        expect(claims.exp - claims.iat).toBe(900);
      });
    }

    it('rejects a token for another audience, a tampered token, and a revoked client’s request', async () => {
      const client: oauth.Client = { client_id: credentials.id };
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(credentials.secret),
        new URLSearchParams(),
        INSECURE,
      );
      const { access_token } = await oauth.processClientCredentialsResponse(as, client, response);
      const bearer = (token: string) =>
        new Request(`${as.issuer}/v1/datasets`, { headers: { authorization: `Bearer ${token}` } });
      await expect(
        oauth.validateJwtAccessToken(as, bearer(access_token), 'https://elsewhere.example', INSECURE),
      ).rejects.toThrow(/"aud"/);
      const [h, p, s] = access_token.split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, scope: ['account'] })).toString('base64url')}.${s}`;
      await expect(
        oauth.validateJwtAccessToken(as, bearer(forged), `${as.issuer}/api`, INSECURE),
      ).rejects.toThrow(/signature/i);

      await f.services.clients.revoke(credentials.id, CLI_ACTOR, OPERATOR);
      const refused = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretBasic(credentials.secret),
        new URLSearchParams(),
        INSECURE,
      );
      expect(refused.status).toBe(401);
      expect(await refused.clone().json()).toEqual({
        error: 'invalid_client',
        error_description: 'Client authentication failed.',
      });
      // Basic was used, so the answer carries the Basic challenge, which the library surfaces as such.
      const error = await oauth
        .processClientCredentialsResponse(as, client, refused)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
      expect(error).toMatchObject({
        status: 401,
        cause: [{ scheme: 'basic', parameters: { realm: 'gatehouse' } }],
      });
      // With body credentials there is no challenge: the RFC 6749 error body itself.
      const viaBody = await oauth.clientCredentialsGrantRequest(
        as,
        client,
        oauth.ClientSecretPost(credentials.secret),
        new URLSearchParams(),
        INSECURE,
      );
      const bodyError = await oauth
        .processClientCredentialsResponse(as, client, viaBody)
        .catch((e: unknown) => e);
      expect(bodyError).toBeInstanceOf(oauth.ResponseBodyError);
      expect(bodyError).toMatchObject({
        error: 'invalid_client',
        error_description: 'Client authentication failed.',
        status: 401,
      });
    });
  });
}
