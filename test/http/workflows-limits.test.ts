/**
 * Workflow runs under hostile expressions and oversized state, on both dialects, over real HTTP:
 * every limit ends the run FAILED naming the step and the setting, nothing oversized is stored,
 * and /healthz and the token endpoint keep answering while a run is stuck in an expression.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { WorkflowEngine } from '../../src/workflows/engine.js';
import { createUser, signIn, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

/** 2^34 steps of backtracking: hours on any machine, inside one JSONata built-in call. */
const CATASTROPHIC = '$match($pad("", 34, "a") & "!", /^(a+)+$/)';

interface Instance {
  id: string;
  status: string;
  error: string | null;
  variables: Record<string, unknown>;
  outputs: Record<string, unknown>;
  stepsCompleted: number;
}

interface Harness {
  base: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }>;
  /** Creates a workflow and starts a run; returns the run id. */
  run(definition: unknown): Promise<string>;
  instance(id: string): Promise<Instance>;
  until(id: string, status: string): Promise<Instance>;
  token(): Promise<number>;
  close(): Promise<void>;
}

let workflowCount = 0;

async function harness(ts: TestStore, config: Partial<Config>): Promise<Harness> {
  const { app, services } = await testApp(ts.store, { config });
  const engine = new WorkflowEngine(services.ctx, { pollMs: 5 });
  services.workflows.attachEngine(engine);
  engine.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await createUser(services, 'limits@example.com', 'Admin');
  const session = await signIn(app as App, 'limits@example.com');
  const created = await fetch(`${base}/api/admin/v1/access-tokens`, {
    method: 'POST',
    headers: { ...session.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ description: 'limits', expiresInDays: 1 }),
  });
  const authorization = `Bearer ${((await created.json()) as { token: string }).token}`;
  const client = await fetch(`${base}/api/admin/v1/clients`, {
    method: 'POST',
    headers: { ...session.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'limits client', scopes: ['workflow'] }),
  });
  const { client_id, client_secret } = (await client.json()) as { client_id: string; client_secret: string };

  const api: Harness['api'] = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  };
  const instance = async (id: string) => {
    const res = await api('GET', `/v1/workflows/instances/${id}`);
    expect(res.status).toBe(200);
    return res.json as Instance;
  };
  return {
    base,
    api,
    instance,
    async run(definition) {
      const workflow = await api('POST', '/v1/workflows', { name: `limits ${++workflowCount}`, definition });
      expect(workflow.status, JSON.stringify(workflow.json)).toBe(201);
      const run = await api('POST', `/v1/workflows/${(workflow.json as { id: string }).id}/execute`, {});
      expect(run.status).toBe(202);
      return (run.json as { id: string }).id;
    },
    async until(id, status) {
      return vi.waitFor(
        async () => {
          const current = await instance(id);
          if (current.status !== status) throw new Error(`still ${current.status}`);
          return current;
        },
        { timeout: 20_000, interval: 20 },
      );
    },
    async token() {
      const res = await fetch(`${base}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id, client_secret }).toString(),
      });
      await res.arrayBuffer();
      return res.status;
    },
    async close() {
      await engine.stop();
      await app.close();
    },
  };
}

const healthz = async (base: string) => {
  const res = await fetch(`${base}/healthz`);
  return { status: res.status, body: await res.json() };
};

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`workflow run limits (${dialect.name})`, () => {
    let ts: TestStore;
    let h: Harness;
    let upstream: http.Server;
    let upstreamHost: string;

    beforeAll(async () => {
      upstream = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (req.url === '/big') res.end(JSON.stringify({ text: 'z'.repeat(70_000) }));
        else if (req.url === '/deep') res.end(`${'['.repeat(100)}${']'.repeat(100)}`);
        else res.end('{"ok":true}');
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      upstreamHost = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      ts = await dialect.open();
      h = await harness(ts, {
        workflowMaxValueBytes: 64 * 1024,
        workflowMaxRunBytes: 256 * 1024,
        workflowExpressionTimeoutMs: 5000,
        workflowHttpAllow: [upstreamHost],
      });
    });
    afterAll(async () => {
      await h?.close();
      await ts?.dispose();
      await new Promise((resolve) => upstream?.close(resolve));
    });

    it('$pad("", 1e8, "x") fails the run naming the step and the value limit; the variable is not stored', async () => {
      const id = await h.run({
        steps: [
          { id: 'first', type: 'set', values: { before: '"ok"' } },
          { id: 'pad', type: 'set', values: { big: '$pad("", 1e8, "x")' } },
          { id: 'after', type: 'log', message: 'not reached' },
        ],
      });
      const run = await h.until(id, 'FAILED');
      expect(run.error).toBe(
        'step pad: variable "big" is larger than 65536 bytes of JSON (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)',
      );
      expect(run.variables).toEqual({ before: 'ok' });
      const logs = await h.api('GET', `/v1/workflows/instances/${id}/logs`);
      expect(
        (logs.json as Array<{ stepId: string; status: string }>).map((l) => [l.stepId, l.status]),
      ).toEqual([
        ['first', 'ok'],
        ['pad', 'error'],
      ]);
    });

    it('string doubling stops at the value limit; the last stored value is within it', async () => {
      const doubling = Array.from({ length: 12 }, (_, i) => ({
        id: `double_${i}`,
        type: 'set',
        values: { s: 'vars.s & vars.s' },
      }));
      const id = await h.run({
        steps: [{ id: 'seed', type: 'set', values: { s: '$pad("", 1000, "x")' } }, ...doubling],
      });
      const run = await h.until(id, 'FAILED');
      // 1000 · 2^6 = 64,000 characters fit; 128,000 do not.
      expect(run.error).toBe(
        'step double_6: variable "s" is larger than 65536 bytes of JSON (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)',
      );
      expect((run.variables.s as string).length).toBe(64_000);
    });

    it('many values within the value limit stop at the run limit, naming it', async () => {
      const copies = ['b', 'c', 'd', 'e', 'f'].map((name) => ({
        id: `copy_${name}`,
        type: 'set',
        values: { [name]: 'vars.a' },
      }));
      const id = await h.run({
        steps: [{ id: 'seed', type: 'set', values: { a: '$pad("", 60000, "x")' } }, ...copies],
      });
      const run = await h.until(id, 'FAILED');
      expect(run.error).toMatch(
        /^step copy_e: the run's state would be \d+ bytes, more than 262144 \(GATEHOUSE_WORKFLOW_MAX_RUN_BYTES\)$/,
      );
      expect(Object.keys(run.variables).sort()).toEqual(['a', 'b', 'c', 'd']);
    });

    it('a log line over the value limit fails the run', async () => {
      const id = await h.run({
        steps: [{ id: 'shout', type: 'log', message: 'say {{ $pad("", 70000, "y") }}' }],
      });
      const run = await h.until(id, 'FAILED');
      expect(run.error).toMatch(
        /^step shout: the text of "say .*" is larger than 65536 bytes of JSON \(GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES\)$/,
      );
    });

    it('http responses: a body over the value limit, or nested deeper than the depth limit, fails the step', async () => {
      const big = await h.run({
        steps: [{ id: 'fetch_big', type: 'http', url: `http://${upstreamHost}/big` }],
      });
      expect((await h.until(big, 'FAILED')).error).toBe(
        'step fetch_big: the response body is larger than 65536 bytes (GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES)',
      );
      const deep = await h.run({
        steps: [{ id: 'fetch_deep', type: 'http', url: `http://${upstreamHost}/deep` }],
      });
      expect((await h.until(deep, 'FAILED')).error).toBe(
        'step fetch_deep: the response body nests deeper than 64 levels (GATEHOUSE_MAX_JSON_DEPTH)',
      );
      const fine = await h.run({
        steps: [{ id: 'fetch_ok', type: 'http', url: `http://${upstreamHost}/ok` }],
      });
      expect((await h.until(fine, 'COMPLETED')).outputs.fetch_ok).toMatchObject({
        status: 200,
        body: { ok: true },
      });
    });
  });

  describe.skipIf(dialect.skip)(
    `a run stuck in an expression does not stall the server (${dialect.name})`,
    () => {
      let ts: TestStore;
      let h: Harness;
      beforeAll(async () => {
        ts = await dialect.open();
        // Long enough that the run is surely still in its expression while the requests below are answered.
        h = await harness(ts, { workflowExpressionTimeoutMs: 60_000 });
      });
      afterAll(async () => {
        await h?.close();
        await ts?.dispose();
      });

      it('/healthz and the token endpoint answer while the run is IN_PROGRESS; cancel stops it at once', async () => {
        const id = await h.run({ steps: [{ id: 'slow', type: 'set', values: { x: CATASTROPHIC } }] });
        await h.until(id, 'IN_PROGRESS');
        expect(await healthz(h.base)).toEqual({ status: 200, body: { status: 'ok' } });
        expect(await h.token()).toBe(200);
        expect((await h.instance(id)).status).toBe('IN_PROGRESS');
        expect((await h.api('POST', `/v1/workflows/instances/${id}/cancel`)).status).toBe(200);
        const run = await h.until(id, 'CANCELED');
        expect(run.variables).toEqual({});
      });
    },
  );

  describe.skipIf(dialect.skip)(`the expression time limit (${dialect.name})`, () => {
    let ts: TestStore;
    let h: Harness;
    beforeAll(async () => {
      ts = await dialect.open();
      h = await harness(ts, { workflowExpressionTimeoutMs: 300 });
    });
    afterAll(async () => {
      await h?.close();
      await ts?.dispose();
    });

    it('a backtracking regex fails the run naming the step and the time limit; requests made meanwhile succeed', async () => {
      const id = await h.run({ steps: [{ id: 'regex', type: 'if', condition: CATASTROPHIC }] });
      const during = await Promise.all([healthz(h.base), h.token(), healthz(h.base)]);
      expect(during).toEqual([
        { status: 200, body: { status: 'ok' } },
        200,
        { status: 200, body: { status: 'ok' } },
      ]);
      const run = await h.until(id, 'FAILED');
      expect(run.error).toBe(
        'step regex: expressions ran longer than 300 ms (GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS)',
      );
      // The engine goes on: the next run completes.
      const next = await h.run({ steps: [{ id: 'fine', type: 'set', values: { y: '1 + 1' } }] });
      expect((await h.until(next, 'COMPLETED')).variables).toEqual({ y: 2 });
    });
  });
}
