/**
 * Acceptance of issue #15: the official Domo Node SDK (npm `domo-sdk` 2.0.1), unmodified, against a
 * Gatehouse it starts over HTTPS with a self-signed certificate. Only the host changes: the SDK
 * talks to `https://localhost:<port>`, gets its token with `GET /oauth/token` + Basic auth and
 * sends `Authorization: bearer …`.
 *
 * The SDK runs in its own Node process (test/e2e/domo-sdk-bridge.cjs) that trusts the certificate
 * through NODE_EXTRA_CA_CERTS, as any Node program is made to trust a private CA: verification
 * stays on and nothing in this test process changes its TLS settings. Each step is one `it`
 * against one server per store (the steps build on each other, in order). PDP policies are
 * applied through a second SDK process, whose client belongs to a user who is neither the
 * DataSet's owner nor an Admin. Streams upload parts out of order and in parallel (one gzip) and
 * commit them at once.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_TEST_TIMEOUT,
  cliTarget,
  type CliTarget,
  type ServedCluster,
  startServe,
} from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { dialects } from '../helpers/stores.js';

const BRIDGE = path.resolve(import.meta.dirname, 'domo-sdk-bridge.cjs');

interface SdkError {
  message: string;
  statusCode: number | null;
  body: unknown;
  cause: string | null;
}
type SdkAnswer = { ok: true; value: unknown } | { ok: false; error: SdkError };

/** One `DomoClient` in a child process; `call('datasets.create', dataset)` runs `client.datasets.create(dataset)`. */
class SdkProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (answer: SdkAnswer) => void>();
  private nextId = 1;
  private stderr = '';

  constructor(clientId: string, clientSecret: string, host: string, caFile: string, scopes: string[]) {
    this.child = spawn(process.execPath, [BRIDGE, clientId, clientSecret, host, ...scopes], {
      env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: caFile },
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const { id, ...answer } = JSON.parse(line) as { id: number } & SdkAnswer;
      this.waiting.get(id)?.(answer);
      this.waiting.delete(id);
    });
    this.child.on('exit', (code) => {
      for (const settle of this.waiting.values())
        settle({
          ok: false,
          error: {
            message: `SDK process exited ${code}: ${this.stderr}`,
            statusCode: null,
            body: null,
            cause: null,
          },
        });
      this.waiting.clear();
    });
  }

  /** The SDK's answer or error (status and body of the HTTP error, when there was one). */
  send(call: string, ...args: unknown[]): Promise<SdkAnswer> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, call, args })}\n`);
    });
  }

  /** The SDK's answer; throws with the HTTP status and body when the SDK threw. */
  async call<T = unknown>(call: string, ...args: unknown[]): Promise<T> {
    const answer = await this.send(call, ...args);
    if (!answer.ok) throw new Error(`${call} failed: ${JSON.stringify(answer.error)}`);
    return answer.value as T;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    this.child.kill('SIGTERM');
    await exited;
  }
}

interface DomoDataset {
  id: string;
  name: string;
  description: string;
  rows: number;
  columns: number;
  schema: { columns: Array<{ name: string; type: string }> };
  owner: { id: number; name: string };
  createdAt: string;
  updatedAt: string;
  dataCurrentAt: string | null;
  pdpEnabled: boolean;
}
interface DomoUser {
  id: number;
  name: string;
  email: string;
  role: string;
  [field: string]: unknown;
}
interface DomoGroup {
  id: number;
  name: string;
  memberCount: number;
  [field: string]: unknown;
}

const COLUMNS = [
  { name: 'Region', type: 'STRING' },
  { name: 'Amount', type: 'DECIMAL' },
  { name: 'Day', type: 'DATE' },
];

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`the Domo Node SDK over HTTPS (${dialect.name})`, () => {
    let target: CliTarget;
    let server: ServedCluster;
    let sdk: SdkProcess;
    /** The SDK as a user who is neither the datasets' owner nor an Admin (PDP applies to them). */
    let analystSdk: SdkProcess | undefined;
    let host: string;
    let caFile: string;
    let admin: { id: number; email: string };
    let dataset: DomoDataset;

    beforeAll(async () => {
      target = cliTarget(dialect.name);
      ({ user: admin } = await target.json<{ user: { id: number; email: string } }>([
        'users',
        'create',
        'sdk-admin@example.com',
        '--name',
        'SDK Admin',
        '--role',
        'Admin',
      ]));
      const client = await target.json<{ client_id: string; client_secret: string }>([
        'clients',
        'create',
        'Domo SDK',
        '--owner',
        admin.email,
        '--scopes',
        'data,user,audit',
      ]);
      const certs = path.join(target.dataDir, 'certs');
      const made = await target.run(['tls', 'self-signed', '--out', certs, '--host', 'localhost']);
      expect(made.code, made.stderr).toBe(0);
      const port = await freePort();
      server = await startServe({
        ...target.env,
        PORT: String(port),
        GATEHOUSE_LOG_LEVEL: 'info',
        GATEHOUSE_WORKERS: '1',
        GATEHOUSE_TLS_CERT: path.join(certs, 'cert.pem'),
        GATEHOUSE_TLS_KEY: path.join(certs, 'key.pem'),
      });
      host = `localhost:${port}`;
      caFile = path.join(certs, 'cert.pem');
      sdk = new SdkProcess(client.client_id, client.client_secret, host, caFile, ['DATA', 'USER']);
    }, CLI_TEST_TIMEOUT);

    afterAll(async () => {
      await sdk?.stop();
      await analystSdk?.stop();
      await server?.stop();
      await target?.dispose();
    });

    it('creates a dataset with a DATE column (a token fetched with GET /oauth/token first)', async () => {
      dataset = await sdk.call<DomoDataset>('datasets.create', {
        name: 'Sales by day',
        description: 'Imported by the Domo SDK',
        rows: 0,
        schema: { columns: COLUMNS },
      });
      expect(dataset).toMatchObject({
        name: 'Sales by day',
        description: 'Imported by the Domo SDK',
        rows: 0,
        columns: 3,
        schema: { columns: COLUMNS },
        owner: { id: admin.id, name: 'SDK Admin' },
        dataCurrentAt: null,
        pdpEnabled: false,
      });
      expect(dataset.id).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('imports CSV with an empty DATE value (null)', async () => {
      const answer = await sdk.call(
        'datasets.importData',
        dataset.id,
        'East,12.5,2026-01-31\nWest,7,\nNorth,,2026-02-01\n',
      );
      // The SDK sends the CSV with json: false and hands back the (empty) 204 body.
      expect(answer).toBe('');
    });

    it('exports the rows with a header, the empty DATE still empty', async () => {
      const csv = await sdk.call<string>('datasets.exportData', dataset.id, true);
      expect(csv).toBe('Region,Amount,Day\nEast,12.5,2026-01-31\nWest,7,\nNorth,,2026-02-01\n');
    });

    it('lists datasets and gets one, with the row count', async () => {
      const second = await sdk.call<DomoDataset>('datasets.create', {
        name: 'Another dataset',
        schema: { columns: [{ name: 'Note', type: 'STRING' }] },
      });
      const listed = await sdk.call<DomoDataset[]>('datasets.list', 10, 0, 'name');
      expect(listed.map((d) => d.name)).toEqual(['Another dataset', 'Sales by day']);
      const got = await sdk.call<DomoDataset>('datasets.get', dataset.id);
      expect(got).toMatchObject({ id: dataset.id, rows: 3, columns: 3, schema: { columns: COLUMNS } });
      expect(got.dataCurrentAt).not.toBeNull();
      expect(await sdk.call<DomoDataset[]>('datasets.list', 1, 1)).toMatchObject([{ id: dataset.id }]);
      const updated = await sdk.call<DomoDataset>('datasets.update', second.id, { description: 'Notes' });
      expect(updated).toMatchObject({ id: second.id, description: 'Notes' });
      expect(await sdk.call('datasets.delete', second.id)).toBe(null);
      const missing = await sdk.send('datasets.get', second.id);
      expect(missing).toMatchObject({ ok: false, error: { statusCode: 404 } });
    });

    let user: DomoUser;

    it('creates a user with the profile fields Domo documents', async () => {
      user = await sdk.call<DomoUser>('users.create', {
        name: 'Grace Hopper',
        email: 'grace@example.com',
        role: 'Participant',
        title: 'Rear Admiral',
        alternateEmail: 'grace.hopper@example.org',
        phone: '+1 555 0100',
        location: 'Arlington',
        timezone: 'America/New_York',
        locale: 'en_US',
        employeeNumber: 1906,
      });
      expect(user).toMatchObject({
        name: 'Grace Hopper',
        email: 'grace@example.com',
        role: 'Participant',
        title: 'Rear Admiral',
        phone: '+1 555 0100',
        employeeNumber: 1906,
      });
      expect(user.id).toBeGreaterThan(admin.id);
    });

    it('lists users and gets one', async () => {
      const listed = await sdk.call<DomoUser[]>('users.list', 50, 0);
      expect(listed.map((u) => u.email)).toEqual(['sdk-admin@example.com', 'grace@example.com']);
      expect(await sdk.call<DomoUser>('users.get', user.id)).toMatchObject({
        id: user.id,
        name: 'Grace Hopper',
      });
    });

    it('updates a user (the SDK sends the whole user)', async () => {
      const updated = await sdk.call<DomoUser>('users.update', user.id, {
        name: 'Grace B. Hopper',
        email: 'grace@example.com',
        role: 'Editor',
        title: 'Commodore',
      });
      expect(updated).toMatchObject({ id: user.id, name: 'Grace B. Hopper', role: 'Editor' });
      expect(await sdk.call<DomoUser>('users.get', user.id)).toMatchObject({
        name: 'Grace B. Hopper',
        role: 'Editor',
        title: 'Commodore',
        location: 'Arlington',
      });
    });

    let group: DomoGroup;

    it('creates a group', async () => {
      group = await sdk.call<DomoGroup>('groups.create', { name: 'Navy', default: false });
      expect(group).toMatchObject({ name: 'Navy', memberCount: 0, default: false, active: true });
    });

    it('adds members and lists them', async () => {
      expect(await sdk.call('groups.addUser', group.id, user.id)).toBe(null);
      expect(await sdk.call('groups.addUser', group.id, admin.id)).toBe(null);
      expect(await sdk.call<number[]>('groups.listUsers', group.id, 50, 0)).toEqual([admin.id, user.id]);
      expect(await sdk.call<DomoGroup>('groups.get', group.id)).toMatchObject({
        id: group.id,
        memberCount: 2,
      });
      expect((await sdk.call<DomoGroup[]>('groups.list', 50, 0)).map((g) => g.name)).toEqual(['Navy']);
      expect(await sdk.call('groups.removeUser', group.id, admin.id)).toBe(null);
      expect(await sdk.call<number[]>('groups.listUsers', group.id)).toEqual([user.id]);
    });

    it("creates, lists, gets, updates and deletes PDP policies and sees them applied to another user's export", async () => {
      // An analyst (data.view, data.manage, may own clients) who is neither the owner nor an Admin.
      const { user: analyst } = await target.json<{ user: { id: number } }>([
        'users',
        'create',
        'analyst@example.com',
        '--name',
        'Analyst',
        '--role',
        'Privileged',
      ]);
      const client = await target.json<{ client_id: string; client_secret: string }>([
        'clients',
        'create',
        'Analyst SDK',
        '--owner',
        'analyst@example.com',
        '--scopes',
        'data',
      ]);
      analystSdk = new SdkProcess(client.client_id, client.client_secret, host, caFile, ['DATA']);
      expect(await sdk.call('groups.addUser', group.id, analyst.id)).toBe(null);

      // PDPClient.create as Domo documents it: the analyst through the group sees East only.
      const policy = await sdk.call<{ id: number }>('policies.create', dataset.id, {
        name: 'East only',
        type: 'user',
        users: [],
        groups: [group.id],
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: false }],
      });
      const body = {
        id: policy.id,
        type: 'user',
        name: 'East only',
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: false }],
        users: [],
        groups: [group.id],
      };
      expect(policy).toEqual(body);
      expect(await sdk.call('policies.list', dataset.id)).toEqual([body]);
      expect(await sdk.call('policies.get', dataset.id, policy.id)).toEqual(body);
      expect(await sdk.call<DomoDataset>('datasets.get', dataset.id)).toMatchObject({ pdpEnabled: true });
      expect(await analystSdk.call('datasets.exportData', dataset.id, true)).toBe(
        'Region,Amount,Day\nEast,12.5,2026-01-31\n',
      );
      // The owner (an Admin here) still sees every row.
      expect(await sdk.call('datasets.exportData', dataset.id, true)).toBe(
        'Region,Amount,Day\nEast,12.5,2026-01-31\nWest,7,\nNorth,,2026-02-01\n',
      );

      // PDPClient.update with name and filters only: the group stays; `not` flips the rows.
      expect(
        await sdk.call('policies.update', dataset.id, policy.id, {
          name: 'Not East',
          filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: true }],
        }),
      ).toEqual({
        ...body,
        name: 'Not East',
        filters: [{ column: 'Region', values: ['East'], operator: 'EQUALS', not: true }],
      });
      expect(await analystSdk.call('datasets.exportData', dataset.id, false)).toBe(
        'West,7,\nNorth,,2026-02-01\n',
      );
      // Only the owner or an Admin changes policies.
      expect(await analystSdk.send('policies.delete', dataset.id, policy.id)).toMatchObject({
        ok: false,
        error: { statusCode: 403 },
      });

      // Without a policy the analyst sees no rows (PDP stays on).
      expect(await sdk.call('policies.delete', dataset.id, policy.id)).toBe(null);
      expect(await sdk.call('policies.list', dataset.id)).toEqual([]);
      expect(await analystSdk.call('datasets.exportData', dataset.id, true)).toBe('Region,Amount,Day\n');
      expect(await sdk.send('policies.get', dataset.id, policy.id)).toMatchObject({
        ok: false,
        error: { statusCode: 404 },
      });
      expect(await sdk.call('groups.removeUser', group.id, analyst.id)).toBe(null);
    });

    interface DomoStream {
      id: number;
      dataSet: DomoDataset;
      updateMethod: string;
    }
    interface DomoExecution {
      id: number;
      currentState: string;
      rows?: number;
      parts?: Array<{ part: number; rows: number }>;
    }
    let stream: DomoStream;
    const STREAM_COLUMNS = [
      { name: 'Order', type: 'LONG' },
      { name: 'Total', type: 'DOUBLE' },
      { name: 'Shipped', type: 'DATE' },
    ];

    it('creates a stream with its DataSet, gets and lists it', async () => {
      stream = await sdk.call<DomoStream>('streams.create', {
        dataSet: {
          name: 'Streamed orders',
          description: 'Uploaded in parts',
          schema: { columns: STREAM_COLUMNS },
        },
        updateMethod: 'REPLACE',
      });
      expect(stream).toMatchObject({
        updateMethod: 'REPLACE',
        dataSet: {
          name: 'Streamed orders',
          rows: 0,
          schema: { columns: STREAM_COLUMNS },
          owner: { id: admin.id },
        },
      });
      expect(await sdk.call<DomoStream>('streams.get', stream.id)).toMatchObject({
        id: stream.id,
        dataSet: { id: stream.dataSet.id },
      });
      expect((await sdk.call<DomoStream[]>('streams.list')).map((s) => s.id)).toEqual([stream.id]);
      expect(await sdk.call('streams.search', [`dataSource.id:${stream.dataSet.id}`])).toEqual([stream]);
      // Rows that were there before the stream's first commit.
      expect(await sdk.call('datasets.importData', stream.dataSet.id, '0,0.5,2026-01-01\n')).toBe('');
    });

    let execution: DomoExecution;

    it('uploads an execution in several parts, out of order and at once, one gzip-compressed; nothing shows before the commit', async () => {
      execution = await sdk.call<DomoExecution>('streams.createExecution', stream.id);
      expect(execution).toMatchObject({ currentState: 'ACTIVE' });
      const answers = await Promise.all([
        sdk.call<string>(
          'streams.uploadPart',
          stream.id,
          execution.id,
          3,
          '5,50.125,2026-03-05\n6,60.5,2026-03-06\n',
        ),
        sdk.call<string>(
          'streams.uploadPart',
          stream.id,
          execution.id,
          1,
          '1,10.5,2026-03-01\n2,20.25,2026-03-02\n',
        ),
        sdk.call<string>('streams.uploadCompressedPart', stream.id, execution.id, 2, {
          $gzip: '3,30.75,\n4,40.5,2026-03-04\n',
        }),
      ]);
      // uploadPart sends with json: false, so the SDK hands back the execution as text.
      for (const answer of answers)
        expect(JSON.parse(answer)).toMatchObject({ id: execution.id, currentState: 'ACTIVE' });
      const resumed = await sdk.call<DomoExecution>('streams.getExecution', stream.id, execution.id);
      expect(resumed.parts?.map((p) => [p.part, p.rows])).toEqual([
        [1, 2],
        [2, 2],
        [3, 2],
      ]);
      expect(await sdk.call('datasets.exportData', stream.dataSet.id, false)).toBe('0,0.5,2026-01-01\n');
    });

    it('commits: every part becomes the DataSet at once, in part order', async () => {
      expect(await sdk.call<DomoExecution>('streams.commit', stream.id, execution.id)).toMatchObject({
        id: execution.id,
        currentState: 'SUCCESS',
        rows: 6,
      });
      expect(await sdk.call('datasets.exportData', stream.dataSet.id, true)).toBe(
        'Order,Total,Shipped\n1,10.5,2026-03-01\n2,20.25,2026-03-02\n3,30.75,\n4,40.5,2026-03-04\n5,50.125,2026-03-05\n6,60.5,2026-03-06\n',
      );
      expect(await sdk.call<DomoDataset>('datasets.get', stream.dataSet.id)).toMatchObject({ rows: 6 });
    });

    it('aborts an execution (nothing changes), lists executions, switches to APPEND and deletes the stream', async () => {
      const second = await sdk.call<DomoExecution>('streams.createExecution', stream.id);
      await sdk.call('streams.uploadPart', stream.id, second.id, 1, '7,70.5,2026-03-07\n');
      expect(await sdk.call<DomoExecution>('streams.abort', stream.id)).toMatchObject({
        id: second.id,
        currentState: 'ABORTED',
      });
      expect(
        (await sdk.call<DomoExecution[]>('streams.listExecutions', stream.id, 50, 0)).map((e) => [
          e.id,
          e.currentState,
        ]),
      ).toEqual([
        [execution.id, 'SUCCESS'],
        [second.id, 'ABORTED'],
      ]);
      expect(await sdk.call<DomoDataset>('datasets.get', stream.dataSet.id)).toMatchObject({ rows: 6 });
      expect(
        await sdk.call<DomoStream>('streams.update', stream.id, { updateMethod: 'APPEND' }),
      ).toMatchObject({
        id: stream.id,
        updateMethod: 'APPEND',
      });
      expect(await sdk.call('streams.delete', stream.id)).toBe(null);
      expect(await sdk.send('streams.get', stream.id)).toMatchObject({
        ok: false,
        error: { statusCode: 404 },
      });
      // The DataSet and its rows stay.
      expect(await sdk.call<DomoDataset>('datasets.get', stream.dataSet.id)).toMatchObject({ rows: 6 });
    });

    it('deletes a user (and with it the membership)', async () => {
      expect(await sdk.call('users.delete', user.id)).toBe(null);
      expect(await sdk.send('users.get', user.id)).toMatchObject({ ok: false, error: { statusCode: 404 } });
      expect(await sdk.call<number[]>('groups.listUsers', group.id)).toEqual([]);
    });
  });
}

// The bridge must exist beside this file (a missing file would fail every step with a vague exit).
if (!fs.existsSync(BRIDGE)) throw new Error(`${BRIDGE} is missing`);
