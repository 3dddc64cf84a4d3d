/**
 * The revocation change feed, on both dialects: a second node over the same
 * database sees revokes after its epoch poll by reading only the new rows (each
 * row is read once: counted with a Kysely plugin on that node's store), expired
 * entries leave the set, and a revoked token stays refused within the guard's
 * clock tolerance past `exp`, even on a node that starts after `exp`.
 */
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices, authenticateClient } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import type { ManualClock } from '../clock.js';
import { JWT_CLOCK_SKEW_SECONDS } from '../guard/index.js';
import type { Store } from '../store/index.js';
import { epochsOf } from '../store/epochs.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';
import { KEEP_AFTER_EXPIRY_MS, RevokedTokens } from './revoked-tokens.js';

/** Counts the statements reading `revoked_tokens` and the rows they return. */
class RevokedReads implements KyselyPlugin {
  statements = 0;
  rows = 0;
  private readonly ids = new WeakSet<object>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'SelectQueryNode' && JSON.stringify(args.node.from).includes('"revoked_tokens"'))
      this.ids.add(args.queryId);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.ids.has(args.queryId)) {
      this.statements++;
      this.rows += args.result.rows.length;
    }
    return args.result;
  }
}

const jtiOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`revocation change feed (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let ownerEmail: string;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      await services.keys.prepare();
      ownerEmail = (
        await services.users.create({ email: 'feed@example.com', role: 'Privileged' }, OPERATOR, CLI_ACTOR)
      ).email;
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    async function clientWithTokens(count: number) {
      const issued = await services.clients.create(
        { name: `feed ${Math.random()}`, scopes: ['data'], owner: ownerEmail },
        CLI_ACTOR,
      );
      const auth = (await authenticateClient(services, issued.clientId, issued.clientSecret))!;
      const tokens: string[] = [];
      for (let i = 0; i < count; i++)
        tokens.push((await services.tokens.issue(auth.client, auth.owner, ['data'])).accessToken);
      return { record: auth.client, tokens };
    }

    /** Another node whose reads of `revoked_tokens` are counted. */
    async function countedPeer() {
      const peerStore = await ts.openPeer();
      const reads = new RevokedReads();
      const counted: Store = { ...peerStore, db: peerStore.db.withPlugin(reads) };
      const { services: peer } = await testServices(counted, { clock });
      return { peer, reads };
    }

    it('another node loads the set once, then reads only the rows revoked since', async () => {
      const { record, tokens } = await clientWithTokens(6);
      const [t1, t2, t3, t4, t5, t6] = tokens as [string, string, string, string, string, string];
      await services.tokens.revoke(t1, record, CLI_ACTOR);
      await services.tokens.revoke(t2, record, CLI_ACTOR);
      const revokedBefore = await ts.store.db.selectFrom('revoked_tokens').select('jti').execute();

      const { peer, reads } = await countedPeer();
      expect(await peer.tokens.verify(t1)).toBeNull();
      expect(await peer.tokens.verify(t3)).not.toBeNull();
      expect(reads.rows).toBe(revokedBefore.length);

      await services.tokens.revoke(t3, record, CLI_ACTOR);
      await peer.epochs.poll();
      expect(await peer.tokens.verify(t3)).toBeNull();
      expect(await peer.tokens.verify(t2)).toBeNull();
      expect(reads.rows).toBe(revokedBefore.length + 1);

      await services.tokens.revoke(t4, record, CLI_ACTOR);
      await services.tokens.revoke(t5, record, CLI_ACTOR);
      await peer.epochs.poll();
      for (const t of [t4, t5]) expect(await peer.tokens.verify(t)).toBeNull();
      expect(await peer.tokens.verify(t6)).not.toBeNull();
      // Every revocation row was read exactly once: the set was never reloaded.
      expect(reads.rows).toBe(revokedBefore.length + 3);

      // A revoke made on the peer counts there at once, and here after this node's poll.
      await peer.tokens.revoke(t6, (await peer.clients.record(record.id))!, CLI_ACTOR);
      expect(await peer.tokens.verify(t6)).toBeNull();
      await services.epochs.poll();
      expect(await services.tokens.verify(t6)).toBeNull();
    });

    it('gives revokes racing on two nodes distinct feed numbers, and both nodes see them all', async () => {
      const { record, tokens } = await clientWithTokens(20);
      const { peer } = await countedPeer();
      const peerRecord = (await peer.clients.record(record.id))!;
      await Promise.all(
        tokens.map((t, i) =>
          i % 2 === 0
            ? services.tokens.revoke(t, record, CLI_ACTOR)
            : peer.tokens.revoke(t, peerRecord, CLI_ACTOR),
        ),
      );
      const rows = await ts.store.db
        .selectFrom('revoked_tokens')
        .select('seq')
        .where('jti', 'in', tokens.map(jtiOf))
        .execute();
      const numbers = rows.map((r) => Number(r.seq));
      expect(new Set(numbers).size).toBe(tokens.length);
      for (const node of [services, peer]) {
        await node.epochs.poll();
        for (const t of tokens) expect(await node.tokens.verify(t)).toBeNull();
      }
    });

    it('drops entries once their tokens are a minute past exp', async () => {
      const { record, tokens } = await clientWithTokens(1);
      await services.tokens.revoke(tokens[0]!, record, CLI_ACTOR);
      const set = new RevokedTokens(ts.store, clock, epochsOf(ts.store));
      const jti = jtiOf(tokens[0]!);
      expect(await set.has(jti)).toBe(true);
      const sizeBefore = set.size;
      clock.advance(3_600_000 + KEEP_AFTER_EXPIRY_MS - 1_000);
      expect(await set.has(jti)).toBe(true);
      clock.advance(61_000);
      expect(await set.has(jti)).toBe(false);
      expect(set.size).toBeLessThan(sizeBefore);
    });

    it('a revoked token stays refused within the clock tolerance past exp, also on a node started after exp', async () => {
      const { record, tokens } = await clientWithTokens(1);
      const token = tokens[0]!;
      await services.tokens.revoke(token, record, CLI_ACTOR);
      clock.advance(3_600_000 + 10_000);
      await services.tokens.pruneRevoked();
      const { peer } = await countedPeer();
      expect(await peer.tokens.verify(token, { clockToleranceSeconds: JWT_CLOCK_SKEW_SECONDS })).toBeNull();
      expect(
        await services.tokens.verify(token, { clockToleranceSeconds: JWT_CLOCK_SKEW_SECONDS }),
      ).toBeNull();
    });
  });
}
