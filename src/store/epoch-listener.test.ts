import { describe, expect, it } from 'vitest';
import { notifyPayloadTail, parseNotifyPayload } from './epoch-listener.js';

describe('cache-epoch NOTIFY payloads', () => {
  it('carry the bump time on the origin, for the invalidation-lag metric', () => {
    const tail = notifyPayloadTail('a1b2c3d4e5f60718', ['clients', 'keys'], 1_767_000_000_123);
    expect(tail).toBe('|a1b2c3d4e5f60718@1767000000123|clients,keys');
    expect(parseNotifyPayload(`tenant_a${tail}`)).toEqual({
      schema: 'tenant_a',
      origin: 'a1b2c3d4e5f60718',
      names: ['clients', 'keys'],
      bumpedAt: 1_767_000_000_123,
    });
  });

  it('still read a payload without a time (a node of an earlier version)', () => {
    expect(parseNotifyPayload('public|a1b2c3d4e5f60718|users')).toEqual({
      schema: 'public',
      origin: 'a1b2c3d4e5f60718',
      names: ['users'],
    });
    expect(parseNotifyPayload('no separators')).toBeUndefined();
  });
});
