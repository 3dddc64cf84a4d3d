/** API clients service on both store dialects. */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { testServices, asPrincipal, authenticateClient } from '../../test/helpers/services.js';
import type { ManualClock } from '../clock.js';
import { CLI_ACTOR, type Actor } from './context.js';
import type { Services } from './index.js';
import type { User } from './users.js';
import { OPERATOR } from './principal.js';
import { LAST_USED_PRECISION_MS, nameSearchTuning } from './clients.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`API clients (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let alice: User;
    let bob: User;
    let admin: User;
    const asUser = (u: User): Actor => ({ type: 'user', userId: u.id, label: u.email });

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      alice = await services.users.create(
        { email: 'alice@example.com', role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      bob = await services.users.create(
        { email: 'bob@example.com', role: 'Privileged' },
        OPERATOR,
        CLI_ACTOR,
      );
      admin = await services.users.create({ email: 'root@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('creates a client: UUID id and 64-hex secret once, HMAC stored, scopes in catalog order, audit without the secret', async () => {
      const issued = await services.clients.create(
        { name: '  Nightly export ', description: 'exports', scopes: ['user', 'data', 'data'] },
        asUser(alice),
      );
      expect(issued.clientId).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(issued.clientSecret).toMatch(/^[0-9a-f]{64}$/);
      expect(issued.client).toEqual({
        id: issued.clientId.slice(0, 13),
        name: 'Nightly export',
        description: 'exports',
        scopes: ['data', 'user'],
        tokenTtlSeconds: 3600,
        owner: { id: alice.id, email: 'alice@example.com', displayName: 'alice' },
        status: 'active',
        createdAt: clock.now().toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      });
      const secrets = await ts.store.db
        .selectFrom('client_secrets')
        .selectAll()
        .where('client_id', '=', issued.clientId)
        .execute();
      expect(secrets).toHaveLength(1);
      expect(secrets[0]!.secret_hash).toBe(
        services.ctx.keyring.hashSecret('client_secret', issued.clientSecret),
      );
      const audit = await services.audit.query({ action: 'api_client.created', targetId: issued.clientId });
      expect(audit.items).toHaveLength(1);
      expect(JSON.stringify(audit.items[0])).not.toContain(issued.clientSecret);
      expect(await authenticateClient(services, issued.clientId, issued.clientSecret)).toMatchObject({
        client: { id: issued.clientId, scopes: ['data', 'user'] },
        owner: { id: alice.id, roleName: 'Privileged', status: 'active' },
      });
      expect(
        await authenticateClient(services, issued.clientId, issued.clientSecret.toUpperCase()),
      ).toBeNull();
    });

    it('validates name, description, scopes and TTL', async () => {
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ name: '', scopes: ['data'] }, 'Client name must not be empty.'],
        [{ name: 'x'.repeat(101), scopes: ['data'] }, 'Client name must be at most 100 characters.'],
        [
          { name: 'ok', description: 'd'.repeat(1001), scopes: ['data'] },
          'Description must be at most 1000 characters.',
        ],
        [
          { name: 'ok', scopes: [] },
          '"scopes" must name at least one of: account, audit, buzz, dashboard, data, gateway, user, workflow.',
        ],
        [{ name: 'ok', scopes: ['data', 'admin'] }, 'Unknown scope: "admin".'],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 59 },
          'Token lifetime must be a whole number of seconds from 60 to 86400.',
        ],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 86_401 },
          'Token lifetime must be a whole number of seconds from 60 to 86400.',
        ],
      ];
      for (const [input, message] of bad) {
        await expect(services.clients.create(input as never, asUser(alice))).rejects.toMatchObject({
          status: 400,
          message,
        });
      }
    });

    it('keeps names unique among active clients, case-insensitively, also under a race; a revoked name is free again', async () => {
      const results = await Promise.allSettled([
        services.clients.create({ name: 'Race', scopes: ['data'] }, asUser(alice)),
        services.clients.create({ name: 'RACE', scopes: ['data'] }, asUser(bob)),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({
        status: 409,
        message: expect.stringMatching(/^An active API client named "RACE?" already exists\.$/i),
      });
      const winner = (
        results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ clientId: string }>
      ).value;
      await services.clients.revoke(winner.clientId, CLI_ACTOR, OPERATOR);
      await expect(
        services.clients.create({ name: 'race', scopes: ['data'] }, asUser(alice)),
      ).resolves.toBeDefined();
    });

    it('refuses an owner without api.clients.create', async () => {
      const participant = await services.users.create(
        { email: 'part@example.com', role: 'Participant' },
        OPERATOR,
        CLI_ACTOR,
      );
      await expect(
        services.clients.create({ name: 'nope', scopes: ['data'], owner: participant.email }, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 400,
        message: 'The owner must be an active user holding the grant "api.clients.create".',
      });
      await expect(
        services.clients.create({ name: 'nope', scopes: ['data'] }, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 400,
        message: 'Name the owner of the client (a user id or email).',
      });
    });

    it('lists own clients for creators and all for managers, filtered by name and owner, paginated', async () => {
      await services.clients.create({ name: 'Bob one', scopes: ['data'] }, asUser(bob));
      await services.clients.create({ name: 'Bob two', scopes: ['user'] }, asUser(bob));
      const bobs = await services.clients.list({}, await asPrincipal(services, bob.id));
      expect(bobs.items.every((c) => c.owner.id === bob.id)).toBe(true);
      const all = await services.clients.list({}, await asPrincipal(services, admin.id));
      expect(new Set(all.items.map((c) => c.owner.id))).toEqual(new Set([alice.id, bob.id]));
      expect((await services.clients.list({ name: 'bob t' }, OPERATOR)).items.map((c) => c.name)).toEqual([
        'Bob two',
      ]);
      expect(
        // Active only: the race above may have left Bob a revoked "RACE".
        (await services.clients.list({ owner: 'BOB@example.com', status: 'active' }, OPERATOR)).items
          .map((c) => c.name)
          .sort(),
      ).toEqual(['Bob one', 'Bob two']);
      expect((await services.clients.list({ owner: bob.id, status: 'active' }, OPERATOR)).items).toHaveLength(
        2,
      );
      const first = await services.clients.list({ limit: 2 }, OPERATOR);
      expect(first.items).toHaveLength(2);
      const rest = await services.clients.list({ limit: 200, cursor: first.nextCursor! }, OPERATOR);
      expect(rest.items.length + 2).toBe(all.items.length);
      expect(new Set([...first.items, ...rest.items].map((c) => c.id)).size).toBe(all.items.length);
      for (const item of all.items) expect(item.id).toHaveLength(13);
    });

    it('shows and revokes by full or partial id; other creators get 404; revoke is final and idempotent', async () => {
      const issued = await services.clients.create({ name: 'To revoke', scopes: ['data'] }, asUser(alice));
      await expect(
        services.clients.get(issued.client.id, await asPrincipal(services, bob.id)),
      ).rejects.toMatchObject({ status: 404 });
      await expect(
        services.clients.revoke(issued.clientId, asUser(bob), await asPrincipal(services, bob.id)),
      ).rejects.toMatchObject({
        status: 404,
      });
      expect((await services.clients.get(issued.clientId, await asPrincipal(services, alice.id))).name).toBe(
        'To revoke',
      );
      clock.advance(1000);
      const revoked = await services.clients.revoke(
        issued.client.id,
        asUser(admin),
        await asPrincipal(services, admin.id),
      );
      expect(revoked).toMatchObject({ status: 'revoked', revokedAt: clock.now().toISOString() });
      expect(await authenticateClient(services, issued.clientId, issued.clientSecret)).toBeNull();
      await services.clients.revoke(issued.clientId, asUser(alice), await asPrincipal(services, alice.id));
      expect(
        (await services.audit.query({ action: 'api_client.revoked', targetId: issued.clientId })).items,
      ).toHaveLength(1);
      const row = await ts.store.db
        .selectFrom('api_clients')
        .select('revoked_by')
        .where('id', '=', issued.clientId)
        .executeTakeFirstOrThrow();
      expect(row.revoked_by).toBe(`user:${admin.id}`);
      await expect(services.clients.get('nonsense', OPERATOR)).rejects.toMatchObject({ status: 404 });
    });

    it('rotates a secret with a grace period; at most two live; grace 0 ends the old one now', async () => {
      const issued = await services.clients.create({ name: 'Rotating', scopes: ['data'] }, asUser(alice));
      await expect(
        services.clients.rotateSecret(
          issued.clientId,
          {},
          asUser(admin),
          await asPrincipal(services, admin.id),
        ),
      ).rejects.toMatchObject({ status: 403 });
      const second = await services.clients.rotateSecret(
        issued.clientId,
        { graceSeconds: 3600 },
        asUser(alice),
        await asPrincipal(services, alice.id),
      );
      expect(second.clientSecret).toMatch(/^[0-9a-f]{64}$/);
      expect(second.previousSecretExpiresAt).toBe(new Date(clock.now().getTime() + 3_600_000).toISOString());
      expect(await authenticateClient(services, issued.clientId, issued.clientSecret)).not.toBeNull();
      expect(await authenticateClient(services, issued.clientId, second.clientSecret)).not.toBeNull();
      const third = await services.clients.rotateSecret(issued.clientId, {}, CLI_ACTOR, OPERATOR);
      // The first secret ends at once (only two live); the second gets the default 24 h grace.
      expect(await authenticateClient(services, issued.clientId, issued.clientSecret)).toBeNull();
      expect(await authenticateClient(services, issued.clientId, second.clientSecret)).not.toBeNull();
      expect(await authenticateClient(services, issued.clientId, third.clientSecret)).not.toBeNull();
      clock.advance(86_400_000);
      expect(await authenticateClient(services, issued.clientId, second.clientSecret)).toBeNull();
      expect(await authenticateClient(services, issued.clientId, third.clientSecret)).not.toBeNull();
      const fourth = await services.clients.rotateSecret(
        issued.clientId,
        { graceSeconds: 0 },
        CLI_ACTOR,
        OPERATOR,
      );
      expect(await authenticateClient(services, issued.clientId, third.clientSecret)).toBeNull();
      expect(await authenticateClient(services, issued.clientId, fourth.clientSecret)).not.toBeNull();
      await expect(
        services.clients.rotateSecret(issued.clientId, { graceSeconds: -1 }, CLI_ACTOR, OPERATOR),
      ).rejects.toMatchObject({
        status: 400,
      });
      const audit = await services.audit.query({
        action: 'api_client.secret_rotated',
        targetId: issued.clientId,
      });
      expect(audit.items).toHaveLength(3);
    });

    it('racing rotations from two nodes leave at most two live secrets; racing revokes write one event', async () => {
      const issued = await services.clients.create({ name: 'Racy', scopes: ['data'] }, asUser(alice));
      // PostgreSQL: a second node with its own connections. SQLite: one connection per process
      // serialises its transactions, and a second store in this process could only wait on it
      // by blocking the event loop (better-sqlite3 is synchronous), so the race is within one store.
      const peer =
        dialect.name === 'postgres'
          ? (await testServices(await ts.openPeer(), { clock })).services
          : services;
      const nodes = [services, peer, services, peer];
      const rotations = await Promise.allSettled(
        nodes.map((node) => node.clients.rotateSecret(issued.clientId, {}, CLI_ACTOR, OPERATOR)),
      );
      const fulfilled = rotations.filter((r) => r.status === 'fulfilled');
      expect(fulfilled.length).toBeGreaterThan(0);
      const now = clock.now().toISOString();
      const live = await ts.store.db
        .selectFrom('client_secrets')
        .select('id')
        .where('client_id', '=', issued.clientId)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .execute();
      expect(live).toHaveLength(2);
      const events = await services.audit.query({
        action: 'api_client.secret_rotated',
        targetId: issued.clientId,
      });
      expect(events.items).toHaveLength(fulfilled.length);

      const revokes = await Promise.allSettled(
        nodes.map((node) => node.clients.revoke(issued.clientId, CLI_ACTOR, OPERATOR)),
      );
      expect(
        revokes
          .filter((r) => r.status === 'rejected')
          .map((r) => String((r as PromiseRejectedResult).reason)),
      ).toEqual([]);
      expect(
        (await services.audit.query({ action: 'api_client.revoked', targetId: issued.clientId })).items,
      ).toHaveLength(1);
    });

    it('records last use in batches, not at once', async () => {
      const issued = await services.clients.create({ name: 'Used', scopes: ['data'] }, asUser(alice));
      services.clients.touch((await services.clients.record(issued.clientId))!);
      const before = await ts.store.db
        .selectFrom('api_clients')
        .select('last_used_at')
        .where('id', '=', issued.clientId)
        .executeTakeFirstOrThrow();
      expect(before.last_used_at).toBeNull();
      expect((await services.clients.get(issued.clientId, OPERATOR)).lastUsedAt).toBe(
        clock.now().toISOString(),
      );
      await services.clients.flushLastUsed();
      const after = await ts.store.db
        .selectFrom('api_clients')
        .select('last_used_at')
        .where('id', '=', issued.clientId)
        .executeTakeFirstOrThrow();
      expect(after.last_used_at).toBe(clock.now().toISOString());
    });

    it('writes last use once per LAST_USED_PRECISION_MS, knowing the stored time after a cache drop', async () => {
      const issued = await services.clients.create({ name: 'Busy', scopes: ['data'] }, asUser(alice));
      const stored = async () =>
        (
          await ts.store.db
            .selectFrom('api_clients')
            .select('last_used_at')
            .where('id', '=', issued.clientId)
            .executeTakeFirstOrThrow()
        ).last_used_at;
      const record = (await services.clients.record(issued.clientId))!;
      expect(record.lastUsedMs).toBeNull();
      services.clients.touch(record);
      const first = clock.now().toISOString();
      await services.clients.flushLastUsed();
      expect(await stored()).toBe(first);
      // Uses within the precision note nothing: nothing pending, nothing written.
      clock.advance(LAST_USED_PRECISION_MS - 1);
      services.clients.touch(record);
      expect((await services.clients.get(issued.clientId, OPERATOR)).lastUsedAt).toBe(first);
      await services.clients.flushLastUsed();
      expect(await stored()).toBe(first);
      // A record loaded again (another process, or after the cache let it go) knows the stored time.
      const other = (await testServices(ts.store, { clock })).services;
      const reloaded = (await other.clients.record(issued.clientId))!;
      expect(reloaded.lastUsedMs).toBe(Date.parse(first));
      other.clients.touch(reloaded);
      await other.clients.flushLastUsed();
      await other.epochs.stop();
      expect(await stored()).toBe(first);
      // Past the precision, the next use is written.
      clock.advance(1);
      services.clients.touch(record);
      await services.clients.flushLastUsed();
      expect(await stored()).toBe(clock.now().toISOString());
    });

    it('caches a compact record: the looked-up id string, one frozen scope array per scope set, the secret as fields', async () => {
      const first = await services.clients.create(
        { name: 'Compact 1', scopes: ['user', 'data'] },
        asUser(bob),
      );
      const second = await services.clients.create(
        { name: 'Compact 2', scopes: ['data', 'user'] },
        asUser(bob),
      );
      const record = (await services.clients.record(first.clientId))!;
      expect(record).toEqual({
        id: first.clientId,
        scopes: ['data', 'user'],
        tokenTtlSeconds: 3600,
        ownerUserId: bob.id,
        status: 'active',
        secretHash: expect.stringMatching(/^[\w-]{43}$/),
        secretExpiresAt: null,
        otherSecrets: [],
        lastUsedMs: null,
      });
      expect(Object.isFrozen(record.scopes)).toBe(true);
      expect((await services.clients.record(second.clientId))!.scopes).toBe(record.scopes);
      // During a rotation's grace period the previous secret is the other one.
      await services.clients.rotateSecret(first.clientId, { graceSeconds: 60 }, CLI_ACTOR, OPERATOR);
      const rotated = (await services.clients.record(first.clientId))!;
      const expiresAt = new Date(clock.now().getTime() + 60_000).toISOString();
      expect(
        [{ hash: rotated.secretHash, expiresAt: rotated.secretExpiresAt }, ...rotated.otherSecrets].map(
          (s) => s.expiresAt,
        ),
      ).toEqual(expect.arrayContaining([null, expiresAt]));
      expect(rotated.otherSecrets).toHaveLength(1);
      expect(await authenticateClient(services, first.clientId, first.clientSecret)).not.toBeNull();
    });

    it('does not cache unknown client ids, so a flood of them evicts no client in use', async () => {
      const issued = await services.clients.create({ name: 'In use', scopes: ['data'] }, asUser(alice));
      const small = (await testServices(ts.store, { clock, config: { clientCacheSize: 2 } })).services;
      const cached = (await authenticateClient(small, issued.clientId, issued.clientSecret))!.client;
      for (let i = 0; i < 10; i++) {
        const unknown = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
        expect(await small.clients.verify(unknown, issued.clientSecret)).toEqual({
          failure: 'unknown_client',
        });
      }
      // The same object: still cached, not loaded again.
      expect(await small.clients.record(issued.clientId)).toBe(cached);
    });

    it('a client revoked by another process is refused there at once; its other cached clients stay cached', async () => {
      const revoked = await services.clients.create(
        { name: 'Revoked elsewhere', scopes: ['data'] },
        asUser(alice),
      );
      const kept = await services.clients.create({ name: 'Kept cached', scopes: ['data'] }, asUser(alice));
      // Another process over the same data: on PostgreSQL another node, told by NOTIFY; on
      // SQLite another worker of this node, told through the invalidation bus as the cluster relay does.
      const peer = await ts.openPeer();
      const other = (await testServices(peer, { clock })).services;
      if (dialect.name === 'postgres') {
        other.epochs.start({ intervalMs: 3_600_000 });
        await vi.waitFor(() => expect(other.epochs.listening).toBe(true));
      } else {
        services.epochs.setBus({ publish: async (names, keyed) => other.epochs.apply(names, keyed) });
      }
      try {
        await other.epochs.poll();
        expect(await authenticateClient(other, revoked.clientId, revoked.clientSecret)).not.toBeNull();
        const cached = (await authenticateClient(other, kept.clientId, kept.clientSecret))!.client;
        await services.clients.revoke(revoked.clientId, CLI_ACTOR, OPERATOR);
        const refused = async () =>
          expect(await other.clients.verify(revoked.clientId, revoked.clientSecret)).toEqual({
            failure: 'client_inactive',
          });
        // The relay is waited for by the revoke; a NOTIFY arrives when it arrives.
        if (dialect.name === 'postgres') await vi.waitFor(refused);
        else await refused();
        // Not loaded again, before or after the other process's poll.
        expect(await other.clients.record(kept.clientId)).toBe(cached);
        await other.epochs.poll();
        expect(await other.clients.record(kept.clientId)).toBe(cached);
      } finally {
        services.epochs.setBus(undefined);
        await other.epochs.stop();
      }
    });

    it('finds a client by partial id through the id range, exactly, with neighbours on both sides of the range', async () => {
      // Prefixes ending in 9 and f (where the next digit is a letter, or past the digits), each
      // with the last id before the range and the first after it.
      const ids = [
        '5ca1ab1e-00a8-4fff-8fff-ffffffffffff',
        '5ca1ab1e-00a9-4000-8000-000000000000',
        '5ca1ab1e-00aa-4000-8000-000000000000',
        '5ca1ab1e-00ae-4fff-8fff-ffffffffffff',
        '5ca1ab1e-00af-4000-8000-000000000000',
        '5ca1ab1e-00af-4fff-8fff-ffffffffffff',
        '5ca1ab1e-00b0-4000-8000-000000000000',
      ];
      for (const [i, id] of ids.entries()) {
        await ts.store.db
          .insertInto('api_clients')
          .values({
            id,
            name: `Edge ${i}`,
            name_key: `edge ${i}`,
            description: '',
            scopes: '["data"]',
            token_ttl_seconds: 3600,
            owner_user_id: alice.id,
            status: 'active',
            created_at: '2026-01-01T00:00:00.000Z',
            revoked_at: null,
            revoked_by: null,
            last_used_at: null,
          })
          .execute();
      }
      expect((await services.clients.get('5ca1ab1e-00a9', OPERATOR)).name).toBe('Edge 1');
      expect((await services.clients.get('5CA1AB1E-00AA', OPERATOR)).name).toBe('Edge 2');
      expect((await services.clients.get('5ca1ab1e-00a8', OPERATOR)).name).toBe('Edge 0');
      expect((await services.clients.get('5ca1ab1e-00b0', OPERATOR)).name).toBe('Edge 6');
      // Two clients share the prefix 5ca1ab1e-00af: the partial id names neither.
      await expect(services.clients.get('5ca1ab1e-00af', OPERATOR)).rejects.toMatchObject({ status: 404 });
      expect((await services.clients.get('5ca1ab1e-00af-4fff-8fff-ffffffffffff', OPERATOR)).name).toBe(
        'Edge 5',
      );
      await expect(services.clients.get('5ca1ab1e-00ab', OPERATOR)).rejects.toMatchObject({ status: 404 });
      await expect(services.clients.get('5ca1ab1e-00a', OPERATOR)).rejects.toMatchObject({ status: 404 });

      // All seven share one created_at: pages of 2 by cursor list each once, in (created_at, id) order.
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await services.clients.list({ name: 'edge', limit: 2, cursor }, OPERATOR);
        seen.push(...page.items.map((c) => c.name));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(['Edge 6', 'Edge 5', 'Edge 4', 'Edge 3', 'Edge 2', 'Edge 1', 'Edge 0']);
    });

    it('matches % and _ in a name filter literally', async () => {
      await services.clients.create({ name: 'Export 100% done', scopes: ['data'] }, asUser(bob));
      await services.clients.create({ name: 'Export_raw', scopes: ['data'] }, asUser(bob));
      const names = async (name: string) =>
        (await services.clients.list({ name }, OPERATOR)).items.map((c) => c.name);
      expect(await names('100%')).toEqual(['Export 100% done']);
      expect(await names('t_r')).toEqual(['Export_raw']);
      expect(await names('xport%')).toEqual([]);
      expect(await names('nobody has this name')).toEqual([]);
    });

    it('finds a name by substring, case-insensitively, through the trigram index or the list walk alike', async () => {
      const BULK = 500;
      for (const name of [
        'Ünïcode Straße Export',
        `O'Brien "quoted" feed`,
        'ABC Mixed Case',
        'Ab',
        'ÆØÅ sync 東京',
      ]) {
        await services.clients.create({ name, scopes: ['data'] }, asUser(alice));
      }
      // More than two pages of 200 created in one millisecond: pages end inside it (sorted by id there).
      const now = clock.now().toISOString();
      const bulk = Array.from({ length: BULK + 5 }, (_, i) => ({
        id: `b0000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        name: `Bulk ${i}`,
        name_key: `bulk ${i}`,
        description: '',
        scopes: '["data"]',
        token_ttl_seconds: 3600,
        owner_user_id: bob.id,
        status: i % 3 === 0 ? ('revoked' as const) : ('active' as const),
        created_at: now,
        revoked_at: null,
        revoked_by: null,
        last_used_at: null,
      }));
      await ts.store.db.insertInto('api_clients').values(bulk).execute();

      const everyPage = async (query: { name?: string; owner?: string; status?: 'active' | 'revoked' }) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await services.clients.list({ ...query, limit: 200, cursor }, OPERATOR);
          seen.push(...page.items.map((c) => c.name));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return seen;
      };
      const all = await everyPage({});
      const expected = (fragment: string) =>
        all.filter((name) => name.toLowerCase().includes(fragment.trim().toLowerCase()));
      for (const fragment of [
        'STRASSE',
        'straße',
        'ÜNÏCODE',
        'ïco',
        `o'brien`,
        '"quoted"',
        `"`,
        `'`,
        'mixed c',
        'ab',
        'a',
        'æøå',
        '東京',
        'sync 東',
        ' bulk 100 ',
        `bulk ${BULK + 4}`,
        'bulk',
        'ulk 1',
        '100%',
        '_',
        '%',
        'no such client',
      ]) {
        const found = await everyPage({ name: fragment });
        expect(found, fragment).toEqual(expected(fragment));
      }
      expect(await everyPage({ name: 'straße' })).toEqual(['Ünïcode Straße Export']);
      expect((await everyPage({ name: 'bulk' })).length).toBe(BULK + 5);
      // `bulk 50` matches six of them (504 … 500 and 50, same time, id order).
      const last = [4, 3, 2, 1, 0].map((k) => BULK + k).concat(BULK / 10);
      const top = `bulk ${BULK / 10}`;
      expect(await everyPage({ name: top })).toEqual(last.map((i) => `Bulk ${i}`));
      // Combined with the other filters, in both plans.
      const bulkRevoked = Array.from({ length: BULK + 5 }, (_, i) => i)
        .filter((i) => i % 3 === 0)
        .map((i) => `Bulk ${i}`);
      expect((await everyPage({ name: 'bulk', status: 'revoked' })).sort()).toEqual(bulkRevoked.sort());
      expect(await everyPage({ name: top, status: 'revoked', owner: bob.email })).toEqual(
        last.filter((i) => i % 3 === 0).map((i) => `Bulk ${i}`),
      );
      expect(await everyPage({ name: top, owner: alice.email })).toEqual([]);
      // The index is there and in step with the table.
      if (ts.store.dialect === 'sqlite') {
        const { rows } = await sql<{ n: number }>`select count(*) as n from api_clients_name_fts`.execute(
          ts.store.db,
        );
        const { rows: clients } = await sql<{ n: number }>`select count(*) as n from api_clients`.execute(
          ts.store.db,
        );
        expect(rows[0]!.n).toBe(clients[0]!.n);
      } else {
        const keys = (await sql<{ name_key: string }>`select name_key from api_clients`.execute(ts.store.db))
          .rows;
        const expectedCounts = new Map<string, number>();
        for (const { name_key } of keys) {
          const chars = [...name_key];
          const grams = new Set(chars.slice(0, -2).map((_, i) => chars.slice(i, i + 3).join('')));
          for (const gram of grams) expectedCounts.set(gram, (expectedCounts.get(gram) ?? 0) + 1);
        }
        const { rows: postings } = await sql<{ trigram: string; n: string }>`
          select trigram, count(*) as n from api_client_name_trigrams group by trigram`.execute(ts.store.db);
        const { rows: counts } = await sql<{ trigram: string; clients: string }>`
          select trigram, clients from api_client_name_trigram_counts where clients <> 0`.execute(
          ts.store.db,
        );
        const asMap = (rows: { trigram: string; n?: string; clients?: string }[]) =>
          new Map(rows.map((r) => [r.trigram, Number(r.n ?? r.clients)]));
        expect(asMap(postings)).toEqual(expectedCounts);
        expect(asMap(counts)).toEqual(expectedCounts);
      }
    });

    it('pages a name filter in list order whether its matches are the newest, the oldest or spread, across equal times', async () => {
      // 600 clients, one per (fake) second, three of them in each millisecond at every 7th
      // second; "old n" names the oldest 150, "new n" the newest 150, "mid n" the rest.
      const base = Date.parse('2026-03-01T00:00:00.000Z');
      const rows = Array.from({ length: 600 }, (_, i) => {
        const name = i < 150 ? `Old ${i}` : i >= 450 ? `New ${i}` : `Mid ${i}`;
        const at = new Date(base + (i % 7 === 0 ? Math.floor(i / 21) * 21 : i) * 1000).toISOString();
        return {
          id: `c0000000-0000-4000-8000-${String((i * 7919) % 600).padStart(12, '0')}`,
          name,
          name_key: name.toLowerCase(),
          description: '',
          scopes: '["data"]',
          token_ttl_seconds: 3600,
          owner_user_id: i % 2 === 0 ? alice.id : bob.id,
          status: i % 5 === 0 ? ('revoked' as const) : ('active' as const),
          created_at: at,
          revoked_at: null,
          revoked_by: null,
          last_used_at: null,
        };
      });
      for (let i = 0; i < rows.length; i += 100) {
        await ts.store.db
          .insertInto('api_clients')
          .values(rows.slice(i, i + 100))
          .execute();
      }
      const pages = async (
        query: { name?: string; owner?: string; status?: 'active' | 'revoked' },
        limit: number,
      ) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await services.clients.list({ ...query, limit, cursor }, OPERATOR);
          seen.push(...page.items.map((c) => c.name));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return seen;
      };
      const all = await pages({}, 100);
      const alices = new Set(await pages({ owner: alice.email }, 100));
      const revoked = new Set(await pages({ status: 'revoked' }, 100));
      for (const fragment of ['old', 'old 1', 'new', 'mid 3', 'id 4', 'ld 14', 'd 1', '1', 'no such']) {
        const expected = all.filter((name) => name.toLowerCase().includes(fragment));
        for (const limit of expected.length < 30 ? [1, 7] : [7, 50]) {
          expect(await pages({ name: fragment }, limit), `${fragment} / ${limit}`).toEqual(expected);
        }
        // Both plans: the owner's (or status's) clients walked, and the name's postings walked.
        for (const filterWalkMax of [1000, 0]) {
          nameSearchTuning.filterWalkMax = filterWalkMax;
          try {
            expect(await pages({ name: fragment, owner: alice.email }, 9), fragment).toEqual(
              expected.filter((name) => alices.has(name)),
            );
            expect(await pages({ name: fragment, status: 'revoked' }, 9), fragment).toEqual(
              expected.filter((name) => revoked.has(name)),
            );
          } finally {
            nameSearchTuning.filterWalkMax = 1000;
          }
        }
      }

      // The index follows a change of name or creation time, and a deleted client.
      await ts.store.db
        .updateTable('api_clients')
        .set({ name: 'Renamed', name_key: 'renamed' })
        .where('name', '=', 'Old 3')
        .execute();
      await ts.store.db
        .updateTable('api_clients')
        .set({ created_at: '2027-01-01T00:00:00.000Z' })
        .where('name', '=', 'Old 4')
        .execute();
      await ts.store.db.deleteFrom('api_clients').where('name', '=', 'Old 5').execute();
      expect(await pages({ name: 'renamed' }, 10)).toEqual(['Renamed']);
      const olds = await pages({ name: 'old ' }, 13);
      expect(olds[0]).toBe('Old 4');
      expect(olds).not.toContain('Old 3');
      expect(olds).not.toContain('Old 5');
      expect(olds).toEqual((await pages({}, 200)).filter((name) => name.startsWith('Old ')));
    });
  });
}
