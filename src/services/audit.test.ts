/**
 * The audit log's query, export and retention on both store dialects: every filter returns
 * what a plain filter-and-sort over all rows returns, cursors neither skip nor repeat rows
 * that share a timestamp, pruning removes exactly the events older than the retention.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { ManualClock } from '../clock.js';
import { type AuditEvent, type AuditQuery, AuditService } from './audit.js';
import type { Actor } from './context.js';

const ACTORS: Actor[] = [
  { type: 'user', userId: 7, label: 'alice@example.com' },
  { type: 'user', userId: 8, label: 'bob@example.com' },
  { type: 'client', clientId: '441e307a-b2a1-4c3d-8e9f-0123456789ab', userId: 9 },
  { type: 'cli' },
  { type: 'system' },
];
const ACTIONS = [
  'user.created',
  'user.updated',
  'role.created',
  'api_client.created',
  'workflow.run.started',
  'workflow.updated',
  'key.rotated',
];
const TARGETS = [
  { type: 'user', id: 7 },
  { type: 'role', id: 3 },
  { type: 'api_client', id: 'c1' },
  undefined,
];

/** The reference: every row, filtered in plain code, newest first by (time, id). */
function reference(all: AuditEvent[], q: AuditQuery): number[] {
  const prefix = q.action?.endsWith('.*')
    ? q.action.slice(0, -1)
    : q.action?.endsWith('.')
      ? q.action
      : undefined;
  return all
    .filter((e) => q.from === undefined || e.occurredAt >= new Date(q.from).toISOString())
    .filter((e) => q.to === undefined || e.occurredAt < new Date(q.to).toISOString())
    .filter((e) => q.actorType === undefined || e.actor.type === q.actorType)
    .filter((e) => q.actorId === undefined || e.actor.id === q.actorId)
    .filter((e) => q.action === undefined || (prefix ? e.action.startsWith(prefix) : e.action === q.action))
    .filter((e) => q.targetType === undefined || e.target?.type === q.targetType)
    .filter((e) => q.targetId === undefined || e.target?.id === q.targetId)
    .sort((a, b) => (a.occurredAt === b.occurredAt ? b.id - a.id : a.occurredAt < b.occurredAt ? 1 : -1))
    .map((e) => e.id);
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`audit log (${dialect.name})`, () => {
    let ts: TestStore;
    let clock: ManualClock;
    let audit: AuditService;
    let all: AuditEvent[];

    /** Every page of a query, following nextCursor. */
    async function everyPage(q: AuditQuery, limit: number): Promise<number[]> {
      const ids: number[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 1000; pages++) {
        const page = await audit.query({ ...q, limit, cursor });
        ids.push(...page.items.map((e) => e.id));
        if (page.nextCursor === null) return ids;
        expect(page.items).toHaveLength(limit);
        cursor = page.nextCursor;
      }
      throw new Error('too many pages');
    }

    beforeAll(async () => {
      ts = await dialect.open();
      clock = new ManualClock('2026-03-01T00:00:00.000Z');
      audit = new AuditService(ts.store, clock);
      // 120 events, four to a millisecond, so many page boundaries fall inside a run of equal times;
      // event 60 is written with the clock set back an hour (a node whose clock lags), so time
      // order and insertion order differ.
      for (let i = 0; i < 120; i++) {
        if (i % 4 === 0) clock.advance(1);
        if (i === 60) clock.advance(-3_600_000);
        await audit.record(ts.store.db, {
          actor: ACTORS[i % ACTORS.length]!,
          action: ACTIONS[(i * 3) % ACTIONS.length]!,
          target: TARGETS[i % TARGETS.length],
          details: { i },
        });
        if (i === 60) clock.advance(3_600_000);
      }
      all = (await audit.query({ limit: 200 })).items;
      expect(all).toHaveLength(120);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('pages newest first by time, then id, with no duplicate and no gap across equal timestamps', async () => {
      const everything = reference(all, {});
      expect(all.map((e) => e.id)).toEqual(everything);
      // The lagging event sorts by its time, not its id.
      const lagging = all.find((e) => e.details.i === 60)!;
      expect(all.indexOf(lagging)).toBe(119);
      for (const limit of [1, 3, 4, 7, 50]) {
        expect(await everyPage({}, limit)).toEqual(everything);
      }
    });

    it('every filter returns the rows a straightforward filter over all events returns, in order', async () => {
      const mid = all[60]!.occurredAt;
      const queries: AuditQuery[] = [
        { from: mid },
        { to: mid },
        { from: all[100]!.occurredAt, to: all[20]!.occurredAt },
        { from: '2026-03-01', to: '2026-03-02T00:00:00Z' },
        { actorType: 'user' },
        { actorType: 'cli' },
        { actorType: 'client' },
        { actorType: 'user', actorId: '8' },
        { actorId: '7' },
        { actorType: 'client', actorId: '441e307a-b2a1-4c3d-8e9f-0123456789ab' },
        { action: 'user.*' },
        { action: 'user.' },
        { action: 'workflow.*' },
        { action: 'workflow.run.*' },
        { action: 'role.created' },
        { action: 'role' },
        { action: 'nothing.*' },
        { targetType: 'role' },
        { targetType: 'user', targetId: '7' },
        { targetId: 'c1' },
        { actorType: 'user', action: 'user.*', from: mid },
        { actorType: 'system', targetType: 'api_client', to: mid },
      ];
      for (const q of queries) {
        const expected = reference(all, q);
        expect({ q, ids: await everyPage(q, 5) }).toEqual({ q, ids: expected });
      }
      // The families the data has are not empty, so the comparison above means something.
      expect(reference(all, { action: 'workflow.run.*' }).length).toBeGreaterThan(0);
      expect(reference(all, { actorType: 'cli' }).length).toBeGreaterThan(0);
    });

    it('answers a cursor it did not issue, or a bad time, with 400', async () => {
      for (const cursor of [
        'nope',
        Buffer.from('42').toString('base64url'),
        Buffer.from('["x"]').toString('base64url'),
      ]) {
        await expect(audit.query({ cursor })).rejects.toMatchObject({
          status: 400,
          message: '"cursor" is not a cursor this list returned.',
        });
      }
      await expect(audit.query({ from: 'yesterday' })).rejects.toMatchObject({
        status: 400,
        message: '"from" must be an ISO-8601 time such as 2026-01-31T12:00:00Z.',
      });
    });

    it('exports oldest first within [since, until), across batch boundaries', async () => {
      const ascending = [...reference(all, {})].reverse();
      const exported: AuditEvent[] = [];
      for await (const event of audit.export({}, 7)) exported.push(event);
      expect(exported.map((e) => e.id)).toEqual(ascending);
      expect(exported[0]).toEqual(all.find((e) => e.id === ascending[0]));
      const since = all[90]!.occurredAt;
      const until = all[10]!.occurredAt;
      const window: number[] = [];
      for await (const event of audit.export({ since, until }, 4)) window.push(event.id);
      expect(window).toEqual([...reference(all, { from: since, to: until })].reverse());
      expect(window.length).toBeGreaterThan(0);
    });
  });

  describe.skipIf(dialect.skip)(`audit retention (${dialect.name})`, () => {
    let ts: TestStore;
    beforeAll(async () => {
      ts = await dialect.open();
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('prunes exactly the events older than N days, in batches; 0 keeps everything', async () => {
      const clock = new ManualClock('2026-03-01T00:00:00.000Z');
      const audit = new AuditService(ts.store, clock);
      const now = clock.now().getTime();
      const cutoff = now - 30 * 86_400_000;
      const times = [
        cutoff - 86_400_000,
        cutoff - 2,
        cutoff - 1,
        cutoff - 1,
        cutoff - 1,
        cutoff,
        cutoff + 1,
        now,
      ];
      for (const [i, time] of times.entries()) {
        clock.set(new Date(time));
        await audit.record(ts.store.db, { actor: { type: 'system' }, action: 'key.rotated', details: { i } });
      }
      clock.set(new Date(now));
      const remaining = async () =>
        (await audit.query({ limit: 200 })).items.map((e) => e.details.i as number).sort((a, b) => a - b);

      expect(await audit.prune(0)).toBe(0);
      expect(await remaining()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      // Five events are older than 30 days; batches of 2 take three statements.
      expect(await audit.prune(30, { batchSize: 2 })).toBe(5);
      expect(await remaining()).toEqual([5, 6, 7]);
      expect(await audit.prune(30, { batchSize: 2 })).toBe(0);
      // A day later the one written exactly at the cutoff and the one a millisecond after are older too.
      clock.advance(86_400_000);
      expect(await audit.prune(30)).toBe(2);
      expect(await remaining()).toEqual([7]);
    });
  });
}
