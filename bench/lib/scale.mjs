/**
 * `npm run bench -- --scale`: the same operation on a small and a large instance, in turns,
 * with the ratio large ÷ small printed (issue 17). Not a timed test: it reports, it does not judge
 * beyond marking a row's target as met or not.
 *
 * A scale module is a file in bench/scale/ that exports
 *
 *   export const id = 'audit';                 // what --only selects
 *   export const title = 'Audit log at 1k vs 1M events';
 *   export async function run(options) { … return rows; }
 *
 * `options` (one object, the same for every module):
 *   root          the repository root; import the product from `${root}/dist/…` (already built)
 *   pgUrl         PostgreSQL URL when the run is `--pg`, else undefined (SQLite)
 *   store         'sqlite' | 'postgres'
 *   quick         true for a smoke run (use fewer rows and iterations; numbers are not meaningful)
 *   rounds        turns the measured time is cut into
 *   duration      measured seconds per HTTP target (for measureInterleaved)
 *   warmup        warm-up seconds per HTTP target
 *   connections   autocannon connections
 *   workers       worker processes for a served Gatehouse
 *   logDir        where to put server logs
 *   log(message)  a progress line
 *   autocannon, measureInterleaved, startGatehouse   the load helpers of bench/lib
 *   timeTurns     in-process timing of small and large cases in turns (below)
 *   kysely        the product's Kysely module (`sql`, `CompiledQuery`) for seeding with plain SQL
 *   openStore(name)   a fresh migrated store (SQLite file or PostgreSQL schema) that the
 *                     runner closes and drops at the end
 *
 * A row (one line of the Scale table):
 *   { measure: 'GET /audit?actorType=cli',     // what was done
 *     small: 0.4, large: 1.1, unit: 'ms',      // 'ms' (lower is better) or 'req/s', 'MB', …
 *     smallLabel: '1k events', largeLabel: '1M events',
 *     target?: '≤ 20 ms', met?: boolean,       // the issue's goal for this row, if any
 *     note?: string }
 * The runner adds `group` (the module id), the ratio large ÷ small, and the store.
 */
import { performance } from 'node:perf_hooks';

/**
 * Times each case's `fn` `iterations` times per round, the cases taking turns within each
 * round (so machine drift hits small and large alike). Returns key → { median, p95, max } in ms,
 * and `cpuMedian`: the median CPU time this process spent per call (process.cpuUsage, all its
 * threads), which a busy machine does not inflate the way it inflates wall time (a call that
 * outlasts its time slice waits for the next one); with SQLite, which runs in-process, it is the
 * query's own cost, with PostgreSQL only the client's side.
 */
export async function timeTurns(cases, { rounds = 5, iterations = 20, warmup = 3 } = {}) {
  for (const c of cases) for (let i = 0; i < warmup; i += 1) await c.fn();
  const samples = new Map(cases.map((c) => [c.key, []]));
  const cpuSamples = new Map(cases.map((c) => [c.key, []]));
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < cases.length; i += 1) {
      const c = cases[(round + i) % cases.length];
      for (let n = 0; n < iterations; n += 1) {
        const cpu = process.cpuUsage();
        const start = performance.now();
        await c.fn();
        samples.get(c.key).push(performance.now() - start);
        const used = process.cpuUsage(cpu);
        cpuSamples.get(c.key).push((used.user + used.system) / 1000);
      }
    }
  }
  const result = new Map();
  for (const [key, values] of samples) {
    values.sort((a, b) => a - b);
    const at = (q) => values[Math.min(values.length - 1, Math.floor(q * values.length))];
    const cpu = cpuSamples.get(key).sort((a, b) => a - b);
    result.set(key, {
      median: at(0.5),
      p95: at(0.95),
      max: values[values.length - 1],
      cpuMedian: cpu[Math.floor(cpu.length / 2)],
    });
  }
  return result;
}

const round = (n) =>
  n === undefined ? '—' : n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(1) : n.toFixed(2);

export function scaleTableRows(rows) {
  return rows.map((row) => [
    row.group,
    row.measure,
    `${round(row.small)} ${row.unit} (${row.smallLabel})`,
    `${round(row.large)} ${row.unit} (${row.largeLabel})`,
    row.ratio === undefined ? '—' : `${row.ratio.toFixed(2)}×`,
    row.target === undefined
      ? ''
      : `${row.target}: ${row.met === undefined ? '?' : row.met ? 'met' : 'NOT met'}`,
  ]);
}

export const SCALE_COLUMNS = ['group', 'measure', 'small', 'large', 'large ÷ small', 'target'];

/** Runs the selected modules one after the other; a module that throws becomes a failed row. */
export async function runScaleModules(modules, options) {
  const rows = [];
  for (const module of modules) {
    options.log(`${module.title} (${options.store})`);
    try {
      const produced = await module.run(options);
      for (const row of produced) {
        rows.push({
          group: module.id,
          store: options.store,
          ratio: row.small > 0 && row.large !== undefined ? row.large / row.small : undefined,
          ...row,
        });
      }
    } catch (error) {
      console.log(`   ${module.id}: FAILED: ${error?.stack ?? error}`);
      rows.push({
        group: module.id,
        store: options.store,
        measure: 'FAILED',
        failed: String(error?.message ?? error),
        unit: '',
      });
    }
  }
  return rows;
}

