/**
 * What happens to tokens over time, through HTTP, on both store dialects:
 * signing-key rotation overlap, client revoke and disabled owners (rejected at
 * once by introspection, still valid for offline verifiers until exp), RFC 7009
 * revocation and RFC 7662 introspection with their exact answers.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMaintenance } from '../../src/background.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { User } from '../../src/services/users.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const NO_STORE = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'content-type': 'application/json;charset=utf-8',
};
const INVALID_CLIENT = { error: 'invalid_client', error_description: 'Client authentication failed.' };

type Credentials = { id: string; secret: string };

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`token lifecycle over HTTP (${dialect.name})`, () => {
    let ts: TestStore;
    let f: OAuthFixture;
    let admin: User;
    /** A client whose owner holds api.clients.manage_all: may introspect any token. */
    let auditor: Credentials;

    beforeAll(async () => {
      ts = await dialect.open();
      f = await oauthFixture(ts.store);
      admin = await f.services.users.create(
        { email: 'root@example.com', role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      // A second Admin, so disabling users in these tests never meets the last-admin rule.
      await f.services.users.create({ email: 'root2@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
      auditor = await f.createClient({ name: 'Auditor', owner: admin.email, scopes: ['audit'] });
    });
    afterAll(async () => {
      await f?.close();
      await ts?.dispose();
    });

    const getToken = async (c: Credentials, scope?: string) => {
      const response = await f.app.inject({
        method: 'GET',
        url: `/oauth/token?grant_type=client_credentials${scope ? `&scope=${encodeURIComponent(scope)}` : ''}`,
        headers: { authorization: basic(c.id, c.secret) },
      });
      return response;
    };
    const accessToken = async (c: Credentials) => {
      const response = await getToken(c);
      expect(response.statusCode, response.body).toBe(200);
      return response.json().access_token as string;
    };
    const introspect = (caller: Credentials, token: string) =>
      f.app.inject({
        method: 'POST',
        url: '/oauth/introspect',
        headers: { authorization: basic(caller.id, caller.secret), ...FORM },
        payload: new URLSearchParams({ token }).toString(),
      });
    const active = async (caller: Credentials, token: string) => {
      const response = await introspect(caller, token);
      expect(response.statusCode).toBe(200);
      expect(response.headers).toMatchObject(NO_STORE);
      return response.json().active as boolean;
    };
    const servedJwks = async () =>
      (await f.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    /** What an offline verifier does: the JWKS it fetched, the token's own exp. */
    const verifiesOffline = async (token: string, jwks: { keys: unknown[] }) => {
      try {
        await jwtVerify(token, createLocalJWKSet(jwks as never), {
          issuer: f.config.issuer,
          audience: f.config.audience,
          typ: 'at+jwt',
          currentDate: f.clock.now(),
        });
        return true;
      } catch {
        return false;
      }
    };

    it('introspection: the exact active body for the caller’s own token, {active:false} for others’ tokens and junk', async () => {
      const client = await f.createClient({ scopes: ['data', 'user'] });
      const other = await f.createClient({ scopes: ['data'] });
      const token = await accessToken(client);
      const response = await introspect(client, token);
      expect(response.statusCode).toBe(200);
      expect(response.headers).toMatchObject(NO_STORE);
      const iat = Math.floor(f.clock.now().getTime() / 1000);
      const body = response.json();
      expect(body).toEqual({
        active: true,
        scope: 'data user',
        client_id: client.id,
        token_type: 'bearer',
        exp: iat + 3600,
        iat,
        sub: client.id,
        aud: f.config.audience,
        iss: f.config.issuer,
        jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
        role: 'Privileged',
        userId: f.owner.id,
        customer: 'gatehouse',
        env: 'prod1',
      });
      // Another ordinary client learns nothing; a client of a manage_all owner sees it.
      expect(await active(other, token)).toBe(false);
      expect(await active(auditor, token)).toBe(true);

      const { privateKey } = await generateKeyPair('RS256');
      const header = decodeProtectedHeader(token);
      const forged = await new SignJWT({
        ...JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()),
      })
        .setProtectedHeader({ alg: 'RS256', kid: header.kid!, typ: 'at+jwt' })
        .sign(privateKey);
      for (const junk of [forged, 'not-a-jwt', `${token}x`, token.split('.').slice(0, 2).join('.')]) {
        const r = await introspect(client, junk);
        expect(r.statusCode).toBe(200);
        expect(r.json()).toEqual({ active: false });
      }
      f.clock.advance(3600_000);
      expect(await active(client, token)).toBe(false);
    });

    it('introspection and revocation errors: missing token → 400 invalid_request, bad credentials → 401 invalid_client', async () => {
      const client = await f.createClient();
      for (const url of ['/oauth/introspect', '/oauth/revoke']) {
        const missing = await f.app.inject({
          method: 'POST',
          url,
          headers: { authorization: basic(client.id, client.secret), ...FORM },
          payload: 'token_type_hint=access_token',
        });
        expect(missing.statusCode).toBe(400);
        expect(missing.headers).toMatchObject(NO_STORE);
        expect(missing.json()).toEqual({
          error: 'invalid_request',
          error_description: 'Missing parameter "token".',
        });
        const wrong = await f.app.inject({
          method: 'POST',
          url,
          headers: { authorization: basic(client.id, 'f'.repeat(64)), ...FORM },
          payload: 'token=abc',
        });
        expect(wrong.statusCode).toBe(401);
        expect(wrong.headers).toMatchObject({ ...NO_STORE, 'www-authenticate': 'Basic realm="gatehouse"' });
        expect(wrong.json()).toEqual(INVALID_CLIENT);
        const none = await f.app.inject({ method: 'POST', url, headers: FORM, payload: 'token=abc' });
        expect(none.statusCode).toBe(401);
        expect(none.json()).toEqual(INVALID_CLIENT);
      }
    });

    it('RFC 7009: a client revokes its own token (200, empty body, inactive at once); others’ and unknown tokens get 200 and no change', async () => {
      const client = await f.createClient();
      const other = await f.createClient();
      const token = await accessToken(client);
      const second = await accessToken(client);
      const revoke = (caller: Credentials, value: string) =>
        f.app.inject({
          method: 'POST',
          url: '/oauth/revoke',
          headers: { authorization: basic(caller.id, caller.secret), ...FORM },
          payload: new URLSearchParams({ token: value, token_type_hint: 'access_token' }).toString(),
        });

      const byOther = await revoke(other, token);
      expect(byOther.statusCode).toBe(200);
      expect(await active(client, token)).toBe(true);
      const unknown = await revoke(client, 'eyJhbGciOiJub25lIn0.e30.');
      expect(unknown.statusCode).toBe(200);
      expect(unknown.body).toBe('');

      const revoked = await revoke(client, token);
      expect(revoked.statusCode).toBe(200);
      expect(revoked.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' });
      expect(revoked.body).toBe('');
      expect(await active(client, token)).toBe(false);
      expect(await active(auditor, token)).toBe(false);
      // Only that token: the client and its other tokens are unaffected.
      expect(await active(client, second)).toBe(true);
      expect((await getToken(client)).statusCode).toBe(200);
      // Twice is fine and writes one audit event.
      expect((await revoke(client, token)).statusCode).toBe(200);
      const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
      expect(
        (await f.services.audit.query({ action: 'access_token.revoked', targetId: jti })).items,
      ).toHaveLength(1);
    });

    it('revoked client: invalid_client at once, its tokens inactive at once, still valid offline until exp', async () => {
      const client = await f.createClient({ ttl: 600 });
      const token = await accessToken(client);
      const jwks = await servedJwks();
      expect(await active(client, token)).toBe(true);

      await f.services.clients.revoke(client.id, CLI_ACTOR, OPERATOR);

      const refused = await getToken(client);
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toEqual(INVALID_CLIENT);
      // The revoked client can no longer even ask; a manager's client gets active:false.
      expect((await introspect(client, token)).statusCode).toBe(401);
      expect(await active(auditor, token)).toBe(false);
      expect(await f.services.tokens.verify(token)).toBeNull();
      // The documented caveat: an offline JWT verifier still accepts it until exp, and not after.
      expect(await verifiesOffline(token, jwks)).toBe(true);
      f.clock.advance(600_000);
      expect(await verifiesOffline(token, jwks)).toBe(false);
    });

    it('disabled owner: invalid_client and inactive tokens at once; enabled again, the client works again', async () => {
      const owner = await f.services.users.create(
        { email: `owner-${dialect.name}@example.com`, role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      const client = await f.createClient({ owner: owner.email });
      const token = await accessToken(client);
      await f.services.users.disable(owner.id, OPERATOR, CLI_ACTOR);

      const refused = await getToken(client);
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Basic realm="gatehouse"');
      expect(refused.json()).toEqual(INVALID_CLIENT);
      expect(await active(auditor, token)).toBe(false);

      await f.services.users.enable(owner.id, OPERATOR, CLI_ACTOR);
      expect(await active(auditor, token)).toBe(true);
      expect((await getToken(client)).statusCode).toBe(200);
    });

    it('key rotation: old tokens keep verifying until they expire, new ones carry the new kid, the old key then leaves the JWKS', async () => {
      const client = await f.createClient();
      const oldToken = await accessToken(client);
      const oldKid = decodeProtectedHeader(oldToken).kid!;
      expect((await servedJwks()).keys.map((k: { kid: string }) => k.kid)).toEqual([oldKid]);

      f.clock.advance(60_000);
      const rotated = await f.services.keys.rotate(CLI_ACTOR);
      const newToken = await accessToken(client);
      expect(decodeProtectedHeader(newToken).kid).toBe(rotated.kid);
      expect(rotated.kid).not.toBe(oldKid);

      const both = await servedJwks();
      expect(both.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([oldKid, rotated.kid].sort());
      for (const token of [oldToken, newToken]) {
        expect(await verifiesOffline(token, both)).toBe(true);
        expect(await active(client, token)).toBe(true);
      }

      // The old token expires 3600 s after issue; the old key is kept 3600 s + 60 s after rotation.
      f.clock.advance(3540_000);
      expect(await active(client, oldToken)).toBe(false);
      expect(await active(client, newToken)).toBe(true);
      await runMaintenance(f.services);
      expect((await servedJwks()).keys).toHaveLength(2);
      f.clock.advance(120_000);
      await runMaintenance(f.services);
      const after = await servedJwks();
      expect(after.keys.map((k: { kid: string }) => k.kid)).toEqual([rotated.kid]);
      expect((await f.services.keys.list()).find((k) => k.kid === oldKid)?.status).toBe('retired');
      const fresh = await accessToken(client);
      expect(decodeProtectedHeader(fresh).kid).toBe(rotated.kid);
      expect(await verifiesOffline(fresh, after)).toBe(true);
    });
  });
}
