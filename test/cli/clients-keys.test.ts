/**
 * `gatehouse clients …` and `gatehouse keys …`, run as the built CLI in a child
 * process against a real store (SQLite file; PostgreSQL schema when configured),
 * with a Gatehouse app in this process over the same store answering token
 * requests, so what the CLI prints is checked by using it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { openStore, type Store } from '../../src/store/index.js';
import { type TestApp, testApp } from '../helpers/app.js';
import { CLI_TEST_TIMEOUT, type CliResult, runBuiltCli } from '../helpers/cli.js';
import { basic } from '../helpers/oauth.js';
import { TEST_SECRET_KEY } from '../helpers/services.js';
import { freshSchemaName, PG_URL, postgresCase } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function run(env: Record<string, string>, args: string[]): Promise<CliResult> {
  return runBuiltCli(args, env);
}

interface Target {
  name: 'sqlite' | 'postgres';
  skip: boolean;
  setup(): Promise<{ env: Record<string, string>; open(): Promise<Store>; cleanup(): Promise<void> }>;
}

const targets: Target[] = [
  {
    name: 'sqlite',
    skip: false,
    async setup() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-'));
      return {
        env: { GATEHOUSE_DATA_DIR: dir },
        open: () => openStore({ sqliteFile: path.join(dir, 'gatehouse.db') }),
        async cleanup() {
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    // Skipped like the store suite: only without a URL and outside CI (CI=true must run it).
    skip: postgresCase.skip,
    async setup() {
      if (PG_URL === undefined) throw new Error('CI=true but GATEHOUSE_TEST_DATABASE_URL is not set');
      const schema = freshSchemaName();
      return {
        env: { GATEHOUSE_DATABASE_URL: PG_URL!, GATEHOUSE_DATABASE_SCHEMA: schema },
        open: () => openStore({ databaseUrl: PG_URL!, databaseSchema: schema, poolSize: 2 }),
        async cleanup() {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`drop schema if exists "${schema}" cascade`);
          await client.end();
        },
      };
    },
  },
];

for (const target of targets) {
  describe.skipIf(target.skip)(`gatehouse clients / keys (built CLI, ${target.name})`, () => {
    let env: Record<string, string>;
    let store: Store;
    let t: TestApp;
    let cleanup: () => Promise<void>;
    const cli = (...args: string[]) => run(env, args);
    /** A token request against the app in this process, after it has seen the CLI's writes. */
    const token = async (id: string, secret: string) => {
      // The CLI writes with the real time; this app's clock follows it.
      t.clock.set(new Date());
      await t.services.epochs.poll();
      return t.app.inject({
        method: 'GET',
        url: '/oauth/token?grant_type=client_credentials',
        headers: { authorization: basic(id, secret) },
      });
    };

    beforeAll(async () => {
      const setup = await target.setup();
      cleanup = setup.cleanup;
      env = {
        ...setup.env,
        GATEHOUSE_SECRET_KEY: TEST_SECRET_KEY.toString('base64'),
        GATEHOUSE_ADMIN_EMAIL: 'root@example.com',
        GATEHOUSE_ADMIN_PASSWORD: 'correct horse battery staple',
        GATEHOUSE_LOG_LEVEL: 'silent',
      };
      const init = await cli('init');
      expect(init.code, init.stderr).toBe(0);
      store = await setup.open();
      t = await testApp(store);
    }, 60_000);
    afterAll(async () => {
      await t?.app.close();
      await store?.close();
      await cleanup?.();
    });

    // Parsing and messages do not depend on the store: checked once, on SQLite.
    const sqliteOnly = it.skipIf(target.name !== 'sqlite');

    sqliteOnly(
      'every command has --help',
      async () => {
        const help = await cli('clients', '--help');
        expect(help.code).toBe(0);
        for (const sub of ['create', 'list', 'show', 'revoke', 'rotate-secret'])
          expect(help.stdout).toContain(sub);
        const keys = await cli('keys', 'rotate', '--help');
        expect(keys.code).toBe(0);
        expect(keys.stdout).toContain('earlier keys stay published');
      },
      CLI_TEST_TIMEOUT,
    );

    it(
      'create prints the client ID and secret once; they work at the token endpoint; list/show never show them',
      async () => {
        const created = await cli(
          'clients',
          'create',
          'Nightly export',
          '--owner',
          'root@example.com',
          '--scopes',
          'user,data',
          '--ttl',
          '15m',
          '--description',
          'Copies data',
        );
        expect(created.code, created.stderr).toBe(0);
        const id = /client_id: +(\S+)/.exec(created.stdout)![1]!;
        const secret = /client_secret: +(\S+)/.exec(created.stdout)![1]!;
        expect(id).toMatch(UUID);
        expect(secret).toMatch(/^[0-9a-f]{64}$/);
        expect(created.stdout).toContain(
          `Created API client ${id.slice(0, 13)} "Nightly export" (owner root@example.com; scopes data user).`,
        );
        expect(created.stdout).toContain('The secret is shown this once');

        const issued = await token(id, secret);
        expect(issued.statusCode).toBe(200);
        expect(issued.json()).toMatchObject({ scope: 'data user', expires_in: 899, role: 'Admin' });

        const list = await cli('clients', 'list');
        expect(list.code).toBe(0);
        expect(list.stdout.split('\n')[0]).toMatch(/^ID +NAME +OWNER +SCOPES +STATUS +CREATED +LAST USED$/);
        expect(list.stdout).toMatch(
          new RegExp(`^${id.slice(0, 13)} +Nightly export +root@example.com +data user +active `, 'm'),
        );
        const show = await cli('clients', 'show', id.slice(0, 13));
        expect(show.stdout).toMatch(/^token ttl: +900 s$/m);
        expect(show.stdout).toMatch(/^description: +Copies data$/m);
        const json = await cli('clients', 'list', '--json', '--name', 'nightly');
        const page = JSON.parse(json.stdout);
        expect(page).toEqual({
          items: [expect.objectContaining({ id: id.slice(0, 13), name: 'Nightly export' })],
          nextCursor: null,
        });
        const shownJson = JSON.parse((await cli('clients', 'show', id, '--json')).stdout);
        // Last use is recorded in batches by the app in this process, so it may have landed in between.
        expect({ ...shownJson, lastUsedAt: null }).toEqual({ ...page.items[0], lastUsedAt: null });
        for (const output of [list.stdout, show.stdout, json.stdout]) {
          expect(output).not.toContain(secret);
          expect(output).not.toContain(id);
        }
      },
      CLI_TEST_TIMEOUT,
    );

    sqliteOnly(
      'usage errors exit 2, bad values and unknown clients exit 1 with the message on stderr, and nothing is created',
      async () => {
        const count = async () => (await t.services.clients.list({ limit: 200 }, OPERATOR)).items.length;
        const before = await count();
        const usage = [
          ['clients', 'create', 'x', '--scopes', 'data'],
          ['clients', 'create', 'x', '--owner', 'root@example.com', '--scopes', 'data', '--ttl', 'soon'],
          ['clients', 'list', '--status', 'gone'],
          ['clients', 'rotate-secret', 'abc', '--grace', '1y'],
        ];
        for (const args of usage) {
          const r = await cli(...args);
          expect(r.code, args.join(' ')).toBe(2);
          expect(r.stdout, args.join(' ')).toBe('');
        }
        const failures: Array<[string[], string]> = [
          [
            ['clients', 'create', 'x', '--owner', 'nobody@example.com', '--scopes', 'data'],
            'Unknown user "nobody@example.com".',
          ],
          [
            ['clients', 'create', 'x', '--owner', 'root@example.com', '--scopes', 'data', '--ttl', '25h'],
            'Token lifetime must be a whole number of seconds from 60 to 86400.',
          ],
          [
            ['clients', 'create', 'nightly EXPORT', '--owner', 'root@example.com', '--scopes', 'data'],
            'An active API client named "nightly EXPORT" already exists.',
          ],
          [['clients', 'revoke', 'nope'], 'API client nope not found.'],
        ];
        for (const [args, message] of failures) {
          const r = await cli(...args);
          expect(r.code, args.join(' ')).toBe(1);
          expect(r.stderr, args.join(' ')).toBe(`gatehouse: ${message}\n`);
          expect(r.stdout).toBe('');
        }
        expect(await count()).toBe(before);
      },
      CLI_TEST_TIMEOUT,
    );

    it(
      'rotate-secret keeps the old secret for the grace period and prints the new one once; revoke is final',
      async () => {
        const created = JSON.parse(
          (
            await cli(
              'clients',
              'create',
              'Rotating',
              '--owner',
              'root@example.com',
              '--scopes',
              'data',
              '--json',
            )
          ).stdout,
        );
        expect(Object.keys(created)).toEqual(['client_id', 'client_secret', 'client']);
        const rotated = await cli('clients', 'rotate-secret', created.client.id, '--grace', '2h');
        expect(rotated.code, rotated.stderr).toBe(0);
        const secret2 = /client_secret: +(\S+)/.exec(rotated.stdout)![1]!;
        expect(secret2).toMatch(/^[0-9a-f]{64}$/);
        expect(rotated.stdout).toMatch(/^The previous secret works until \d{4}-\d\d-\d\dT[\d:.]+Z\.$/m);
        const until = Date.parse(/works until (\S+)\.$/m.exec(rotated.stdout)![1]!);
        expect(until - Date.now()).toBeGreaterThan(7000_000);
        expect(until - Date.now()).toBeLessThanOrEqual(7200_000);
        expect((await token(created.client_id, created.client_secret)).statusCode).toBe(200);
        expect((await token(created.client_id, secret2)).statusCode).toBe(200);

        const now = JSON.parse(
          (await cli('clients', 'rotate-secret', created.client_id, '--grace', '0', '--json')).stdout,
        );
        expect(Object.keys(now)).toEqual(['client_id', 'client_secret', 'previousSecretExpiresAt', 'client']);
        expect((await token(created.client_id, created.client_secret)).statusCode).toBe(401);
        expect((await token(created.client_id, secret2)).statusCode).toBe(401);
        const live = await token(created.client_id, now.client_secret);
        expect(live.statusCode).toBe(200);
        const accessToken = live.json().access_token as string;

        const revoked = await cli('clients', 'revoke', created.client.id);
        expect(revoked.code).toBe(0);
        expect(revoked.stdout).toBe(
          `Revoked API client ${created.client.id} "Rotating". Gatehouse rejects its tokens now; offline JWT verifiers ` +
            'accept tokens already issued until they expire (at most 3600 s).\n',
        );
        const refused = await token(created.client_id, now.client_secret);
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toEqual({
          error: 'invalid_client',
          error_description: 'Client authentication failed.',
        });
        expect(await t.services.tokens.verify(accessToken)).toBeNull();
        const again = await cli('clients', 'rotate-secret', created.client.id);
        expect(again).toEqual({
          code: 1,
          stdout: '',
          stderr: 'gatehouse: This API client is revoked; create a new one.\n',
        });
        const status = JSON.parse((await cli('clients', 'list', '--status', 'revoked', '--json')).stdout);
        expect(status.items.map((c: { name: string }) => c.name)).toEqual(['Rotating']);
      },
      CLI_TEST_TIMEOUT,
    );

    it(
      'keys rotate: a new kid signs new tokens, the old key stays published so earlier tokens still verify',
      async () => {
        // The client is made in this process: this test is about the keys commands.
        const issued = await t.services.clients.create(
          { name: 'Key watcher', owner: 'root@example.com', scopes: ['data'] },
          CLI_ACTOR,
        );
        const created = { client_id: issued.clientId, client_secret: issued.clientSecret };
        const before = await t.services.keys.list();
        expect(before.filter((k: { status: string }) => k.status === 'active')).toHaveLength(1);
        const oldKid = before[0]!.kid;
        const oldToken = (await token(created.client_id, created.client_secret)).json()
          .access_token as string;
        expect(decodeProtectedHeader(oldToken).kid).toBe(oldKid);

        const rotated = await cli('keys', 'rotate');
        expect(rotated.code, rotated.stderr).toBe(0);
        const newKid = /^New active signing key (\S+) \(RS256\)\.$/m.exec(rotated.stdout)![1]!;
        expect(newKid).not.toBe(oldKid);
        expect(rotated.stdout).toMatch(new RegExp(`^Key ${oldKid} stays published until \\S+Z\\.$`, 'm'));

        const list = await cli('keys', 'list');
        expect(list.stdout.split('\n')[0]).toMatch(/^KID +ALG +STATUS +CREATED +RETIRE AFTER$/);
        expect(list.stdout).toMatch(new RegExp(`^${newKid} +RS256 +active `, 'm'));
        expect(list.stdout).toMatch(new RegExp(`^${oldKid} +RS256 +published `, 'm'));

        const newToken = (await token(created.client_id, created.client_secret)).json()
          .access_token as string;
        expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
        const jwks = createLocalJWKSet(
          (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(),
        );
        for (const tok of [oldToken, newToken]) {
          await expect(
            jwtVerify(tok, jwks, { issuer: t.config.issuer, audience: t.config.audience, typ: 'at+jwt' }),
          ).resolves.toBeDefined();
          expect(await t.services.tokens.verify(tok)).not.toBeNull();
        }
        const json = JSON.parse((await cli('keys', 'rotate', '--json')).stdout);
        expect(json.key).toMatchObject({ alg: 'RS256', status: 'active', retireAfter: null });
        expect(json.items.map((k: { status: string }) => k.status)).toEqual([
          'active',
          'published',
          'published',
        ]);
      },
      CLI_TEST_TIMEOUT,
    );
  });
}