/**
 * The `--scale` run: loads bench/scale/*.mjs (those named by `only`, or all), gives each the
 * shared options, prints the table and writes bench/results/scale-<time>.{json,md} (and
 * scale-latest.*). Returns the rows.
 */
export async function runScale({ root, bench, results, stamp, only, settings, helpers }) {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const crypto = await import('node:crypto');
  const dir = path.join(bench, 'scale');
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.mjs'))
        .sort()
    : [];
  const modules = [];
  for (const file of files) modules.push(await import(path.join(dir, file)));
  const wanted = only ? only.toLowerCase().split(',') : undefined;
  // A module marked explicitOnly (the long memory run) runs only when --only names it.
  const selected = modules.filter((m) => (wanted ? wanted.includes(m.id) : !m.explicitOnly));
  if (selected.length === 0) {
    throw new Error(
      `no scale module matches --only ${only}; there are: ${modules.map((m) => m.id).join(', ')}`,
    );
  }
  const { openStore: open } = await import(path.join(root, 'dist/store/index.js'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-scale-'));
  const opened = [];
  const schemas = [];
  async function openStore(name) {
    let store;
    if (settings.pgUrl) {
      const schema = `scale_${name.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${crypto.randomBytes(3).toString('hex')}`;
      schemas.push(schema);
      store = await open({ databaseUrl: settings.pgUrl, databaseSchema: schema, poolSize: 4 });
    } else {
      store = await open({ sqliteFile: path.join(tmp, `${name}.db`) });
    }
    opened.push(store);
    await store.migrate();
    return store;
  }
  const kysely = await import(path.join(root, 'node_modules/kysely/dist/esm/index.js'));
  const options = {
    ...settings,
    kysely,
    ...helpers,
    root,
    store: settings.pgUrl ? 'postgres' : 'sqlite',
    timeTurns,
    openStore,
    log: (message) => process.stdout.write(`\n== ${message}\n`),
  };
  let rows;
  try {
    rows = await runScaleModules(selected, options);
  } finally {
    for (const store of opened) await store.close().catch(() => {});
    if (schemas.length > 0) {
      const { default: pg } = await import(path.join(root, 'node_modules/pg/lib/index.js'));
      const client = new pg.Client({ connectionString: settings.pgUrl });
      await client.connect();
      for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const { markdownTable, textTable } = await import('./report.mjs');
  const table = scaleTableRows(rows);
  console.log(`\n${textTable(SCALE_COLUMNS, table)}\n`);
  const machine = `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, load average ${os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')}`;
  console.log(`${options.store === 'postgres' ? 'PostgreSQL' : 'SQLite'}; ${machine}`);
  const markdown = [
    `# Gatehouse scale benchmark, ${new Date().toISOString()}`,
    '',
    `${options.store === 'postgres' ? 'PostgreSQL' : 'SQLite'}; ${machine}.`,
    '',
    markdownTable(SCALE_COLUMNS, table),
    '',
  ].join('\n');
  fs.mkdirSync(results, { recursive: true });
  for (const name of [`scale-${stamp}`, 'scale-latest']) {
    fs.writeFileSync(
      path.join(results, `${name}.json`),
      `${JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2)}\n`,
    );
    fs.writeFileSync(path.join(results, `${name}.md`), markdown);
  }
  console.log(`\nResults: bench/results/scale-${stamp}.{json,md}`);
  return rows;
}

/**
 * SQL for the n-th generated row of `insertGenerated` (n counts from 0): `uuid`, a random
 * UUID (on SQLite from the row's random hex `h`), and `time`, an ISO time n seconds after
 * 2025-01-01.
 */
export function generatedColumns(store, sql) {
  const pg = store.dialect === 'postgres';
  return {
    uuid: pg
      ? sql`gen_random_uuid()::text`
      : sql`lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a' || substr(h, 18, 3) || '-' || substr(h, 21, 12))`,
    time: pg
      ? sql`to_char(timestamp '2025-01-01' + n * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
      : sql`strftime('%Y-%m-%dT%H:%M:%fZ', 1735689600 + n, 'unixepoch')`,
  };
}

/**
 * Inserts `count` rows in one statement: `insert` (an `insert into t (…)` head) with `values`
 * evaluated for n = 0 … count − 1 (generate_series on PostgreSQL; a recursive CTE with a random
 * hex `h` per row on SQLite, in one transaction), then refreshes the planner's statistics.
 */
export async function insertGenerated(store, sql, { insert, values, count, table }) {
  if (store.dialect === 'postgres') {
    await sql`${insert} select ${values} from generate_series(0, ${sql.lit(count - 1)}) as n`.execute(
      store.db,
    );
    await sql`analyze ${sql.table(table)}`.execute(store.db);
    return;
  }
  await store.transaction(async (tx) => {
    await sql`${insert} with recursive seq(n) as (select 0 union all select n + 1 from seq where n < ${sql.lit(count - 1)}),
        r(n, h) as (select n, hex(randomblob(16)) from seq)
        select ${values} from r`.execute(tx);
  });
  await sql`analyze`.execute(store.db);
}
