/**
 * The V8 heap one cached API client takes (ENTRY_BYTES.client in src/worker-heap.ts; README ›
 * Caches and memory at scale): a SQLite store with `--clients` clients (default 100,000), each
 * authenticated once through the real service (`clients.verify`, as the token endpoint calls
 * it, then `touch` as a token issued does, with the client id sliced out of decoded Basic credentials as `parseBasic` leaves it), with
 * GATEHOUSE_CLIENT_CACHE_SIZE set to hold them all. Heap used after a full collection, before
 * and after the loads, divided by the entries cached; the cache's slots preallocated at
 * construction (lru-cache) are measured apart and added. Single process, no load generator:
 *
 *   npm run build && node --expose-gc bench/client-cache-heap.mjs [--clients 100000]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { systemClock } from '../dist/clock.js';
import { loadConfig, withOverrides } from '../dist/config.js';
import { SecretKeyring } from '../dist/crypto.js';
import { silentLogger } from '../dist/logger.js';
import { Lru } from '../dist/lru.js';
import { registry } from '../dist/metrics.js';
import { createServices } from '../dist/services/index.js';
import { OPERATOR } from '../dist/services/principal.js';
import { openStore } from '../dist/store/index.js';

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const flag = process.argv.indexOf('--clients');
const count = flag > 0 ? Number(process.argv[flag + 1]) : 100_000;
const CLI_ACTOR = { type: 'cli' };

function heapUsed() {
  for (let i = 0; i < 4; i++) globalThis.gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, buffers: usage.arrayBuffers };
}

/** What parseBasic hands the service: the id sliced out of the decoded `id:secret`. */
function basicClientId(clientId, secret) {
  const decoded = new TextDecoder().decode(Buffer.from(`${clientId}:${secret}`));
  return decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, ' '));
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-heap-'));
const store = await openStore({ sqliteFile: path.join(dir, 'gatehouse.db') });
try {
  await store.migrate();
  const config = withOverrides(loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent', GATEHOUSE_WORKERS: '1' }), {
    secretKey: crypto.randomBytes(32),
    clientCacheSize: count,
  });
  const ctx = {
    store,
    config,
    clock: systemClock,
    keyring: new SecretKeyring(config.secretKey),
    log: silentLogger(),
  };
  const seeding = createServices(ctx);
  await seeding.roles.syncSystemRoles();
  const owner = await seeding.users.create(
    { email: 'owner@example.com', displayName: 'Owner', role: 'Privileged' },
    OPERATOR,
    CLI_ACTOR,
  );
  const first = await seeding.clients.create(
    { name: 'bench 0', scopes: ['data', 'user'], owner: owner.email },
    CLI_ACTOR,
  );
  // Like bench/scale/client-cache.mjs seedClients: the others copy the first, secret hash included.
  await store.transaction(async (tx) => {
    const template = await tx
      .selectFrom('api_clients')
      .selectAll()
      .where('id', '=', first.clientId)
      .executeTakeFirstOrThrow();
    const columns = Object.keys(template);
    const values = sql.join(
      columns.map((column) =>
        column === 'id'
          ? sql`lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a' || substr(h, 18, 3) || '-' || substr(h, 21, 12))`
          : column === 'name' || column === 'name_key'
            ? sql`'bench ' || cast(n as text)`
            : sql.ref(`t.${column}`),
      ),
    );
    await sql`insert into api_clients (${sql.join(columns.map((c) => sql.ref(c)))})
        with recursive seq(n) as (select 1 union all select n + 1 from seq where n < ${sql.lit(count - 1)}),
        r(n, h) as (select n, hex(randomblob(16)) from seq)
        select ${values} from r, api_clients t where t.id = ${first.clientId}`.execute(tx);
    await sql`insert into client_secrets (client_id, secret_hash, created_at, expires_at)
        select c.id, s.secret_hash, s.created_at, null from api_clients c, client_secrets s
        where s.client_id = ${first.clientId} and c.id <> ${first.clientId}`.execute(tx);
  });
  const ids = (await store.db.selectFrom('api_clients').select('id').execute()).map((row) => row.id);
  // The credentials as requests bring them, made before the first measure.
  const presented = ids.map((id) => basicClientId(id, first.clientSecret));
  ids.length = 0;

  // A fresh service container, so nothing is cached but what the loads below put there.
  const slotsBefore = heapUsed();
  const slots = new Lru(count);
  const slotsAfter = heapUsed();
  const preallocated = slotsAfter.heap - slotsBefore.heap + (slotsAfter.buffers - slotsBefore.buffers);
  slots.clear();
  const services = createServices(ctx);
  const warm = await services.clients.verify(first.clientId, first.clientSecret);
  if ('failure' in warm) throw new Error(`cannot authenticate: ${warm.failure}`);
  const before = heapUsed();
  for (const clientId of presented) {
    const result = await services.clients.verify(clientId, first.clientSecret);
    if ('failure' in result) throw new Error(`cannot authenticate ${clientId}: ${result.failure}`);
    // As tokens.issue does after a token is signed.
    services.clients.touch(result.client);
  }
  await services.clients.flushLastUsed();
  const after = heapUsed();
  const perEntry = (after.heap - before.heap) / count;
  const outside = (after.buffers - before.buffers) / count;
  const slotBytes = preallocated / count;
  process.stdout.write(
    `${count} clients cached: ${perEntry.toFixed(0)} B of heap per entry filled, ` +
      `${outside.toFixed(0)} B of array buffers, ${slotBytes.toFixed(0)} B per preallocated slot; ` +
      `total ${(perEntry + outside + slotBytes).toFixed(0)} B (${((perEntry + outside + slotBytes) / 1024).toFixed(2)} KB)\n`,
  );
  // Every client is still cached: a second round is all hits.
  const hits = async () =>
    (await registry.getSingleMetric('gatehouse_cache_requests_total').get()).values.find(
      (v) => v.labels.cache === 'client' && v.labels.result === 'hit',
    )?.value ?? 0;
  const hitsBefore = await hits();
  for (const clientId of presented) await services.clients.record(clientId);
  const missed = count - ((await hits()) - hitsBefore);
  if (missed !== 0) throw new Error(`${missed} of ${count} clients were not cached`);
  if (!slots) throw new Error('unreachable');
} finally {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
