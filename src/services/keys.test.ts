/** Signing keys on both store dialects: generation, rotation overlap, retirement, algorithms, automatic rotation. */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { testServices, authenticateClient } from '../../test/helpers/services.js';
import type { ManualClock } from '../clock.js';
import type { TokenAlg } from '../config.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`signing keys (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let clientId: string;
    let clientSecret: string;

    async function issue(s: Services = services) {
      const auth = await authenticateClient(s, clientId, clientSecret);
      return s.tokens.issue(auth!.client, auth!.owner, ['data']);
    }

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      const owner = await services.users.create(
        { email: 'keys@example.com', role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      const issued = await services.clients.create(
        { name: 'k', scopes: ['data'], owner: owner.email, tokenTtlSeconds: 7200 },
        CLI_ACTOR,
      );
      clientId = issued.clientId;
      clientSecret = issued.clientSecret;
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('generates one RS256 key on first start, sealed at rest, and is idempotent', async () => {
      await services.keys.prepare();
      await services.keys.prepare();
      const keys = await services.keys.list();
      expect(keys).toEqual([
        {
          kid: expect.any(String),
          alg: 'RS256',
          status: 'active',
          createdAt: clock.now().toISOString(),
          retireAfter: null,
        },
      ]);
      const row = await ts.store.db.selectFrom('signing_keys').selectAll().executeTakeFirstOrThrow();
      expect(row.private_key).toMatch(/^v1\./);
      expect(row.private_key).not.toContain('PRIVATE KEY');
      expect(JSON.parse(row.public_jwk)).toMatchObject({
        kty: 'RSA',
        kid: row.kid,
        alg: 'RS256',
        use: 'sig',
      });
      expect(JSON.parse(row.public_jwk).d).toBeUndefined();
      expect((await services.keys.jwks()).keys.map((k) => k.kid)).toEqual([row.kid]);
    });

    it('rotation: old tokens verify until they expire, new ones use the new kid, the old key is then retired', async () => {
      const [oldKey] = await services.keys.list();
      const before = await issue();
      clock.advance(60_000);
      const rotated = await services.keys.rotate(CLI_ACTOR);
      expect(rotated.kid).not.toBe(oldKey!.kid);
      const after = await issue();
      expect(decodeProtectedHeader(before.accessToken).kid).toBe(oldKey!.kid);
      expect(decodeProtectedHeader(after.accessToken).kid).toBe(rotated.kid);
      // The longest TTL is the client's 7200 s, plus a minute of leeway.
      const retireAfter = new Date(clock.now().getTime() + (7200 + 60) * 1000).toISOString();
      expect(await services.keys.list()).toEqual([
        expect.objectContaining({ kid: rotated.kid, status: 'active', retireAfter: null }),
        expect.objectContaining({ kid: oldKey!.kid, status: 'published', retireAfter }),
      ]);
      const jwks = await services.keys.jwks();
      expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.kid, oldKey!.kid]);
      for (const token of [before.accessToken, after.accessToken]) {
        expect(await services.tokens.verify(token)).not.toBeNull();
        await expect(
          jwtVerify(token, createLocalJWKSet(jwks), { currentDate: clock.now(), typ: 'at+jwt' }),
        ).resolves.toBeDefined();
      }
      clock.set(retireAfter);
      expect(await services.keys.retireExpired()).toEqual([oldKey!.kid]);
      expect((await services.keys.jwks()).keys.map((k) => k.kid)).toEqual([rotated.kid]);
      expect((await services.keys.list()).find((k) => k.kid === oldKey!.kid)?.status).toBe('retired');
      const audit = await services.audit.query({ action: 'signing_key.' });
      expect(audit.items.map((e) => e.action)).toEqual([
        'signing_key.retired',
        'signing_key.rotated',
        'signing_key.rotated',
      ]);
    });

    for (const alg of ['ES256', 'EdDSA'] as TokenAlg[]) {
      it(`switches to ${alg} when GATEHOUSE_TOKEN_ALG changes, keeping the previous key published`, async () => {
        clock.advance(1000);
        const other = await testServices(ts.store, { config: { tokenAlg: alg }, clock });
        await other.services.keys.prepare();
        const [active, previous] = await other.services.keys.list();
        expect(active).toMatchObject({ alg, status: 'active' });
        expect(previous).toMatchObject({ status: 'published' });
        const issued = await issue(other.services);
        expect(decodeProtectedHeader(issued.accessToken)).toEqual({ alg, kid: active!.kid, typ: 'at+jwt' });
        expect(await other.services.tokens.verify(issued.accessToken)).not.toBeNull();
        const jwk = (await other.services.keys.jwks()).keys.find((k) => k.kid === active!.kid);
        expect(jwk).toMatchObject(
          alg === 'ES256' ? { kty: 'EC', crv: 'P-256' } : { kty: 'OKP', crv: 'Ed25519' },
        );
      });
    }

    it('rotates automatically every GATEHOUSE_KEY_ROTATION_DAYS, once even when two workers race', async () => {
      const auto = await testServices(ts.store, { config: { keyRotationDays: 1, tokenAlg: 'EdDSA' }, clock });
      await auto.services.keys.prepare();
      const [current] = await auto.services.keys.list();
      expect(await auto.services.keys.rotateIfDue()).toBe(false);
      clock.advance(86_400_000);
      const peer = await testServices(await ts.openPeer(), {
        config: { keyRotationDays: 1, tokenAlg: 'EdDSA' },
        clock,
      });
      const results = await Promise.all([auto.services.keys.rotateIfDue(), peer.services.keys.rotateIfDue()]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const keys = await auto.services.keys.list();
      expect(keys.filter((k) => k.status === 'active')).toHaveLength(1);
      expect(keys.find((k) => k.kid === current!.kid)?.status).toBe('published');
    });
  });
}
