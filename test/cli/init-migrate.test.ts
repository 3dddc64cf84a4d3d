/**
 * `gatehouse init` and `gatehouse migrate` with the built CLI: the bootstrap admin from
 * GATEHOUSE_ADMIN_EMAIL/GATEHOUSE_ADMIN_PASSWORD (no forced change, nothing secret printed)
 * or generated (printed once, must change); both idempotent.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_TEST_TIMEOUT, type CliTarget, cliTarget } from '../helpers/cli.js';
import { dialects } from '../helpers/stores.js';

const MIGRATIONS = fs
  .readdirSync(new URL('../../src/store/migrations/', import.meta.url))
  .filter((f) => /^\d{3}_.*\.ts$/.test(f) && !f.endsWith('.test.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

describe('gatehouse init and migrate', { timeout: CLI_TEST_TIMEOUT }, () => {
  let withEnvAdmin: CliTarget;
  let generated: CliTarget;
  beforeAll(() => {
    withEnvAdmin = cliTarget('sqlite');
    generated = cliTarget('sqlite');
  });
  afterAll(async () => {
    await withEnvAdmin?.dispose();
    await generated?.dispose();
  });

  it('migrate --status lists every migration on an empty database, migrate applies them once', async () => {
    expect(await generated.run(['migrate', '--status'])).toEqual({
      code: 0,
      stdout: `Pending: ${MIGRATIONS.join(', ')}\n`,
      stderr: '',
    });
    expect(await generated.run(['migrate'])).toEqual({
      code: 0,
      stdout: `Applied: ${MIGRATIONS.join(', ')}\n`,
      stderr: '',
    });
    expect(await generated.run(['migrate'])).toEqual({
      code: 0,
      stdout: 'Database is up to date.\n',
      stderr: '',
    });
    expect(await generated.run(['migrate', '--status'])).toEqual({
      code: 0,
      stdout: 'No pending migrations.\n',
      stderr: '',
    });
  });

  it('init creates the admin named by GATEHOUSE_ADMIN_EMAIL/PASSWORD without printing the password', async () => {
    const env = {
      GATEHOUSE_ADMIN_EMAIL: 'owner@example.com',
      GATEHOUSE_ADMIN_PASSWORD: 'a password from env',
    };
    const first = await withEnvAdmin.run(['init'], { env });
    expect(first).toEqual({
      code: 0,
      stdout: [
        `Generated secret key in ${withEnvAdmin.dataDir}/secret.key (mode 0600). Back it up.`,
        `Applied migrations: ${MIGRATIONS.join(', ')}`,
        'Created the first admin owner@example.com with the password from GATEHOUSE_ADMIN_PASSWORD.',
        '',
      ].join('\n'),
      stderr: '',
    });
    const runtime = await openRuntime(loadConfig(withEnvAdmin.env), silentLogger());
    try {
      expect(
        await runtime.services.users.checkPassword('owner@example.com', 'a password from env'),
      ).toMatchObject({
        role: { name: 'Admin' },
        mustChangePassword: false,
      });
    } finally {
      await runtime.close();
    }
    expect(await withEnvAdmin.run(['init'], { env })).toEqual({
      code: 0,
      stdout: 'Database is up to date.\nUsers exist already; no bootstrap admin created.\n',
      stderr: '',
    });
  });

  it('init on a migrated database without users generates the admin password and prints it once', async () => {
    const result = await generated.run(['init']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^Database is up to date\.\n\n {2}First admin created\. This password is shown once; you must change it at first sign-in\.\n {4}email: {4}admin@localhost\n {4}password: [A-Za-z0-9]{20}\n\n$/,
    );
    const again = await generated.run(['init']);
    expect(again.stdout).toBe('Database is up to date.\nUsers exist already; no bootstrap admin created.\n');
    const users = await generated.json<{
      items: Array<{ email: string; mustChangePassword: boolean; role: { name: string } }>;
    }>(['users', 'list']);
    expect(users.items.map((u) => [u.email, u.role.name, u.mustChangePassword])).toEqual([
      ['admin@localhost', 'Admin', true],
    ]);
  });

  it('other commands refuse a data directory with no instance, and create nothing there', async () => {
    const empty = cliTarget('sqlite', { initialise: false });
    try {
      const typo = `${empty.dataDir}/typo`;
      const result = await empty.run(['--data-dir', typo, 'users', 'list']);
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `gatehouse: no Gatehouse data in ${typo} (gatehouse.db does not exist). ` +
          'Check --data-dir / GATEHOUSE_DATA_DIR, or create an instance there with `gatehouse init`.\n',
      });
      expect(fs.existsSync(typo)).toBe(false);
      expect(fs.readdirSync(empty.dataDir)).toEqual([]);
    } finally {
      await empty.dispose();
    }
  });
});

const postgres = dialects().find((d) => d.name === 'postgres')!;

describe.skipIf(postgres.skip)(
  'gatehouse on an uninitialised PostgreSQL schema',
  { timeout: CLI_TEST_TIMEOUT },
  () => {
    it('says the database is not initialised and how to fix it, then works after migrate', async () => {
      const target = cliTarget('postgres', { initialise: false });
      try {
        const schema = target.env.GATEHOUSE_DATABASE_SCHEMA;
        expect(await target.run(['clients', 'list'])).toEqual({
          code: 1,
          stdout: '',
          stderr:
            `gatehouse: the PostgreSQL database (schema "${schema}") is not initialised: run \`gatehouse init\` ` +
            '(or `gatehouse migrate`) with the same GATEHOUSE_DATABASE_URL first.\n',
        });
        expect((await target.run(['migrate'])).code).toBe(0);
        expect((await target.run(['clients', 'list'])).code).toBe(0);
      } finally {
        await target.dispose();
      }
    });
  },
);
