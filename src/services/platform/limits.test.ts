/**
 * The policy windows (UTC, aligned, the same on every node) and the whole seconds the headers
 * carry: month ends of 28, 29, 30 and 31 days, the year's end, a day's last millisecond, and
 * the second and minute boundaries.
 */
import { describe, expect, it } from 'vitest';
import { secondsUntil, windowOf } from './limits.js';

const at = (iso: string) => new Date(iso).getTime();
const iso = (w: { start: number; end: number }) => ({
  start: new Date(w.start).toISOString(),
  end: new Date(w.end).toISOString(),
});

describe('windowOf', () => {
  it('months are UTC calendar months, whatever their length', () => {
    expect(iso(windowOf('month', at('2026-02-14T09:30:00.000Z')))).toEqual({
      start: '2026-02-01T00:00:00.000Z',
      end: '2026-03-01T00:00:00.000Z',
    });
    expect(iso(windowOf('month', at('2028-02-29T23:59:59.999Z')))).toEqual({
      start: '2028-02-01T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
    });
    expect(iso(windowOf('month', at('2026-04-30T12:00:00.000Z')))).toEqual({
      start: '2026-04-01T00:00:00.000Z',
      end: '2026-05-01T00:00:00.000Z',
    });
    expect(iso(windowOf('month', at('2026-12-31T23:59:59.999Z')))).toEqual({
      start: '2026-12-01T00:00:00.000Z',
      end: '2027-01-01T00:00:00.000Z',
    });
    // The first millisecond of a month is in that month, not the one before.
    expect(iso(windowOf('month', at('2027-01-01T00:00:00.000Z')))).toEqual({
      start: '2027-01-01T00:00:00.000Z',
      end: '2027-02-01T00:00:00.000Z',
    });
  });

  it('days are UTC calendar days', () => {
    expect(iso(windowOf('day', at('2026-03-31T23:59:59.999Z')))).toEqual({
      start: '2026-03-31T00:00:00.000Z',
      end: '2026-04-01T00:00:00.000Z',
    });
    expect(iso(windowOf('day', at('2026-04-01T00:00:00.000Z')))).toEqual({
      start: '2026-04-01T00:00:00.000Z',
      end: '2026-04-02T00:00:00.000Z',
    });
    expect(iso(windowOf('day', at('2028-02-28T10:00:00.000Z'))).end).toBe('2028-02-29T00:00:00.000Z');
  });

  it('seconds and minutes start on whole seconds and minutes', () => {
    expect(iso(windowOf('second', at('2026-03-01T12:00:07.999Z')))).toEqual({
      start: '2026-03-01T12:00:07.000Z',
      end: '2026-03-01T12:00:08.000Z',
    });
    expect(iso(windowOf('minute', at('2026-03-01T12:59:59.999Z')))).toEqual({
      start: '2026-03-01T12:59:00.000Z',
      end: '2026-03-01T13:00:00.000Z',
    });
    expect(iso(windowOf('minute', at('2026-03-01T13:00:00.000Z'))).start).toBe('2026-03-01T13:00:00.000Z');
  });
});

describe('secondsUntil (Retry-After, RateLimit-Reset)', () => {
  it('rounds up to whole seconds and is never 0', () => {
    const now = at('2026-03-31T23:58:10.250Z');
    expect(secondsUntil(windowOf('day', now).end, now)).toBe(110);
    expect(secondsUntil(windowOf('minute', now).end, now)).toBe(50);
    expect(secondsUntil(windowOf('second', now).end, now)).toBe(1);
    expect(secondsUntil(now, now)).toBe(1);
    expect(secondsUntil(windowOf('month', now).end, now)).toBe(110);
  });
});
