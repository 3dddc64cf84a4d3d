/**
 * `gatehouse doctor`: a healthy instance passes (exit 0); a world-readable data directory, a
 * migration not applied, an unreachable Redis fail (exit 1) with the line naming it; and doctor
 * never creates or changes anything.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/helpers/net.js';
import { MIGRATION_NAMES } from '../store/migrations/index.js';
import { runCliInProcess } from '../../test/helpers/run-cli.js';
import { writeSelfSigned } from './tls.js';
import { freshSchemaName, PG_URL } from '../../test/helpers/stores.js';

/** Every file of `dir` with its mode, size and modification time: what "changed nothing" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir)) {
    const stat = fs.statSync(path.join(dir, name));
    out[name] = `${(stat.mode & 0o777).toString(8)} ${stat.size} ${stat.mtimeMs}`;
  }
  out['.'] = (fs.statSync(dir).mode & 0o777).toString(8);
  return out;
}

/** The newest migration of this version. */
const LAST = MIGRATION_NAMES.at(-1)!;

const lineOf = (stdout: string, check: string) =>
  stdout.split('\n').find((line) => line.slice(2).startsWith(`${check}:`));

describe('gatehouse doctor (SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-doctor-'));
    env = { GATEHOUSE_DATA_DIR: dir, GATEHOUSE_LOG_LEVEL: 'silent' };
    const init = await runCliInProcess(['init'], env);
    expect(init.code, init.stderr).toBe(0);
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes every check on a healthy instance, exit 0, and changes nothing', async () => {
    const before = snapshot(dir);
    const result = await runCliInProcess(['doctor'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      '✔ configuration',
      '✔ data directory',
      '✔ database file',
      '✔ secret key',
      '✔ database',
      '✔ clock',
      '✔ signing key',
      '- custom domains',
      '- jwt profiles',
      '✔ issuer',
      '- tls',
      '- redis',
      'All 8 checks passed.',
    ]);
    expect(lineOf(result.stdout, 'data directory')).toBe(`✔ data directory: ${dir} (mode 0700)`);
    expect(lineOf(result.stdout, 'database file')).toBe(`✔ database file: ${dir}/gatehouse.db (mode 0600)`);
    expect(lineOf(result.stdout, 'secret key')).toBe(`✔ secret key: ${dir}/secret.key, 32 bytes (mode 0600)`);
    expect(lineOf(result.stdout, 'database')).toBe(
      `✔ database: SQLite ${dir}/gatehouse.db: reachable, all ${MIGRATION_NAMES.length} migrations applied`,
    );
    expect(lineOf(result.stdout, 'signing key')).toMatch(
      /^✔ signing key: [\w-]{43} \(RS256\), 0 days old, automatic rotation off \(GATEHOUSE_KEY_ROTATION_DAYS=0\)$/,
    );
    expect(lineOf(result.stdout, 'issuer')).toBe(
      '✔ issuer: http://localhost:8080 (plain http, loopback only)',
    );
    expect(lineOf(result.stdout, 'redis')).toBe(
      '- redis: not configured (throttle counters in the database)',
    );
    expect(snapshot(dir)).toEqual(before);
  });

  it('fails on a world-readable data directory, naming it and the fix', async () => {
    fs.chmodSync(dir, 0o755);
    const result = await runCliInProcess(['doctor'], env);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'data directory')).toBe(
      `✖ data directory: ${dir} is open to group/others (mode 0755). Fix: chmod 700 ${dir}`,
    );
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('1 of 8 checks failed.');
  });

  it('fails on a database file readable by others', async () => {
    fs.chmodSync(path.join(dir, 'gatehouse.db'), 0o644);
    const result = await runCliInProcess(['doctor'], env);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'database file')).toBe(
      `✖ database file: open to group/others: gatehouse.db (mode 0644). Fix: chmod 600 ${dir}/gatehouse.db*`,
    );
  });

  it('fails when a migration is not applied, saying to run gatehouse migrate', async () => {
    const db = new Database(path.join(dir, 'gatehouse.db'));
    db.prepare('delete from kysely_migration where name = ?').run(LAST);
    db.close();
    const result = await runCliInProcess(['doctor'], env);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'database')).toBe(
      `✖ database: SQLite ${dir}/gatehouse.db: 1 of ${MIGRATION_NAMES.length} migrations not applied (${LAST}). Fix: run \`gatehouse migrate\` (starting the server migrates too)`,
    );
  });

  it('fails when the database was migrated by a newer Gatehouse', async () => {
    const db = new Database(path.join(dir, 'gatehouse.db'));
    db.prepare(
      `insert into kysely_migration (name, timestamp) values ('999_future', '2026-01-01T00:00:00.000Z')`,
    ).run();
    db.close();
    const result = await runCliInProcess(['doctor'], env);
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'database')).toBe(
      `✖ database: SQLite ${dir}/gatehouse.db was migrated by a newer Gatehouse (unknown migrations: 999_future). Fix: run the Gatehouse version that migrated it, or newer`,
    );
  });

  it('fails when Redis does not answer (a closed port)', async () => {
    const port = await freePort();
    const result = await runCliInProcess(['doctor'], {
      ...env,
      GATEHOUSE_REDIS_URL: `redis://:pw@127.0.0.1:${port}`,
    });
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'redis')).toBe(
      `✖ redis: cannot reach redis://:********@127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}. Fix: check that Redis runs and GATEHOUSE_REDIS_URL, or unset it to keep the throttle counters in the database`,
    );
  });

  it('checks the TLS files when configured: valid, close to expiry, or a key of another certificate', async () => {
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-doctor-tls-'));
    try {
      const good = await writeSelfSigned(path.join(certs, 'good'), ['localhost'], 365, false);
      const soon = await writeSelfSigned(path.join(certs, 'soon'), ['localhost'], 7, false);
      const tls = (cert: string, key: string) => ({
        ...env,
        GATEHOUSE_TLS_CERT: cert,
        GATEHOUSE_TLS_KEY: key,
      });

      const ok = await runCliInProcess(['doctor'], tls(good.certFile, good.keyFile));
      expect(ok.code, ok.stdout).toBe(0);
      expect(lineOf(ok.stdout, 'tls')).toMatch(
        new RegExp(
          `^✔ tls: ${good.certFile} \\(DNS:localhost, IP Address:127\\.0\\.0\\.1, IP Address:0:0:0:0:0:0:0:1\\), valid until \\S+ \\((364|365) days\\)$`,
        ),
      );

      const expiring = await runCliInProcess(['doctor'], tls(soon.certFile, soon.keyFile));
      expect(expiring.code).toBe(1);
      expect(lineOf(expiring.stdout, 'tls')).toMatch(
        /^✖ tls: .*soon\/cert\.pem \(DNS:localhost, .*\) expires \S+\. Fix: renew the certificate, replace the files and send SIGHUP to Gatehouse \(no restart needed\)$/,
      );

      const mismatched = await runCliInProcess(['doctor'], tls(good.certFile, soon.keyFile));
      expect(mismatched.code).toBe(1);
      expect(lineOf(mismatched.stdout, 'tls')).toBe(
        `✖ tls: GATEHOUSE_TLS_KEY: ${soon.keyFile} is not the private key of ${good.certFile}. Fix: point GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY at a PEM certificate and its own private key`,
      );
    } finally {
      fs.rmSync(certs, { recursive: true, force: true });
    }
  });

  it("checks that no jwt access profile names one of the instance's own issuers (GATEHOUSE_ISSUER changed later)", async () => {
    const created = await runCliInProcess(
      [
        'platform',
        'profiles',
        'create',
        'Outside IdP',
        '--auth',
        'jwt',
        '--jwks-url',
        'https://idp.example.org/jwks',
        '--issuer',
        'https://idp.example.org',
      ],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    try {
      const ok = await runCliInProcess(['doctor'], env);
      expect(lineOf(ok.stdout, 'jwt profiles')).toBe(
        "✔ jwt profiles: 1 checked; none names one of Gatehouse's own issuers",
      );
      const moved = await runCliInProcess(['doctor'], {
        ...env,
        GATEHOUSE_ISSUER: 'https://idp.example.org',
      });
      expect(moved.code).toBe(1);
      expect(lineOf(moved.stdout, 'jwt profiles')).toBe(
        '✖ jwt profiles: 1 of 1 name one of Gatehouse\'s own issuers, whose tokens no jwt profile checks: "Outside IdP" (https://idp.example.org: GATEHOUSE_ISSUER). Fix: give each its identity provider\'s issuer (PATCH /api/admin/v1/platform/profiles/{id} with jwt), or delete it',
      );
    } finally {
      expect((await runCliInProcess(['platform', 'profiles', 'delete', 'Outside IdP'], env)).code).toBe(0);
    }
  });

  it("checks the custom domains' certificates: close to expiry, or a key the secret key cannot unseal", async () => {
    const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-doctor-domains-'));
    try {
      const good = await writeSelfSigned(path.join(certs, 'good'), ['api.example.com'], 365, false);
      const soon = await writeSelfSigned(path.join(certs, 'soon'), ['soon.example.com'], 7, false);
      for (const [host, pair] of [
        ['api.example.com', good],
        ['soon.example.com', soon],
      ] as const) {
        const created = await runCliInProcess(
          ['platform', 'domains', 'create', host, '--cert', pair.certFile, '--key', pair.keyFile],
          env,
        );
        expect(created.code, created.stderr).toBe(0);
      }
      const ending = await runCliInProcess(['doctor'], env);
      expect(ending.code).toBe(1);
      expect(lineOf(ending.stdout, 'custom domains')).toMatch(
        /^✖ custom domains: 1 of 2 certificates expired or end within 14 days: soon\.example\.com \(expires \S+\)\. Fix: upload a renewed certificate: gatehouse platform domains update <host> --cert FILE --key FILE \(no restart\)$/,
      );
      expect((await runCliInProcess(['platform', 'domains', 'delete', 'soon.example.com'], env)).code).toBe(
        0,
      );
      const ok = await runCliInProcess(['doctor'], env);
      expect(ok.code, ok.stdout).toBe(0);
      expect(lineOf(ok.stdout, 'custom domains')).toMatch(
        /^✔ custom domains: 1 with a certificate of their own; the first to end: api\.example\.com on \S+ \((364|365) days\)$/,
      );
      const otherKey = await runCliInProcess(['doctor'], {
        ...env,
        GATEHOUSE_SECRET_KEY: Buffer.alloc(32, 3).toString('base64'),
      });
      expect(lineOf(otherKey.stdout, 'custom domains')).toBe(
        '✖ custom domains: the private key of api.example.com cannot be unsealed with the configured secret key (SNI serves the default certificate). Fix: use the secret key this database was made with, or upload the certificate and key again',
      );
    } finally {
      fs.rmSync(certs, { recursive: true, force: true });
    }
  });

  it('fails on a plain-http public issuer, an overdue signing key, and a secret key that does not unseal it', async () => {
    const result = await runCliInProcess(['doctor'], {
      ...env,
      GATEHOUSE_ISSUER: 'http://auth.example.com',
      GATEHOUSE_SECRET_KEY: Buffer.alloc(32, 3).toString('base64'),
    });
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'issuer')).toBe(
      '✖ issuer: http://auth.example.com is plain http on a non-loopback host: tokens and client secrets would cross the network unencrypted. Fix: set GATEHOUSE_ISSUER=https://<public name> and terminate TLS in front of Gatehouse',
    );
    expect(lineOf(result.stdout, 'signing key')).toMatch(
      /^✖ signing key: the active key [\w-]{43} cannot be unsealed with the configured secret key\. Fix: use the secret key this database was made with/,
    );
    const db = new Database(path.join(dir, 'gatehouse.db'));
    db.prepare(
      `update signing_keys set created_at = '2020-01-01T00:00:00.000Z' where status = 'active'`,
    ).run();
    db.close();
    const overdue = await runCliInProcess(['doctor'], { ...env, GATEHOUSE_KEY_ROTATION_DAYS: '90' });
    expect(overdue.code).toBe(1);
    expect(lineOf(overdue.stdout, 'signing key')).toMatch(
      /^✖ signing key: the active key [\w-]{43} is \d+ days old; GATEHOUSE_KEY_ROTATION_DAYS is 90, so its rotation is overdue\. Fix: run `gatehouse keys rotate`/,
    );
  });

  it('creates nothing where there is no instance, and says so', async () => {
    const missing = path.join(dir, 'nothing-here');
    const result = await runCliInProcess(['doctor', '--json'], { ...env, GATEHOUSE_DATA_DIR: missing });
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      checks: Array<{ check: string; status: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.checks.map((c) => [c.check, c.status])).toEqual([
      ['configuration', 'ok'],
      ['data directory', 'failed'],
      ['database file', 'skipped'],
      ['secret key', 'failed'],
      ['database', 'skipped'],
      ['clock', 'skipped'],
      ['signing key', 'skipped'],
      ['custom domains', 'skipped'],
      ['jwt profiles', 'skipped'],
      ['issuer', 'ok'],
      ['tls', 'skipped'],
      ['redis', 'skipped'],
    ]);
    expect(fs.existsSync(missing)).toBe(false);
  });

  it('reports an invalid setting as a failed configuration line, and an unknown option as a usage error', async () => {
    const result = await runCliInProcess(['doctor'], { ...env, GATEHOUSE_SECRET_KEY: 'c2hvcnQ=' });
    expect(result).toEqual({
      code: 1,
      stdout:
        '✖ configuration: GATEHOUSE_SECRET_KEY: must decode to at least 32 bytes, got 5 (try: openssl rand -base64 32). Fix: correct that variable (`gatehouse config show` lists the settings in effect)\n1 of 1 checks failed.\n',
      stderr: '',
    });
    expect((await runCliInProcess(['doctor', '--fix'], env)).code).toBe(2);
  });
});

