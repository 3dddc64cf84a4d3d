/**
 * `gatehouse backup` under write load and `gatehouse restore` into a fresh directory: a real
 * server serves the instance while this process keeps creating API clients in it; the backup
 * (the built CLI, another process) runs meanwhile. Restored into a new data directory and served
 * by a second server, every client created before the backup started is there, its secret gets a
 * token at /oauth/token, and the token verifies against the restored server's JWKS (so do tokens
 * the original server signed: the signing keys came along). The restore checks refuse what they
 * should, changing nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { buildMigrations, MIGRATION_NAMES } from '../../src/store/migrations/index.js';
import { CLI_TEST_TIMEOUT, runBuiltCli, type ServedCluster, startServe } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const SECRET_KEY = Buffer.alloc(32, 21).toString('base64');
const ISSUER = 'http://localhost:8080';

interface Issued {
  clientId: string;
  clientSecret: string;
}

async function token(port: number, client: Issued): Promise<{ status: number; accessToken?: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const body = (await res.json()) as { access_token?: string };
  return { status: res.status, accessToken: body.access_token };
}

async function jwks(port: number): Promise<JSONWebKeySet> {
  return (await (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
}

function clientIdsIn(dataDir: string): Set<string> {
  const db = new Database(path.join(dataDir, 'gatehouse.db'), { readonly: true });
  try {
    return new Set(
      (db.prepare('select id from api_clients').all() as Array<{ id: string }>).map((r) => r.id),
    );
  } finally {
    db.close();
  }
}

describe(
  'gatehouse backup under write load, restore into a fresh directory',
  { timeout: CLI_TEST_TIMEOUT },
  () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-backup-'));
    const dirA = path.join(root, 'a');
    const dirB = path.join(root, 'b');
    const backupFile = path.join(root, 'gatehouse.backup');
    const envOf = (dataDir: string, extra: Record<string, string> = {}) => ({
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_SECRET_KEY: SECRET_KEY,
      GATEHOUSE_ISSUER: ISSUER,
      GATEHOUSE_WORKERS: '1',
      GATEHOUSE_LOG_LEVEL: 'info',
      ...extra,
    });
    let serverA: ServedCluster | undefined;
    let serverB: ServedCluster | undefined;
    let portA = 0;
    let portB = 0;
    let writer: Runtime | undefined;
    const before: Issued[] = [];
    const during: string[] = [];
    const after: string[] = [];
    let tokenFromA = '';

    beforeAll(async () => {
      portA = await freePort();
      serverA = await startServe(envOf(dirA, { PORT: String(portA) }));
      writer = await openRuntime(loadConfig(envOf(dirA)), silentLogger());
    });
    afterAll(async () => {
      await writer?.close();
      await serverA?.stop();
      await serverB?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    });

    const create = async (name: string) =>
      writer!.services.clients.create({ name, owner: 'admin@localhost', scopes: 'data' }, CLI_ACTOR);

    it('backs up while clients are being created, and the restored instance has every earlier client working', async () => {
      for (let i = 0; i < 25; i++) {
        const issued = await create(`before-${i}`);
        before.push({ clientId: issued.clientId, clientSecret: issued.clientSecret });
      }
      const first = await token(portA, before[0]!);
      expect(first.status).toBe(200);
      tokenFromA = first.accessToken!;

      // Write load: clients keep being created (one transaction each) until the backup has finished.
      let backupDone = false;
      const load = (async () => {
        for (let i = 0; !backupDone; i++) {
          during.push((await create(`during-${i}`)).clientId);
          // Let the child process's events through: better-sqlite3 calls never leave the microtask queue.
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const backup = await runBuiltCli(['backup', backupFile], envOf(dirA));
      backupDone = true;
      await load;
      for (let i = 0; i < 3; i++) after.push((await create(`after-${i}`)).clientId);
      expect(backup.stderr).toBe('');
      expect(backup.code).toBe(0);
      // The size depends on how many clients the load created meanwhile: KiB or, past 1 MiB, MiB.
      expect(backup.stdout).toMatch(
        new RegExp(
          `^Backed up ${dirA}/gatehouse\\.db to ${backupFile} \\((?:\\d+ KiB|\\d+\\.\\d MiB); signing keys included, sealed as stored\\)\\.\\nThe secret key is not in the backup: keep GATEHOUSE_SECRET_KEY safe separately\\.\\n$`,
        ),
      );
      expect(during.length).toBeGreaterThan(0);
      expect(fs.statSync(backupFile).mode & 0o777).toBe(0o600);
      // One self-contained file: no WAL beside it, and nothing left over from writing it.
      expect(fs.readdirSync(root).sort()).toEqual(['a', 'gatehouse.backup']);

      const restore = await runBuiltCli(['restore', backupFile], envOf(dirB));
      expect(restore.stderr).toBe('');
      expect(restore.code).toBe(0);
      expect(restore.stdout).toMatch(
        new RegExp(
          `^Restored ${backupFile} into ${dirB}/gatehouse\\.db: \\d+ API clients, 1 signing keys \\(unsealed with GATEHOUSE_SECRET_KEY\\)\\.\\nStart the server to serve it\\.\\n$`,
        ),
      );
      expect(fs.statSync(dirB).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(dirB, 'gatehouse.db')).mode & 0o777).toBe(0o600);

      // A consistent snapshot: every client from before, a prefix of those created during, none after.
      const restored = clientIdsIn(dirB);
      expect(before.filter((c) => !restored.has(c.clientId))).toEqual([]);
      const kept = during.filter((id) => restored.has(id)).length;
      expect(during.slice(0, kept).every((id) => restored.has(id))).toBe(true);
      expect(during.slice(kept).some((id) => restored.has(id))).toBe(false);
      expect(after.some((id) => restored.has(id))).toBe(false);
      expect(restored.size).toBe(before.length + kept);

      portB = await freePort();
      serverB = await startServe(envOf(dirB, { PORT: String(portB) }));
      const keySet = createLocalJWKSet(await jwks(portB));
      for (const client of before) {
        const answer = await token(portB, client);
        expect({ client: client.clientId, status: answer.status }).toEqual({
          client: client.clientId,
          status: 200,
        });
        const { payload } = await jwtVerify(answer.accessToken!, keySet, {
          issuer: ISSUER,
          audience: ISSUER,
        });
        expect(payload.client_id ?? payload.sub).toBeDefined();
      }
      // The signing key came along: a token the original server signed verifies here, same kid.
      await jwtVerify(tokenFromA, keySet, { issuer: ISSUER, audience: ISSUER });
      const restoredToken = (await token(portB, before[1]!)).accessToken!;
      expect(decodeProtectedHeader(restoredToken).kid).toBe(decodeProtectedHeader(tokenFromA).kid);
      // A wrong secret is still refused.
      expect(
        (await token(portB, { clientId: before[2]!.clientId, clientSecret: 'f'.repeat(64) })).status,
      ).toBe(401);
    });

    it('refuses to overwrite a backup file without --force, and replaces it with --force', async () => {
      const again = await runBuiltCli(['backup', backupFile], envOf(dirA));
      expect(again).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: ${backupFile} exists; add --force to replace it\n`,
      });
      const forced = await runBuiltCli(['backup', backupFile, '--force'], envOf(dirA));
      expect(forced.code).toBe(0);
      expect(fs.statSync(backupFile).mode & 0o777).toBe(0o600);
    });

    it('refuses to restore over a database a running server has open, and over any database without --force', async () => {
      await writer?.close();
      writer = undefined;
      const busy = await runBuiltCli(['restore', backupFile, '--force'], envOf(dirA));
      expect(busy).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: refusing to restore: ${dirA}/gatehouse.db is in use (a running Gatehouse server or another gatehouse command has it open). Stop the server and try again\n`,
      });
      await serverB?.stop();
      const noForce = await runBuiltCli(['restore', backupFile], envOf(dirB));
      expect(noForce).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: ${dirB} already holds a Gatehouse database; restoring replaces it and everything written since the backup. Stop the server and add --force\n`,
      });
      const forced = await runBuiltCli(['restore', backupFile, '--force'], envOf(dirB));
      expect(forced.code).toBe(0);
      expect(fs.readdirSync(dirB).sort()).toEqual(['gatehouse.db']);
    });

    it('refuses a secret key that cannot unseal the signing keys, or none, creating nothing', async () => {
      const dirC = path.join(root, 'c');
      const wrong = await runBuiltCli(['restore', backupFile], {
        ...envOf(dirC),
        GATEHOUSE_SECRET_KEY: Buffer.alloc(32, 1).toString('base64'),
      });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(
        new RegExp(
          `^gatehouse: refusing to restore: the secret key \\(GATEHOUSE_SECRET_KEY\\) cannot decrypt 1 of the 1 signing keys in ${backupFile} \\([\\w-]{43}\\)\\. It is not the key of the instance that was backed up: use that one\\n$`,
        ),
      );
      const none = await runBuiltCli(['restore', backupFile], {
        GATEHOUSE_DATA_DIR: dirC,
        GATEHOUSE_LOG_LEVEL: 'silent',
      });
      expect(none).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: refusing to restore: no secret key. Set GATEHOUSE_SECRET_KEY, or copy the backed-up instance's secret.key to ${dirC}/secret.key (mode 0600); a new key cannot unseal the backup's signing keys or check its client secrets\n`,
      });
      expect(fs.existsSync(dirC)).toBe(false);
    });

    it('refuses a file that is not a Gatehouse database, or one from a newer version; migrates one from an older version', async () => {
      const notDb = path.join(root, 'notes.txt');
      fs.writeFileSync(notDb, 'hello');
      const dirD = path.join(root, 'd');
      expect(await runBuiltCli(['restore', notDb], envOf(dirD))).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: refusing to restore: ${notDb} is not an SQLite database\n`,
      });
      const newer = path.join(root, 'newer.backup');
      fs.copyFileSync(backupFile, newer);
      const edit = new Database(newer);
      edit
        .prepare(
          `insert into kysely_migration (name, timestamp) values ('999_future', '2030-01-01T00:00:00.000Z')`,
        )
        .run();
      edit.close();
      expect(await runBuiltCli(['restore', newer], envOf(dirD))).toEqual({
        code: 1,
        stdout: '',
        stderr: `gatehouse: refusing to restore: ${newer} comes from a newer Gatehouse (migrations this version does not know: 999_future); restore it with that version or newer\n`,
      });
      expect(fs.existsSync(dirD)).toBe(false);

      // A database of the previous version: every migration but the newest.
      const older = path.join(root, 'older.backup');
      const previous = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(older) }) });
      const migrator = new Migrator({
        db: previous,
        provider: { getMigrations: async () => buildMigrations('sqlite') },
      });
      const { error } = await migrator.migrateTo(MIGRATION_NAMES.at(-2)!);
      await previous.destroy();
      expect(error).toBeUndefined();
      const restored = await runBuiltCli(['restore', older], envOf(dirD));
      expect(restored.stderr).toBe('');
      expect(restored.code).toBe(0);
      expect(restored.stdout).toContain(
        `The backup came from an older version: applied migrations ${MIGRATION_NAMES.at(-1)}.\n`,
      );
      const doctor = await runBuiltCli(['doctor'], envOf(dirD));
      expect(doctor.stdout).toContain(
        `✔ database: SQLite ${dirD}/gatehouse.db: reachable, all ${MIGRATION_NAMES.length} migrations applied`,
      );
    });

    it('refuses on PostgreSQL with the pg_dump and pg_restore commands', async () => {
      const env = {
        GATEHOUSE_DATABASE_URL: 'postgres://gh:pw@127.0.0.1:1/gatehouse',
        GATEHOUSE_DATABASE_SCHEMA: 'gatehouse',
        GATEHOUSE_SECRET_KEY: SECRET_KEY,
      };
      expect(await runBuiltCli(['backup', backupFile, '--force'], env)).toEqual({
        code: 1,
        stdout: '',
        stderr: [
          'gatehouse: backup copies the embedded SQLite database; this instance uses PostgreSQL. Use pg_dump:',
          '  pg_dump --format=custom --schema=gatehouse "$GATEHOUSE_DATABASE_URL" > gatehouse.dump',
          'and to restore it (Gatehouse stopped; --clean replaces what is there):',
          '  pg_restore --clean --if-exists --no-owner --dbname="$GATEHOUSE_DATABASE_URL" gatehouse.dump',
          'GATEHOUSE_SECRET_KEY is not in the dump: keep it safe separately.',
          '',
        ].join('\n'),
      });
      expect((await runBuiltCli(['restore', backupFile], env)).stderr).toMatch(
        /^gatehouse: restore replaces the embedded SQLite database; this instance uses PostgreSQL\. Use pg_restore/,
      );
      expect((await runBuiltCli(['backup'], env)).code).toBe(2);
    });
  },
);
