/**
 * `tokens.verify` (the check everything in Gatehouse uses) and revocation, on
 * both dialects, including a second node over the same database seeing a
 * revoke or a disabled owner through the cache epochs.
 */
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { testServices, authenticateClient } from '../../test/helpers/services.js';
import type { ManualClock } from '../clock.js';
import { type AccessTokenClaims, signAccessToken } from '../tokens/jwt.js';
import { sharedSigner } from '../tokens/signer.js';
import { OPERATOR } from './principal.js';

const testSigner = sharedSigner(1);
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import type { User } from './users.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`access token verification (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let owner: User;

    async function newClient(email = owner.email) {
      const issued = await services.clients.create(
        { name: `c${Math.random()}`, scopes: ['data', 'user'], owner: email },
        CLI_ACTOR,
      );
      return { id: issued.clientId, secret: issued.clientSecret };
    }
    async function tokenFor(c: { id: string; secret: string }, s: Services = services) {
      const auth = await authenticateClient(s, c.id, c.secret);
      return (await s.tokens.issue(auth!.client, auth!.owner, ['data'])).accessToken;
    }

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      await services.keys.prepare();
      owner = await services.users.create(
        { email: 'tok@example.com', role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
    });
    afterAll(async () => {
      await services.epochs.stop();
      await ts?.dispose();
    });

    it('returns the claims with the live client and owner', async () => {
      const c = await newClient();
      const verified = await services.tokens.verify(await tokenFor(c));
      expect(verified).toMatchObject({
        claims: { client_id: c.id, sub: c.id, scope: ['data'], userId: owner.id, role: 'Privileged' },
        client: { id: c.id, status: 'active' },
        owner: { id: owner.id, status: 'active', roleName: 'Privileged' },
      });
      expect(verified!.owner.grants.has('api.clients.create')).toBe(true);
    });

    it('rejects expired, tampered, foreign-signed, wrong typ/iss/aud tokens', async () => {
      const c = await newClient();
      const token = await tokenFor(c);
      const key = await services.keys.signingKey();
      const claims = (await services.tokens.verify(token))!.claims;
      const foreign = await generateKeyPair('RS256');
      const resign = (patch: Partial<AccessTokenClaims>) =>
        signAccessToken(testSigner, key, { ...claims, ...patch });
      const rejected = [
        'garbage',
        '',
        `${token.slice(0, -4)}AAAA`,
        await new SignJWT({ ...claims })
          .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
          .sign(foreign.privateKey),
        await new SignJWT({ ...claims })
          .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
          .sign(key.privateKey),
        await resign({ iss: 'https://evil.example' }),
        await resign({ aud: 'someone-else' }),
        await resign({ sub: 'other' }),
      ];
      for (const bad of rejected) expect(await services.tokens.verify(bad)).toBeNull();
      expect(await services.tokens.verify(await resign({}))).not.toBeNull();
      clock.advance(3600 * 1000);
      expect(await services.tokens.verify(token)).toBeNull();
    });

    it('rejects a well-signed token that issue() could not have made: future iat, longer life than the client TTL, a scope the client lacks', async () => {
      const c = await newClient();
      const claims = (await services.tokens.verify(await tokenFor(c)))!.claims;
      const key = await services.keys.signingKey();
      const resign = (patch: Partial<AccessTokenClaims>) =>
        signAccessToken(testSigner, key, { ...claims, jti: `j${Math.random()}`, ...patch });
      const now = Math.floor(clock.now().getTime() / 1000);
      // Within the 30 s of clock skew between nodes: accepted.
      expect(
        await services.tokens.verify(await resign({ iat: now + 30, exp: now + 30 + 3600 })),
      ).not.toBeNull();
      expect(await services.tokens.verify(await resign({ iat: now + 31, exp: now + 31 + 3600 }))).toBeNull();
      expect(await services.tokens.verify(await resign({ exp: claims.iat + 3601 }))).toBeNull();
      expect(await services.tokens.verify(await resign({ scope: ['data', 'user'] }))).not.toBeNull();
      expect(await services.tokens.verify(await resign({ scope: ['data', 'audit'] }))).toBeNull();
    });

    it('rejects a revoked client’s tokens and a disabled owner’s tokens at once; a role change is seen live', async () => {
      const c = await newClient();
      const token = await tokenFor(c);
      expect(await services.tokens.verify(token)).not.toBeNull();
      await services.clients.revoke(c.id, CLI_ACTOR, OPERATOR);
      expect(await services.tokens.verify(token)).toBeNull();

      const user = await services.users.create(
        { email: `u${Date.now()}@example.com`, role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      const d = await newClient(user.email);
      const t2 = await tokenFor(d);
      expect((await services.tokens.verify(t2))!.owner.roleName).toBe('Privileged');
      await services.users.update(user.id, { role: 'Admin' }, OPERATOR, CLI_ACTOR);
      expect((await services.tokens.verify(t2))!.owner.grants.has('api.clients.manage_all')).toBe(true);
      // Another active Admin exists, so disabling this one is allowed.
      await services.users.create(
        { email: `other-admin${Date.now()}@example.com`, role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      await services.users.disable(user.id, OPERATOR, CLI_ACTOR);
      expect(await services.tokens.verify(t2)).toBeNull();
      await services.users.enable(user.id, OPERATOR, CLI_ACTOR);
      expect(await services.tokens.verify(t2)).not.toBeNull();
    });

    it('revokes only the caller’s own token, once, and prunes the entry after exp', async () => {
      const c = await newClient();
      const other = await newClient();
      const token = await tokenFor(c);
      const callerRecord = (await services.clients.record(c.id))!;
      const otherRecord = (await services.clients.record(other.id))!;
      const actor = { type: 'client' as const, clientId: c.id, userId: owner.id };
      expect(await services.tokens.revoke(token, otherRecord, actor)).toBe(false);
      expect(await services.tokens.verify(token)).not.toBeNull();
      expect(await services.tokens.revoke('not a token', callerRecord, actor)).toBe(false);
      expect(await services.tokens.revoke(token, callerRecord, actor)).toBe(true);
      expect(await services.tokens.revoke(token, callerRecord, actor)).toBe(false);
      expect(await services.tokens.verify(token)).toBeNull();
      const rows = await ts.store.db.selectFrom('revoked_tokens').selectAll().execute();
      const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
      expect(rows.find((r) => r.jti === jti)).toEqual({
        jti,
        client_id: c.id,
        expires_at: new Date(clock.now().getTime() + 3_600_000).toISOString(),
        seq: expect.any(Number),
      });
      expect(
        (await services.audit.query({ action: 'access_token.revoked', targetId: jti })).items,
      ).toHaveLength(1);
      // Kept a minute past exp: the guard accepts a token up to 30 s late (clock skew).
      clock.advance(3_600_000);
      await services.tokens.pruneRevoked();
      expect(
        await ts.store.db.selectFrom('revoked_tokens').select('jti').where('jti', '=', jti).execute(),
      ).toEqual([{ jti }]);
      clock.advance(60_000);
      expect(await services.tokens.pruneRevoked()).toBeGreaterThanOrEqual(1);
      expect(
        await ts.store.db.selectFrom('revoked_tokens').selectAll().where('jti', '=', jti).execute(),
      ).toEqual([]);
    });

    it('a second node sees a revoke, a token revocation and a disabled owner after its next epoch poll', async () => {
      const peer = await testServices(await ts.openPeer(), { clock });
      const c = await newClient();
      const token = await tokenFor(c);
      const revocable = await tokenFor(c);
      const user = await services.users.create(
        { email: `peer${Date.now()}@example.com`, role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      const d = await newClient(user.email);
      const t2 = await tokenFor(d);
      await peer.services.epochs.poll();
      for (const t of [token, revocable, t2]) expect(await peer.services.tokens.verify(t)).not.toBeNull();

      await services.tokens.revoke(revocable, (await services.clients.record(c.id))!, CLI_ACTOR);
      await services.users.disable(user.id, OPERATOR, CLI_ACTOR);
      await services.clients.revoke(c.id, CLI_ACTOR, OPERATOR);
      // This node sees it at once; the peer still answers from its cache until it polls.
      expect(await services.tokens.verify(t2)).toBeNull();
      expect(await peer.services.tokens.verify(t2)).not.toBeNull();
      await peer.services.epochs.poll();
      for (const t of [token, revocable, t2]) expect(await peer.services.tokens.verify(t)).toBeNull();
    });

    it('with more tokens in turn than GATEHOUSE_TOKEN_CACHE_SIZE, each is verified again, not refused', async () => {
      const small = await testServices(ts.store, { clock, config: { tokenCacheSize: 2 } });
      const c = await newClient();
      const tokens = [await tokenFor(c), await tokenFor(c), await tokenFor(c)];
      for (let round = 0; round < 3; round++) {
        for (const t of tokens) expect((await small.services.tokens.verify(t))?.claims.client_id).toBe(c.id);
      }
      // A token pushed out of the cache is still checked in full: tampered, it is refused.
      expect(await small.services.tokens.verify(`${tokens[0]!.slice(0, -4)}AAAA`)).toBeNull();
    });

    it('the poll timer picks up another node’s revoke by itself', async () => {
      const peer = await testServices(await ts.openPeer(), { clock });
      const c = await newClient();
      const token = await tokenFor(c);
      expect(await peer.services.tokens.verify(token)).not.toBeNull();
      peer.services.epochs.start({ intervalMs: 50 });
      try {
        await services.clients.revoke(c.id, CLI_ACTOR, OPERATOR);
        await vi.waitFor(async () => expect(await peer.services.tokens.verify(token)).toBeNull(), {
          timeout: 10_000,
          interval: 25,
        });
      } finally {
        await peer.services.epochs.stop();
      }
    });
  });
}