describe.skipIf(PG_URL === undefined)('gatehouse doctor (PostgreSQL)', () => {
  const schema = freshSchemaName();
  const env = {
    GATEHOUSE_DATABASE_URL: PG_URL ?? '',
    GATEHOUSE_DATABASE_SCHEMA: schema,
    GATEHOUSE_SECRET_KEY: Buffer.alloc(32, 5).toString('base64'),
    GATEHOUSE_LOG_LEVEL: 'silent',
    GATEHOUSE_DATA_DIR: '/nonexistent/gatehouse-doctor',
  };
  const schemaExists = async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return (await client.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount === 1;
    } finally {
      await client.end();
    }
  };
  afterEach(async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  });

  it('fails on a schema with no instance without creating it, then passes once initialised', async () => {
    const before = await runCliInProcess(['doctor'], env);
    expect(before.code).toBe(1);
    expect(lineOf(before.stdout, 'database')).toContain(
      `(schema ${schema}) holds no Gatehouse instance (no migration table)`,
    );
    expect(await schemaExists()).toBe(false);
    expect((await runCliInProcess(['init'], env)).code).toBe(0);
    const after = await runCliInProcess(['doctor'], env);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(lineOf(after.stdout, 'data directory')).toBe(
      '- data directory: not used (PostgreSQL, GATEHOUSE_SECRET_KEY set)',
    );
    expect(lineOf(after.stdout, 'clock')).toMatch(
      /^✔ clock: within \d+ s of the database server's \(tolerance 30 s\)$/,
    );
    expect(after.stdout.trimEnd().split('\n').at(-1)).toBe('All 6 checks passed.');
  });

  it('fails when the server does not answer (a closed port)', async () => {
    const port = await freePort();
    const result = await runCliInProcess(['doctor'], {
      ...env,
      GATEHOUSE_DATABASE_URL: `postgres://gh:pw@127.0.0.1:${port}/gatehouse`,
    });
    expect(result.code).toBe(1);
    expect(lineOf(result.stdout, 'database')).toMatch(
      new RegExp(
        `^✖ database: cannot reach PostgreSQL postgres://gh:\\*{8}@127\\.0\\.0\\.1:${port}/gatehouse \\(schema ${schema}\\): .*ECONNREFUSED`,
      ),
    );
    expect(result.stdout).not.toContain(':pw@');
  });
});
