import { describe, expect, it } from 'vitest';
import { MAX_KEYED_TAIL, notifyPayloadTail, parseNotifyPayload } from './epoch-listener.js';

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

  it('carry the keys of a keyed change after its plain name, which an earlier version drops whole', () => {
    const change = { name: 'clients', from: 4, to: 5, keys: ['0f1e2d3c-aaaa-4bbb-8ccc-000000000001'] };
    const tail = notifyPayloadTail('a1b2c3d4e5f60718', ['clients'], 1_767_000_000_123, [change]);
    expect(tail).toBe(
      '|a1b2c3d4e5f60718@1767000000123|clients,clients:4:5:0f1e2d3c-aaaa-4bbb-8ccc-000000000001',
    );
    expect(parseNotifyPayload(`public${tail}`)).toEqual({
      schema: 'public',
      origin: 'a1b2c3d4e5f60718',
      names: ['clients'],
      bumpedAt: 1_767_000_000_123,
      keyed: [change],
    });
    // What an earlier version reads: `clients` (dropped) and a name no cache has.
    expect(tail.slice(tail.lastIndexOf('|') + 1).split(',')[0]).toBe('clients');
  });

  it('leave the keys out when one cannot travel or the payload would be too long; read a garbled keyed entry as its name', () => {
    const plain = '|o@1|clients';
    expect(notifyPayloadTail('o', ['clients'], 1, [{ name: 'clients', from: 1, to: 2, keys: ['a,b'] }])).toBe(
      plain,
    );
    const many = Array.from({ length: MAX_KEYED_TAIL / 4 }, (_, i) => `key-${i}`);
    expect(notifyPayloadTail('o', ['clients'], 1, [{ name: 'clients', from: 1, to: 2, keys: many }])).toBe(
      plain,
    );
    expect(parseNotifyPayload('public|o@1|clients,clients:x:2:a')).toEqual({
      schema: 'public',
      origin: 'o',
      names: ['clients'],
      bumpedAt: 1,
    });
  });
});
