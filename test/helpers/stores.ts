/**
 * Store factories for tests: SQLite in memory always, PostgreSQL when
 * GATEHOUSE_TEST_DATABASE_URL is set, each run in a fresh schema that is
 * dropped afterwards. Without the variable the PostgreSQL cases are skipped
 * with a printed notice; with CI=true an unreachable PostgreSQL fails the run.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, Migrator } from 'kysely';
import pg from 'pg';
import { openStore, type Store } from '../../src/store/index.js';
import { buildMigrations } from '../../src/store/migrations/index.js';
import type { Database } from '../../src/store/schema/index.js';

export const PG_URL = process.env.GATEHOUSE_TEST_DATABASE_URL || undefined;

let noticePrinted = false;
function printNotice(): void {
  if (noticePrinted) return;
  noticePrinted = true;
  process.stderr.write(
    '\n[gatehouse tests] GATEHOUSE_TEST_DATABASE_URL is not set: PostgreSQL store tests are SKIPPED. ' +
      'Set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run them.\n',
  );
}

export interface DialectCase {
  name: 'sqlite' | 'postgres';
  /** Opens a migrated store in a fresh schema (PostgreSQL) or a new in-memory database (SQLite). */
  open(): Promise<TestStore>;
  skip: boolean;
}

export interface TestStore {
  store: Store;
  /** PostgreSQL schema name, so a second store (another "node") can join the same data. */
  schema?: string;
  /** Opens another connection to the same data (a second node). */
  openPeer(): Promise<Store>;
  /** Closes the store and drops the schema. */
  dispose(): Promise<void>;
}

export function freshSchemaName(): string {
  return `t_${crypto.randomBytes(6).toString('hex')}`;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export const sqliteCase: DialectCase = {
  name: 'sqlite',
  skip: false,
  async open() {
    // A temp file rather than :memory:, so a peer connection (a second "node") sees the same data.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-test-'));
    const sqliteFile = path.join(dir, 'gatehouse.db');
    const store = await openStore({ sqliteFile });
    await store.migrate();
    const peers: Store[] = [];
    return {
      store,
      async openPeer() {
        const peer = await openStore({ sqliteFile });
        peers.push(peer);
        return peer;
      },
      async dispose() {
        for (const peer of peers) await peer.close().catch(() => {});
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** In CI the PostgreSQL half must run: a missing URL fails those tests instead of skipping them. */
const IN_CI = process.env.CI === 'true';

export const postgresCase: DialectCase = {
  name: 'postgres',
  skip: PG_URL === undefined && !IN_CI,
  async open() {
    if (PG_URL === undefined) {
      throw new Error(
        IN_CI
          ? 'CI=true but GATEHOUSE_TEST_DATABASE_URL is not set: the PostgreSQL store tests must run in CI'
          : 'GATEHOUSE_TEST_DATABASE_URL is not set',
      );
    }
    const schema = freshSchemaName();
    const store = await openStore({ databaseUrl: PG_URL, databaseSchema: schema, poolSize: 4 });
    await store.migrate();
    const peers: Store[] = [];
    return {
      store,
      schema,
      async openPeer() {
        const peer = await openStore({ databaseUrl: PG_URL, databaseSchema: schema, poolSize: 4 });
        peers.push(peer);
        return peer;
      },
      async dispose() {
        for (const peer of peers) await peer.close().catch(() => {});
        await store.close();
        await dropSchema(PG_URL, schema);
      },
    };
  },
};

/**
 * Both dialects; PostgreSQL marked `skip` (with a notice) when no URL is configured,
 * unless CI=true. A configured but unreachable PostgreSQL fails the tests, never skips them.
 */
export function dialects(): DialectCase[] {
  if (PG_URL === undefined && !IN_CI) printNotice();
  return [sqliteCase, postgresCase];
}

/** A store migrated only up to one migration, for a test of a later one over the rows already there. */
export interface PartlyMigratedStore {
  store: Store;
  /** Runs the migrations after it. */
  migrateToLatest(): Promise<void>;
  /** Closes the store and removes its file or schema. */
  dispose(): Promise<void>;
}

/** A fresh store of the dialect (a temp file, or a new schema at GATEHOUSE_TEST_DATABASE_URL) migrated up to `migration`. */
export async function openStoreAt(
  dialect: 'sqlite' | 'postgres',
  migration: string,
): Promise<PartlyMigratedStore> {
  let store: Store;
  let remove: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-migration-'));
    store = await openStore({ sqliteFile: path.join(dir, 'gatehouse.db') });
    remove = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    if (PG_URL === undefined) throw new Error('GATEHOUSE_TEST_DATABASE_URL is not set');
    const url = PG_URL;
    const schema = freshSchemaName();
    store = await openStore({ databaseUrl: url, databaseSchema: schema });
    remove = () => dropSchema(url, schema);
  }
  const migrator = new Migrator({
    db: store.db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => buildMigrations(dialect) },
  });
  const check = ({ error }: { error?: unknown }) => {
    if (error !== undefined) throw error;
  };
  check(await migrator.migrateTo(migration));
  return {
    store,
    migrateToLatest: async () => check(await migrator.migrateToLatest()),
    async dispose() {
      await store.close();
      await remove();
    },
  };
}

/** How many rows `table` holds: what "changes nothing" tests compare before and after. */
export async function countRows(store: Store, table: keyof Database): Promise<number> {
  const row = await store.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
