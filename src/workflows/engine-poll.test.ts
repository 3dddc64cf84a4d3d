/**
 * The engine's poll on both dialects: runs waiting on a delay are not claimed before they are
 * due, each is claimed once its due time has come, and queued runs are claimed in FIFO order
 * while others wait (the poll reads them from two partial indexes, migration 005).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../clock.js';
import { CLI_ACTOR } from '../services/context.js';
import type { Services } from '../services/index.js';
import { OPERATOR } from '../services/principal.js';
import { asPrincipal, testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { WorkflowEngine } from './engine.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`workflow engine poll (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let ownerId: number;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      ownerId = (
        await services.users.create({ email: 'owner@example.com', role: 'Editor' }, OPERATOR, CLI_ACTOR)
      ).id;
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    async function workflow(name: string, steps: unknown[]): Promise<string> {
      return (
        await services.workflows.create(
          { name, definition: { steps } },
          await asPrincipal(services, ownerId),
          CLI_ACTOR,
        )
      ).id;
    }
    const status = async (id: string) => (await services.workflows.getInstance(id, OPERATOR)).status;

    it('claims due runs when their time comes, never before, and queued runs first-in first-out meanwhile', async () => {
      // Ticked by hand: no timer, so every claim below is one this test asked for.
      const engine = new WorkflowEngine(services.ctx, {
        concurrency: 2,
        leaseMs: 60_000,
        sleep: async () => {},
      });
      services.workflows.attachEngine(engine);
      const waits: string[] = [];
      for (const seconds of [180, 60, 120]) {
        const id = await workflow(`wait ${seconds}`, [
          { id: 'wait', type: 'delay', seconds },
          { id: 'after', type: 'log', message: 'woke' },
        ]);
        waits.push((await services.workflows.start(id, { input: {} }, OPERATOR, CLI_ACTOR)).id);
        clock.advance(1);
      }
      // Each runs its delay step and lets go until its due time.
      while ((await engine.tick()) > 0) await engine.idle();
      await engine.idle();
      for (const id of waits) expect(await status(id)).toBe('IN_PROGRESS');
      expect(await engine.tick()).toBe(0);

      const quick = await workflow('quick', [{ id: 'hi', type: 'log', message: 'hi' }]);
      const queued: string[] = [];
      for (let i = 0; i < 3; i++) {
        queued.push((await services.workflows.start(quick, { input: {} }, OPERATOR, CLI_ACTOR)).id);
        clock.advance(1);
      }
      // Two slots: the two oldest queued runs, none of the waiting ones.
      expect(await engine.tick()).toBe(2);
      await engine.idle();
      expect(await Promise.all(queued.map(status))).toEqual(['COMPLETED', 'COMPLETED', 'QUEUED']);
      expect(await engine.tick()).toBe(1);
      await engine.idle();
      expect(await engine.tick()).toBe(0);

      // The delays began together (the clock stood still while they ran), 3 ms before the queued
      // runs were added. A millisecond before 60 s nothing is due; at 60 s exactly the 60 s wait is.
      clock.advance(60_000 - 4);
      expect(await engine.tick()).toBe(0);
      clock.advance(1);
      expect(await engine.tick()).toBe(1);
      await engine.idle();
      expect(await Promise.all(waits.map(status))).toEqual(['IN_PROGRESS', 'COMPLETED', 'IN_PROGRESS']);
      expect(await engine.tick()).toBe(0);
      clock.advance(60_000);
      expect(await engine.tick()).toBe(1);
      await engine.idle();
      expect(await Promise.all(waits.map(status))).toEqual(['IN_PROGRESS', 'COMPLETED', 'COMPLETED']);
      clock.advance(60_000);
      expect(await engine.tick()).toBe(1);
      await engine.idle();
      expect(await Promise.all(waits.map(status))).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
      expect(await engine.tick()).toBe(0);
      await engine.stop();
    });
  });
}
