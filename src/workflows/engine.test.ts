/**
 * The workflow engine against a real local HTTP server, on both dialects:
 * every step type, crash-and-resume, cancel, concurrency and two engines on one store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../clock.js';
import { SecretKeyring } from '../crypto.js';
import { silentLogger } from '../logger.js';
import { CLI_ACTOR } from '../services/context.js';
import { createServices, type Services } from '../services/index.js';
import type { WorkflowInstance } from '../services/workflows.js';
import type { Store } from '../store/index.js';
import { asPrincipal, TEST_SECRET_KEY, testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { startUpstream, type Upstream } from '../../test/helpers/upstream.js';
import { type EngineOptions, WorkflowEngine } from './engine.js';
import { OPERATOR } from '../services/principal.js';

const LEASE_MS = 60_000;
const noSleep = async () => {};

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`workflow engine (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let upstream: Upstream;
    let ownerId: number;
    const engines: WorkflowEngine[] = [];
    let counter = 0;

    beforeAll(async () => {
      upstream = await startUpstream();
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store, {
        config: { workflowHttpAllow: [upstream.host] },
      }));
      ownerId = (
        await services.users.create({ email: 'owner@example.com', role: 'Editor' }, OPERATOR, CLI_ACTOR)
      ).id;
    });
    afterEach(async () => {
      for (const engine of engines.splice(0)) await engine.stop();
    });
    afterAll(async () => {
      await ts?.dispose();
      await upstream?.close();
    });

    function engine(options: EngineOptions = {}, on: Services = services): WorkflowEngine {
      const e = new WorkflowEngine(on.ctx, { pollMs: 5, leaseMs: LEASE_MS, sleep: noSleep, ...options });
      on.workflows.attachEngine(e);
      engines.push(e);
      return e;
    }

    async function peerServices(): Promise<Services> {
      const peer: Store = await ts.openPeer();
      return createServices({
        store: peer,
        config: services.ctx.config,
        clock,
        keyring: new SecretKeyring(TEST_SECRET_KEY),
        log: silentLogger(),
      });
    }

    async function workflow(steps: unknown[], input?: unknown): Promise<string> {
      counter++;
      const wf = await services.workflows.create(
        { name: `wf ${counter}`, definition: { steps, ...(input ? { input } : {}) } },
        await asPrincipal(services, ownerId),
        CLI_ACTOR,
      );
      return wf.id;
    }

    async function run(workflowId: string, input: unknown = {}): Promise<WorkflowInstance> {
      return services.workflows.start(workflowId, { input }, OPERATOR, CLI_ACTOR);
    }

    async function until(
      instanceId: string,
      statuses: string[],
      on: Services = services,
    ): Promise<WorkflowInstance> {
      for (;;) {
        const instance = await on.workflows.getInstance(instanceId, OPERATOR);
        if (statuses.includes(instance.status)) return instance;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }

    const logsOf = (id: string) => services.workflows.logs(id, OPERATOR);

    it('runs set, if (both branches), log and http with templates; outputs and logs are stored', async () => {
      const id = await workflow([
        { id: 'init', type: 'set', values: { n: 'input.n * 2', who: '"world"' } },
        {
          id: 'call',
          type: 'http',
          method: 'POST',
          url: `${upstream.url}/echo/{{input.n}}?q={{vars.who}}`,
          headers: { 'x-order': 'order-{{input.n}}' },
          body: { n: '{{vars.n}}', text: 'hello {{vars.who}}' },
        },
        {
          id: 'check',
          type: 'if',
          condition: 'outputs.call.status = 200 and vars.n > 5',
          // biome-ignore lint/suspicious/noThenProperty: `then` is the definition format's branch list.
          then: [{ id: 'big', type: 'log', message: 'big {{vars.n}}' }],
          else: [{ id: 'small', type: 'log', message: 'small {{vars.n}}' }],
        },
        { id: 'done', type: 'log', message: 'posted {{outputs.call.body.body}}' },
      ]);
      const e = engine();
      e.start();
      const big = await until((await run(id, { n: 3 })).id, ['COMPLETED', 'FAILED']);
      expect(big.status).toBe('COMPLETED');
      expect(big.variables).toEqual({ n: 6, who: 'world' });
      const echoed = big.outputs.call as {
        status: number;
        body: { method: string; path: string; query: unknown; headers: Record<string, string>; body: string };
      };
      expect(echoed.status).toBe(200);
      expect(echoed.body).toMatchObject({
        method: 'POST',
        path: '/echo/3',
        query: { q: 'world' },
        body: '{"n":6,"text":"hello world"}',
      });
      expect(echoed.body.headers['x-order']).toBe('order-3');
      expect(echoed.body.headers['content-type']).toBe('application/json');
      const logs = await logsOf(big.id);
      expect(logs.map((l) => [l.seq, l.stepId, l.type, l.status])).toEqual([
        [1, 'init', 'set', 'ok'],
        [2, 'call', 'http', 'ok'],
        [3, 'check', 'if', 'ok'],
        [4, 'big', 'log', 'ok'],
        [5, 'done', 'log', 'ok'],
      ]);
      expect(logs[0]!.output).toEqual({ n: 6, who: 'world' });
      expect(logs[2]!.output).toEqual({ condition: true });
      expect(logs[3]!.message).toBe('big 6');
      expect(logs[4]!.message).toBe('posted {"n":6,"text":"hello world"}');

      const small = await until((await run(id, { n: 1 })).id, ['COMPLETED', 'FAILED']);
      expect((await logsOf(small.id)).map((l) => l.stepId)).toEqual([
        'init',
        'call',
        'check',
        'small',
        'done',
      ]);
    });

    it('fail ends the run FAILED with its message; a non-2xx answer fails the step unless failOnError is false', async () => {
      const e = engine();
      e.start();
      const failing = await until(
        (await run(await workflow([{ type: 'fail', message: 'no order {{input.id}}' }]), { id: 7 })).id,
        ['FAILED'],
      );
      expect(failing.error).toBe('no order 7');
      const logs = await logsOf(failing.id);
      expect(logs).toMatchObject([{ seq: 1, type: 'fail', status: 'error', error: 'no order 7' }]);

      const notFound = await until(
        (await run(await workflow([{ id: 'get', type: 'http', url: `${upstream.url}/status/404` }]))).id,
        ['FAILED'],
      );
      expect(notFound.error).toBe(`step get: HTTP 404 from GET ${upstream.url}`);

      const tolerated = await until(
        (
          await run(
            await workflow([
              { id: 'get', type: 'http', url: `${upstream.url}/status/404`, failOnError: false },
            ]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(tolerated.status).toBe('COMPLETED');
      expect(tolerated.outputs.get).toMatchObject({ status: 404 });
    });

    it('retries 5xx with backoff, gives up after the retries; times out; refuses hosts not allowed and cross-host redirects', async () => {
      const slept: number[] = [];
      const e = engine({ sleep: async (ms) => void slept.push(ms) });
      e.start();
      const flaky = await until(
        (
          await run(
            await workflow([
              { id: 'f', type: 'http', url: `${upstream.url}/flaky/a?fail=2`, retries: 3, backoffMs: 100 },
            ]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(flaky.status).toBe('COMPLETED');
      expect(upstream.hits.get('/flaky/a')).toBe(3);
      expect(slept).toEqual([100, 200]);

      const exhausted = await until(
        (
          await run(
            await workflow([{ id: 'f', type: 'http', url: `${upstream.url}/flaky/b?fail=5`, retries: 1 }]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(exhausted.error).toBe(`step f: HTTP 503 from GET ${upstream.url}`);
      expect(upstream.hits.get('/flaky/b')).toBe(2);

      const slow = await until(
        (
          await run(
            await workflow([{ id: 's', type: 'http', url: `${upstream.url}/hang/timeout`, timeoutMs: 50 }]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(slow.error).toBe('step s: timed out after 50 ms');

      const port = upstream.host.split(':')[1];
      const denied = await until(
        (await run(await workflow([{ id: 'x', type: 'http', url: `http://localhost:${port}/echo` }]))).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(denied.error).toBe(`step x: host localhost:${port} is not on GATEHOUSE_WORKFLOW_HTTP_ALLOW`);
      expect(upstream.hits.get('/echo')).toBeUndefined();

      const away = await until(
        (
          await run(
            await workflow([
              {
                id: 'r',
                type: 'http',
                url: `${upstream.url}/redirect?to=http://localhost:${port}/echo/away`,
              },
            ]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(away.error).toBe(`step r: redirect to another host (localhost:${port}) not followed`);
      expect(upstream.hits.get('/echo/away')).toBeUndefined();

      const same = await until(
        (
          await run(
            await workflow([{ id: 'r', type: 'http', url: `${upstream.url}/redirect?to=/echo/here` }]),
          )
        ).id,
        ['COMPLETED', 'FAILED'],
      );
      expect(same.status).toBe('COMPLETED');
      expect(same.outputs.r).toMatchObject({ status: 200, body: { path: '/echo/here' } });
      upstream.release('/hang/timeout');
    });

    it('a delay stores its due time, releases the lease and survives a restart', async () => {
      const id = await workflow([
        { id: 'wait', type: 'delay', seconds: 3600 },
        { id: 'after', type: 'log', message: 'woke' },
      ]);
      const first = engine();
      first.start();
      const instance = await run(id);
      for (;;) {
        const row = await ts.store.db
          .selectFrom('workflow_instances')
          .selectAll()
          .where('id', '=', instance.id)
          .executeTakeFirstOrThrow();
        if (row.step_count === 1) {
          expect(row).toMatchObject({
            status: 'IN_PROGRESS',
            lease_owner: null,
            due_at: new Date(clock.now().getTime() + 3600_000).toISOString(),
          });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await first.stop();
      const second = engine();
      second.start();
      expect(await second.tick()).toBe(0);
      clock.advance(3600_000);
      const done = await until(instance.id, ['COMPLETED']);
      expect((await logsOf(done.id)).map((l) => l.stepId)).toEqual(['wait', 'after']);
      clock.advance(-3600_000);
    });

    it('after a crash another engine resumes from the last committed step; no committed step runs twice', async () => {
      const id = await workflow([
        { id: 'a', type: 'http', url: `${upstream.url}/count/crash-a` },
        { id: 'b', type: 'http', url: `${upstream.url}/hang/crash-b` },
        { id: 'c', type: 'http', url: `${upstream.url}/count/crash-c` },
      ]);
      const doomed = engine();
      doomed.start();
      const instance = await run(id);
      const held = await upstream.waitForHeld('/hang/crash-b');
      doomed.kill();
      await held.closed; // the in-flight call was abandoned
      await doomed.idle();
      const row = await ts.store.db
        .selectFrom('workflow_instances')
        .selectAll()
        .where('id', '=', instance.id)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'IN_PROGRESS', step_count: 1, lease_owner: doomed.nodeId });

      const survivor = engine({}, await peerServices());
      survivor.start();
      expect(await survivor.tick()).toBe(0); // the dead engine's lease has not expired yet
      clock.advance(LEASE_MS + 1);
      await upstream.waitForHeld('/hang/crash-b');
      upstream.release('/hang/crash-b');
      const done = await until(instance.id, ['COMPLETED', 'FAILED']);
      expect(done.status).toBe('COMPLETED');
      expect(upstream.hits.get('/count/crash-a')).toBe(1);
      expect(upstream.hits.get('/hang/crash-b')).toBe(2); // in flight at the crash: at-least-once
      expect(upstream.hits.get('/count/crash-c')).toBe(1);
      expect((await logsOf(done.id)).map((l) => [l.seq, l.stepId])).toEqual([
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
      ]);
    });

    it('cancel aborts an in-flight HTTP call and stops the run; a queued run is canceled at once', async () => {
      const e = engine();
      e.start();
      const id = await workflow([
        { id: 'slow', type: 'http', url: `${upstream.url}/hang/cancel` },
        { id: 'never', type: 'log', message: 'not reached' },
      ]);
      const instance = await run(id);
      const held = await upstream.waitForHeld('/hang/cancel');
      await services.workflows.cancel(instance.id, OPERATOR, CLI_ACTOR);
      await held.closed;
      const canceled = await until(instance.id, ['CANCELED', 'COMPLETED', 'FAILED']);
      expect(canceled.status).toBe('CANCELED');
      expect((await logsOf(canceled.id)).map((l) => [l.stepId, l.status])).toEqual([['slow', 'canceled']]);
      await e.stop();

      const queued = await run(id);
      const result = await services.workflows.cancel(queued.id, OPERATOR, CLI_ACTOR);
      expect(result.status).toBe('CANCELED');
      await expect(services.workflows.cancel(queued.id, OPERATOR, CLI_ACTOR)).resolves.toMatchObject({
        status: 'CANCELED',
      });
    });

    it('runs at most `concurrency` instances; the others stay QUEUED', async () => {
      const e = engine({ concurrency: 1 });
      e.start();
      const id = await workflow([{ id: 'h', type: 'http', url: `${upstream.url}/hang/limit` }]);
      const one = await run(id);
      const two = await run(id);
      await upstream.waitForHeld('/hang/limit');
      await e.tick();
      expect(e.active).toBe(1);
      const states = [
        await services.workflows.getInstance(one.id, OPERATOR),
        await services.workflows.getInstance(two.id, OPERATOR),
      ];
      expect(states.map((s) => s.status).sort()).toEqual(['IN_PROGRESS', 'QUEUED']);
      upstream.release('/hang/limit');
      await upstream.waitForHeld('/hang/limit');
      upstream.release('/hang/limit');
      expect((await until(one.id, ['COMPLETED'])).status).toBe('COMPLETED');
      expect((await until(two.id, ['COMPLETED'])).status).toBe('COMPLETED');
    });

    it('two engines on one store never run the same step twice', async () => {
      const peer = await peerServices();
      const left = engine({ concurrency: 3 });
      const right = engine({ concurrency: 3 }, peer);
      const id = await workflow([
        { id: 'one', type: 'http', url: `${upstream.url}/count/lease-{{instance.id}}-1` },
        { id: 'mid', type: 'set', values: { x: '1' } },
        { id: 'two', type: 'http', url: `${upstream.url}/count/lease-{{instance.id}}-2` },
      ]);
      const instances = await Promise.all(Array.from({ length: 12 }, () => run(id)));
      left.start();
      right.start();
      for (const instance of instances) {
        const done = await until(instance.id, ['COMPLETED', 'FAILED']);
        expect(done.status).toBe('COMPLETED');
        expect(upstream.hits.get(`/count/lease-${instance.id}-1`)).toBe(1);
        expect(upstream.hits.get(`/count/lease-${instance.id}-2`)).toBe(1);
        expect((await logsOf(instance.id)).map((l) => l.stepId)).toEqual(['one', 'mid', 'two']);
      }
      // A held lease cannot be claimed by the other engine.
      const held = await run(await workflow([{ id: 'h', type: 'http', url: `${upstream.url}/hang/lease` }]));
      await upstream.waitForHeld('/hang/lease');
      const row = await ts.store.db
        .selectFrom('workflow_instances')
        .select('lease_owner')
        .where('id', '=', held.id)
        .executeTakeFirstOrThrow();
      expect([left.nodeId, right.nodeId]).toContain(row.lease_owner);
      // A background poll may still be finishing the tick that claimed it (tick() then returns
      // that tick's count); let it settle, so the ticks below are fresh claims that find nothing.
      await Promise.all([left.tick(), right.tick()]);
      expect(await left.tick()).toBe(0);
      expect(await right.tick()).toBe(0);
      upstream.release('/hang/lease');
      expect((await until(held.id, ['COMPLETED'])).status).toBe('COMPLETED');
    });
  });
}
