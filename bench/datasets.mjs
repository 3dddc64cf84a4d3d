#!/usr/bin/env node
/**
 * DataSets bench (issue #15; not a test): import a generated 6-column CSV into a DataSet and
 * export it again, through the service (the HTTP layer only hands the body stream on), on SQLite
 * (a file in a temporary directory) or PostgreSQL (--database-url, a fresh schema).
 *
 *   npm run build && node bench/datasets.mjs [--rows 1000000] [--database-url postgres://…]
 *
 * Prints rows/s for the import and the export. Targets (README, "DataSets API"): import
 * ≥ 150,000 rows/s, export ≥ 200,000 rows/s at 1M rows. The query and DuckDB reference cases come
 * with the query API.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';

const DIST = path.join(import.meta.dirname, '..', 'dist');
const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, 'database-url': { type: 'string' } },
});
const rows = Number(values.rows);
const { openStore } = await import(path.join(DIST, 'store/index.js'));
const { createServices } = await import(path.join(DIST, 'services/index.js'));
const { loadConfig } = await import(path.join(DIST, 'config.js'));
const { SecretKeyring } = await import(path.join(DIST, 'crypto.js'));
const { systemClock } = await import(path.join(DIST, 'clock.js'));
const { silentLogger } = await import(path.join(DIST, 'logger.js'));
const { OPERATOR } = await import(path.join(DIST, 'services/principal.js'));
const { CLI_ACTOR } = await import(path.join(DIST, 'services/context.js'));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-datasets-bench-'));
const schema = values['database-url'] ? `bench_ds_${crypto.randomBytes(4).toString('hex')}` : undefined;
const store = await openStore(
  values['database-url']
    ? { databaseUrl: values['database-url'], databaseSchema: schema }
    : { sqliteFile: path.join(dir, 'gatehouse.db') },
);
await store.migrate();
const config = loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent', GATEHOUSE_DATA_DIR: dir, GATEHOUSE_WORKERS: '1' });
const services = createServices({
  store,
  config,
  clock: systemClock,
  keyring: new SecretKeyring(crypto.randomBytes(32)),
  log: silentLogger(),
});
await services.roles.syncSystemRoles();
const user = await services.users.create({ email: 'bench@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
const principal = { ...OPERATOR, kind: 'user', user };
const dataset = await services.datasets.create(
  {
    name: 'Bench',
    schema: {
      columns: [
        { name: 'region', type: 'STRING' },
        { name: 'units', type: 'LONG' },
        { name: 'amount', type: 'DECIMAL' },
        { name: 'ratio', type: 'DOUBLE' },
        { name: 'day', type: 'DATE' },
        { name: 'at', type: 'DATETIME' },
      ],
    },
  },
  principal,
  CLI_ACTOR,
);

/** The CSV, generated 10,000 rows per chunk as it is read. */
function* csv() {
  const regions = ['north', 'south', 'east', 'west', 'centre', 'coast', 'hills', 'plains', 'isles', 'city'];
  const chunk = 10_000;
  for (let start = 0; start < rows; start += chunk) {
    let text = '';
    for (let i = start; i < Math.min(rows, start + chunk); i++) {
      const day = String(1 + (i % 28)).padStart(2, '0');
      text += `${regions[i % 10]},${i},${(i % 1000) / 100},${i / 7},2026-01-${day},2026-01-${day}T12:00:00Z\n`;
    }
    yield Buffer.from(text);
  }
}

let started = performance.now();
await services.datasets.importCsv(
  dataset.id,
  Readable.from(csv()),
  { updateMethod: 'REPLACE' },
  principal,
  CLI_ACTOR,
);
const importMs = performance.now() - started;

started = performance.now();
let bytes = 0;
for await (const chunk of await services.datasets.exportCsv(dataset.id, { includeHeader: true }))
  bytes += chunk.length;
const exportMs = performance.now() - started;

const store_ = values['database-url'] ? 'PostgreSQL' : 'SQLite';
console.log(`${store_}, ${rows.toLocaleString('en')} rows × 6 columns`);
console.log(
  `import: ${(importMs / 1000).toFixed(2)} s, ${Math.round(rows / (importMs / 1000)).toLocaleString('en')} rows/s`,
);
console.log(
  `export: ${(exportMs / 1000).toFixed(2)} s, ${Math.round(rows / (exportMs / 1000)).toLocaleString('en')} rows/s (${(bytes / 1e6).toFixed(1)} MB)`,
);
if (schema) await sql.raw(`drop schema "${schema}" cascade`).execute(store.db);
await store.close();
fs.rmSync(dir, { recursive: true, force: true });
