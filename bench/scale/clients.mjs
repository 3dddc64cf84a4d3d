/**
 * API client lists and lookups at 10 vs 100k clients (issue 17): every admin list page, the
 * partial-id lookup and creating a client, through the service, on a small and a large store in
 * turns. Targets: every list page ≤ 10 ms, creating a client ≤ 5 ms at 100k clients.
 */
import path from 'node:path';
import { generatedColumns, insertGenerated } from '../lib/scale.mjs';

export const id = 'clients';
export const title = 'API client lists at 10 vs 100k clients';

const OWNERS = 50;

/** A service container over `store` (system roles synced), as the server builds it. */
export async function servicesFor(root, store) {
  const { createServices } = await import(path.join(root, 'dist/services/index.js'));
  const { loadConfig } = await import(path.join(root, 'dist/config.js'));
  const { SecretKeyring } = await import(path.join(root, 'dist/crypto.js'));
  const { silentLogger } = await import(path.join(root, 'dist/logger.js'));
  const key = Buffer.alloc(32, 7);
  const config = { ...loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent', GATEHOUSE_WORKERS: '1' }), secretKey: key };
  const services = createServices({
    store,
    config,
    clock: { now: () => new Date() },
    keyring: new SecretKeyring(key),
    log: silentLogger(),
  });
  await services.roles.syncSystemRoles();
  return services;
}

/** Creates a user as the CLI does: users.create(input, principal, actor) since the Principal change, (input, actor) before. */
export async function createUser(root, services, input) {
  if (services.users.create.length >= 3) {
    const { OPERATOR } = await import(path.join(root, 'dist/services/principal.js'));
    return services.users.create(input, OPERATOR, { type: 'cli' });
  }
  return services.users.create(input, { type: 'cli' });
}

/**
 * The viewer that sees every client: `'all'` while the services take a ClientViewer, the
 * OPERATOR principal once they take a Principal.
 */
async function everyClientViewer(root, services) {
  if (services.clients.list.toString().includes("'all'")) return 'all';
  const { OPERATOR } = await import(path.join(root, 'dist/services/principal.js'));
  return OPERATOR;
}

/** `count` clients in one statement, one second apart, a tenth revoked, owned round-robin by 50 users. */
async function seed(store, services, count, { sql }, root) {
  const owners = [];
  for (let i = 0; i < OWNERS; i += 1) {
    owners.push(await createUser(root, services, { email: `owner${i}@example.com`, role: 'Privileged' }));
  }
  const first = owners[0].id;
  const { uuid, time } = generatedColumns(store, sql);
  const values = sql`${uuid}, 'Client ' || n, 'client ' || n, '', '["data"]', 3600, ${sql.lit(first)} + n % ${sql.lit(OWNERS)},
      case when n % 10 = 0 then 'revoked' else 'active' end, ${time}, null, null, null`;
  const insert = sql`insert into api_clients (id, name, name_key, description, scopes, token_ttl_seconds, owner_user_id,
      status, created_at, revoked_at, revoked_by, last_used_at)`;
  await insertGenerated(store, sql, { insert, values, count, table: 'api_clients' });
  return owners;
}

export const seedForExplain = seed;

export async function run(options) {
  const largeCount = options.quick ? 20_000 : 100_000;
  const sizes = { small: 10, large: largeCount };
  const state = {};
  for (const [size, count] of Object.entries(sizes)) {
    const store = await options.openStore(`clients_${size}`);
    const services = await servicesFor(options.root, store);
    const owners = await seed(store, services, count, options.kysely, options.root);
    const viewer = await everyClientViewer(options.root, services);
    const { rows } = await options.kysely
      .sql`select id from api_clients order by created_at desc limit 1 offset ${options.kysely.sql.lit(Math.floor(count / 2))}`.execute(
      store.db,
    );
    const middle = rows[0].id;
    const firstPage = await services.clients.list({ limit: 50 }, viewer);
    state[size] = { store, services, owners, viewer, middle, cursor: firstPage.nextCursor ?? undefined };
  }
  const list = (query) => (size) => state[size].services.clients.list(query, state[size].viewer);
  const CASES = [
    ['first page, no filter', list({ limit: 50 })],
    ['second page (cursor)', (size) => list({ limit: 50, cursor: state[size].cursor })(size)],
    ['owner=<email>', (size) => list({ owner: state[size].owners[7].email })(size)],
    ['owner=<id>&status=active', (size) => list({ owner: state[size].owners[7].id, status: 'active' })(size)],
    ['status=revoked', list({ status: 'revoked' })],
    ['name="client 1" (11 % match, all among the oldest)', list({ name: 'client 1' })],
    ['name=<matches none>', list({ name: 'no such name' })],
    ['name="client 4242" (a handful match)', list({ name: 'client 4242' })],
    ['name="client 9" (11 % match, among the newest at 100k)', list({ name: 'client 9' })],
    [
      'show <partial id>',
      (size) => state[size].services.clients.get(state[size].middle.slice(0, 13), state[size].viewer),
    ],
  ];
  const cases = [];
  for (const [label, fn] of CASES) {
    for (const size of ['small', 'large']) cases.push({ key: `${label}|${size}`, fn: () => fn(size) });
  }
  let created = 0;
  for (const size of ['small', 'large']) {
    cases.push({
      key: `create a client|${size}`,
      fn: () =>
        state[size].services.clients.create(
          { name: `bench ${size} ${created++}`, scopes: ['data'], owner: state[size].owners[0].email },
          { type: 'cli' },
        ),
    });
  }
  const timings = await options.timeTurns(cases, {
    rounds: options.quick ? 2 : options.rounds,
    iterations: options.quick ? 3 : 10,
  });
  const rows = [];
  for (const label of [...CASES.map(([l]) => l), 'create a client']) {
    const s = timings.get(`${label}|small`);
    const l = timings.get(`${label}|large`);
    const limit = label === 'create a client' ? 5 : 10;
    rows.push({
      measure: label === 'create a client' || label.startsWith('show') ? label : `GET /clients ${label}`,
      small: s.median,
      large: l.median,
      unit: 'ms',
      smallLabel: `${sizes.small} clients`,
      largeLabel: `${largeCount / 1000}k clients`,
      target: `≤ ${limit} ms`,
      met: l.median <= limit,
      note: `p95 ${l.p95.toFixed(1)} ms at the large size; CPU of this process per call (median) ${s.cpuMedian.toFixed(2)} → ${l.cpuMedian.toFixed(2)} ms`,
    });
  }
  return rows;
}
