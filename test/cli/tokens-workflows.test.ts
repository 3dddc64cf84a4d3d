/**
 * `gatehouse tokens …` and `gatehouse workflows …`, run as the BUILT CLI in a child
 * process (`npm run build` first), on both dialects. The test process plays a
 * serve node on the same database: it seeds users and workflows through the
 * services and runs a workflow engine that executes what the CLI queues.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { SecretKeyring } from '../../src/crypto.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { createServices, type Services } from '../../src/services/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import { CLI_TEST_TIMEOUT, type CliResult, runBuiltCli } from '../helpers/cli.js';
import { testConfig, asPrincipal } from '../helpers/services.js';
import { dialects, freshSchemaName, PG_URL } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const SECRET = Buffer.alloc(32, 5);

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(
    `gatehouse tokens and workflows (${dialect.name})`,
    { timeout: CLI_TEST_TIMEOUT },
    () => {
      let dataDir: string;
      let schema: string | undefined;
      let env: Record<string, string>;
      let store: Store;
      let services: Services;
      let engine: WorkflowEngine | undefined;
      let robotId: number;
      /** The whole table on SQLite; on PostgreSQL a smoke run (the CLI code is the same, the services are tested on both). */
      const full = dialect.name === 'sqlite';

      const cli = (args: string[]): Promise<CliResult> => runBuiltCli(args, env);

      async function json<T>(args: string[]): Promise<T> {
        const result = await cli([...args, '--json']);
        expect(result.code, result.stderr).toBe(0);
        return JSON.parse(result.stdout) as T;
      }

      beforeAll(async () => {
        dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cli-d-'));
        schema = dialect.name === 'postgres' ? freshSchemaName() : undefined;
        env = {
          PATH: process.env.PATH ?? '',
          GATEHOUSE_DATA_DIR: dataDir,
          GATEHOUSE_LOG_LEVEL: 'silent',
          GATEHOUSE_SECRET_KEY: SECRET.toString('base64'),
          ...(schema !== undefined
            ? { GATEHOUSE_DATABASE_URL: PG_URL!, GATEHOUSE_DATABASE_SCHEMA: schema }
            : {}),
        };
        // Only serve, init and migrate create an instance: any other command first refuses.
        const refused = await cli(['tokens', 'list']);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(
          /^gatehouse: (no Gatehouse data in |the PostgreSQL database \(schema ")/,
        );
        expect((await cli(['migrate'])).code).toBe(0);
        expect((await cli(['tokens', 'list'])).code).toBe(0);
        store = await openStore(
          schema !== undefined
            ? { databaseUrl: PG_URL, databaseSchema: schema, poolSize: 4 }
            : { sqliteFile: path.join(dataDir, 'gatehouse.db') },
        );
        const config = testConfig({ secretKey: SECRET });
        services = createServices({
          store,
          config,
          clock: systemClock,
          keyring: new SecretKeyring(SECRET),
          log: silentLogger(),
        });
        robotId = (
          await services.users.create({ email: 'robot@example.com', role: 'Editor' }, OPERATOR, CLI_ACTOR)
        ).id;
        await services.users.create(
          { email: 'ann@example.com', displayName: 'Ann', role: 'Editor' },
          OPERATOR,
          CLI_ACTOR,
        );
      });
      afterAll(async () => {
        await engine?.stop();
        await store?.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
        if (schema !== undefined) {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`drop schema if exists "${schema}" cascade`).finally(() => client.end());
        }
      });

      describe('tokens', () => {
        it.runIf(full)('has --help for the group and each command', async () => {
          for (const args of [['tokens'], ['tokens', 'create']]) {
            const result = await cli([...args, '--help']);
            expect(result.code).toBe(0);
            expect(result.stdout).toContain(`Usage: gatehouse ${args.join(' ')}`);
          }
        });

        it('create prints the token once; it works as the user and is stored only as a hash', async () => {
          const text = await cli([
            'tokens',
            'create',
            '--user',
            'robot@example.com',
            '--description',
            'nightly sync',
            '--never',
          ]);
          expect(text.code, text.stderr).toBe(0);
          const token = /^ {2}(gh_dev_\S+)$/m.exec(text.stdout)?.[1];
          expect(token).toMatch(/^gh_dev_[A-Za-z0-9_-]{43}$/);
          expect(text.stdout).toMatch(
            /^Created developer access token \d+ for robot@example\.com, expires never\.\nThis token is shown once/,
          );
          expect(await services.accessTokens.authenticate(token!)).toMatchObject({ userId: robotId });

          const created = await json<{
            token: string;
            accessToken: { id: number; expiresAt: string; user: { id: number } };
          }>([
            'tokens',
            'create',
            '--user',
            String(robotId),
            '--description',
            'Reporting',
            '--expires-in-days',
            '30',
          ]);
          expect(created.accessToken.user.id).toBe(robotId);
          const days = (Date.parse(created.accessToken.expiresAt) - Date.now()) / 86_400_000;
          expect(Math.round(days)).toBe(30);
          const rows = await store.db.selectFrom('access_tokens').selectAll().execute();
          expect(JSON.stringify(rows)).not.toContain(created.token.slice(7));
        });

        it.runIf(full).each([
          [
            ['--user', 'robot@example.com', '--description', 'x'],
            2,
            'choose exactly one of --expires-in-days <days> and --never',
          ],
          [
            ['--user', 'robot@example.com', '--description', 'x', '--expires-in-days', '3651'],
            2,
            'Must be a whole number from 1 to 3650.',
          ],
          [['--description', 'x', '--never'], 2, "required option '--user <id|email>' not specified"],
          [
            ['--user', 'nobody@example.com', '--description', 'x', '--never'],
            1,
            'gatehouse: Unknown user "nobody@example.com".',
          ],
        ])('create %j → exit %i', async (args, code, message) => {
          const before = (await store.db.selectFrom('access_tokens').select('id').execute()).length;
          const result = await cli(['tokens', 'create', ...args]);
          expect(result.code).toBe(code);
          expect(result.stderr).toContain(message);
          expect(result.stdout).toBe('');
          expect((await store.db.selectFrom('access_tokens').select('id').execute()).length).toBe(before);
        });

        it.runIf(full)('list (table and --json, search, user, pagination), show, revoke', async () => {
          const operator = OPERATOR;
          await services.accessTokens.create(
            { description: 'Ann laptop', user: 'ann@example.com', expiresInDays: 5 },
            operator,
            CLI_ACTOR,
          );
          const table = await cli(['tokens', 'list', '--limit', '2']);
          expect(table.code).toBe(0);
          const lines = table.stdout.trim().split('\n');
          expect(lines[0]).toMatch(
            /^ID\s+PREFIX\s+DESCRIPTION\s+USER\s+STATUS\s+CREATED\s+EXPIRES\s+LAST USED$/,
          );
          expect(lines[1]).toMatch(/^\d+\s+gh_dev_\S{8}\s+Ann laptop\s+ann@example\.com\s+active\s/);
          expect(lines[2]).toMatch(/^\d+\s+gh_dev_\S{8}\s+Reporting\s+robot@example\.com\s+active\s/);
          const cursor = /^\(more: repeat with --cursor (\S+)\)$/.exec(lines[3] ?? '')?.[1];
          expect(cursor).toBeDefined();

          type Page = {
            items: Array<{ id: number; prefix: string; description: string }>;
            nextCursor: string | null;
          };
          const second = await json<Page>(['tokens', 'list', '--limit', '2', '--cursor', cursor!]);
          expect(second).toMatchObject({ items: [{ description: 'nightly sync' }], nextCursor: null });
          const search = await json<Page>(['tokens', 'list', '--search', 'REPORT']);
          expect(search.items.map((i) => i.description)).toEqual(['Reporting']);
          const byUser = await json<Page>(['tokens', 'list', '--user', 'ann@example.com']);
          expect(byUser.items.map((i) => i.description)).toEqual(['Ann laptop']);

          const shown = await cli(['tokens', 'show', String(byUser.items[0]!.id)]);
          expect(shown.stdout).toMatch(
            /^id: +\d+\nprefix: +gh_dev_\S{8}\ndescription: +Ann laptop\nuser: +ann@example\.com \(\d+\)\nstatus: +active\n/,
          );

          const { token } = await services.accessTokens.create(
            { description: 'doomed', user: robotId, expiresInDays: 1 },
            operator,
            CLI_ACTOR,
          );
          const doomed = (await services.accessTokens.list({ q: 'doomed' }, operator)).items[0]!;
          expect(await services.accessTokens.authenticate(token)).toBeDefined();
          const revoked = await cli(['tokens', 'revoke', String(doomed.id)]);
          expect(revoked.code).toBe(0);
          expect(revoked.stdout).toBe(
            `Revoked developer access token ${doomed.id} (${doomed.prefix}…, robot@example.com).\n`,
          );
          // A serve node learns of writes by other processes at its next epoch poll (every 300 ms).
          await services.epochs.poll();
          expect(await services.accessTokens.authenticate(token)).toBeUndefined();
          const active = await json<Page>(['tokens', 'list', '--active']);
          expect(active.items.map((i) => i.description)).toEqual(['Ann laptop', 'Reporting', 'nightly sync']);

          const missing = await cli(['tokens', 'revoke', '999999']);
          expect(missing.code).toBe(1);
          expect(missing.stderr).toBe('gatehouse: Access token 999999 not found.\n');
        });
      });

      describe('workflows', () => {
        let workflowId: string;
        let completedRunId: string;

        beforeAll(async () => {
          const ownerId = (
            await services.users.create(
              { email: 'wf-owner@example.com', role: 'Editor' },
              OPERATOR,
              CLI_ACTOR,
            )
          ).id;
          const owner = await asPrincipal(services, ownerId);
          const create = (name: string, steps: unknown[], input?: unknown) =>
            services.workflows.create(
              { name, definition: { steps, ...(input ? { input } : {}) } },
              owner,
              CLI_ACTOR,
            );
          workflowId = (
            await create(
              'Double it',
              [
                { id: 'double', type: 'set', values: { doubled: 'input.n * 2' } },
                { id: 'say', type: 'log', message: 'doubled to {{vars.doubled}}' },
              ],
              { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
            )
          ).id;
          await create('Always fails', [{ id: 'boom', type: 'fail', message: 'boom' }]);
          await create('Sleeper', [
            { id: 'nap', type: 'delay', seconds: 3600 },
            { id: 'after', type: 'log', message: 'woke' },
          ]);
          // This process is the serve node that executes what the CLI queues.
          engine = new WorkflowEngine(services.ctx, { pollMs: 10 });
          services.workflows.attachEngine(engine);
          engine.start();
        });

        it.runIf(full)('has --help for the group and each command', async () => {
          const group = await cli(['workflows', '--help']);
          expect(group.code).toBe(0);
          for (const sub of ['list', 'run', 'status', 'logs', 'cancel'])
            expect(group.stdout).toMatch(new RegExp(`^  ${sub} `, 'm'));
          const run = await cli(['workflows', 'run', '--help']);
          expect(run.stdout).toContain('Usage: gatehouse workflows run [options] <workflow>');
        });

        it.runIf(full)('list shows every workflow (table and --json)', async () => {
          const list = await json<Array<{ id: string; name: string; version: number }>>([
            'workflows',
            'list',
          ]);
          expect(list.map((w) => w.name)).toEqual(['Always fails', 'Double it', 'Sleeper']);
          const filtered = await json<Array<{ name: string }>>(['workflows', 'list', '--name-like', 'doub']);
          expect(filtered.map((w) => w.name)).toEqual(['Double it']);
          const table = await cli(['workflows', 'list']);
          expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+VERSION\s+OWNER\s+UPDATED$/);
          expect(table.stdout).toContain(`${workflowId}  Double it`);
        });

        it('run --wait follows a run to COMPLETED; status and logs show it', async () => {
          const inputFile = path.join(dataDir, 'input.json');
          fs.writeFileSync(inputFile, '{"n": 21}');
          const done = await json<{ id: string; status: string; modelId: string; variables: unknown }>([
            'workflows',
            'run',
            'double it',
            '--input-file',
            inputFile,
            '--wait',
          ]);
          expect(done).toMatchObject({
            status: 'COMPLETED',
            modelId: workflowId,
            variables: { doubled: 42 },
          });
          completedRunId = done.id;
          const text = await cli(['workflows', 'status', done.id]);
          expect(text.code).toBe(0);
          expect(text.stdout).toContain('status:          COMPLETED\n');
          expect(text.stdout).toContain('variables:       {"doubled":42}\n');
          const logs = await json<Array<{ seq: number; stepId: string; status: string }>>([
            'workflows',
            'logs',
            done.id,
            '--offset',
            '1',
          ]);
          expect(logs.map((l) => [l.seq, l.stepId, l.status])).toEqual([[2, 'say', 'ok']]);
          const table = await cli(['workflows', 'logs', done.id]);
          const rows = table.stdout.trim().split('\n');
          expect(rows[0]).toMatch(/^SEQ\s+STEP\s+TYPE\s+STATUS\s+STARTED\s+MS\s+MESSAGE$/);
          expect(rows[1]).toMatch(/^1\s+double\s+set\s+ok\s/);
          expect(rows[2]).toMatch(/^2\s+say\s+log\s+ok\s.*doubled to 42$/);
        });

        it.runIf(full)('a run that fails: --wait exits 1 naming the error', async () => {
          const result = await cli(['workflows', 'run', 'Always fails', '--wait']);
          expect(result.code).toBe(1);
          expect(result.stdout).toMatch(/^Queued run \S+ of Always fails v1; waiting…\n/);
          expect(result.stdout).toContain('status:          FAILED\n');
          expect(result.stderr).toMatch(/^gatehouse: run \S+ ended FAILED: boom\n$/);
        });

        it.runIf(full)(
          '--wait --timeout gives up on a long run (exit 1); cancel stops it; an ended run cannot be canceled',
          async () => {
            const waited = await cli(['workflows', 'run', 'Sleeper', '--wait', '--timeout', '1']);
            expect(waited.code).toBe(1);
            const match =
              /^gatehouse: run (\S+) is still (QUEUED|IN_PROGRESS) after 1 s \(is a serve node running\?\)\n$/.exec(
                waited.stderr,
              );
            expect(match).not.toBeNull();
            const id = match![1]!;
            for (;;) {
              const current = await services.workflows.getInstance(id, OPERATOR);
              if (current.stepsCompleted === 1) break;
              await new Promise((resolve) => setTimeout(resolve, 10));
            }
            const canceled = await cli(['workflows', 'cancel', id]);
            expect(canceled.code).toBe(0);
            expect(canceled.stdout).toBe(`Canceled run ${id}.\n`);
            expect((await json<{ status: string }>(['workflows', 'status', id])).status).toBe('CANCELED');
            const ended = await cli(['workflows', 'cancel', completedRunId]);
            expect(ended.code).toBe(1);
            expect(ended.stderr).toBe('gatehouse: The run has already ended (COMPLETED).\n');
          },
        );

        it.runIf(full)(
          'errors: bad input is exit 1 naming the path; bad flags are exit 2; unknown ids are exit 1',
          async () => {
            const bad = await cli(['workflows', 'run', 'Double it', '--input', '{"n": "x"}']);
            expect(bad.code).toBe(1);
            expect(bad.stderr).toBe('gatehouse: Invalid input: input.n must be integer.\n');
            const notJson = await cli(['workflows', 'run', 'Double it', '--input', '{n:']);
            expect(notJson.code).toBe(2);
            expect(notJson.stderr).toContain('Must be JSON');
            const both = await cli([
              'workflows',
              'run',
              'Double it',
              '--input',
              '{}',
              '--input-file',
              'x.json',
            ]);
            expect(both.code).toBe(2);
            expect(both.stderr).toContain('give --input or --input-file, not both');
            const unknown = await cli(['workflows', 'run', 'No such workflow']);
            expect(unknown.code).toBe(1);
            expect(unknown.stderr).toBe('gatehouse: Workflow No such workflow not found.\n');
            const missingRun = await cli(['workflows', 'status', '00000000-0000-4000-8000-000000000000']);
            expect(missingRun.code).toBe(1);
            expect(missingRun.stderr).toBe(
              'gatehouse: Workflow instance 00000000-0000-4000-8000-000000000000 not found.\n',
            );
          },
        );
      });
    },
  );
}
