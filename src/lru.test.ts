import { describe, expect, it } from 'vitest';
import { Lru, MISSING } from './lru.js';

describe('Lru', () => {
  it('drops the least recently used entry past its size, counting a read as a use', () => {
    const lru = new Lru<string, number>(3);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('c', 3);
    expect(lru.get('a')).toBe(1);
    lru.set('d', 4);
    expect([...lru.keys()]).toEqual(['c', 'a', 'd']);
    expect(lru.has('b')).toBe(false);
    lru.set('c', 30);
    lru.set('e', 5);
    expect([...lru.keys()]).toEqual(['d', 'c', 'e']);
    expect(lru.get('c')).toBe(30);
    expect(lru.size).toBe(3);
  });

  it('keeps null values apart from missing keys', () => {
    const lru = new Lru<string, number | null>(2);
    lru.set('none', null);
    expect(lru.get('none')).toBeNull();
    expect(lru.get('missing')).toBeUndefined();
    expect(lru.has('none')).toBe(true);
    const maybe = new Lru<string, number | undefined>(2);
    maybe.set('unset', undefined);
    expect(maybe.lookup('unset')).toBeUndefined();
    expect(maybe.lookup('missing')).toBe(MISSING);
    expect(lru.lookup('none')).toBeNull();
  });

  it('refuses a size below one', () => {
    expect(() => new Lru(0)).toThrow(RangeError);
    expect(() => new Lru(1.5)).toThrow(RangeError);
  });
});
