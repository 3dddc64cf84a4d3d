import { describe, expect, it } from 'vitest';
import { connectionOptions, upstreamTarget } from './forward.js';

describe('upstreamTarget', () => {
  it('puts the call after the upstream URL’s base path, with the origin and Host apart', () => {
    expect(upstreamTarget('http://10.0.0.5:8080/base', '/o/7/42?x=1')).toEqual({
      base: { origin: 'http://10.0.0.5:8080', host: '10.0.0.5:8080', basePath: '/base' },
      path: '/base/o/7/42?x=1',
    });
    expect(upstreamTarget('https://api.example.com/', '/items')).toEqual({
      base: { origin: 'https://api.example.com', host: 'api.example.com', basePath: '' },
      path: '/items',
    });
    expect(upstreamTarget('https://api.example.com:443', '/')).toMatchObject({
      base: { host: 'api.example.com' },
      path: '/',
    });
  });

  it('keeps escapes as they came and escapes what URL parsing would', () => {
    expect(upstreamTarget('http://u', '/a%2Fb?y=%C3%A9&z=a+b').path).toBe('/a%2Fb?y=%C3%A9&z=a+b');
    // As WHATWG URL parsing does (and @fastify/reply-from did): a quote is escaped in the path and
    // the query, a brace only in the path.
    expect(upstreamTarget('http://u', '/say/"{hi}"?q="{x}"').path).toBe('/say/%22%7Bhi%7D%22?q=%22{x}%22');
  });
});

describe('connectionOptions', () => {
  it('lists the header names a Connection header names, not its close and keep-alive', () => {
    expect(connectionOptions(undefined)).toEqual([]);
    expect(connectionOptions('keep-alive')).toEqual([]);
    expect(connectionOptions('Keep-Alive, X-Drop-Me ,close,,x-other')).toEqual(['x-drop-me', 'x-other']);
    expect(connectionOptions(['x-a', 'X-B'])).toEqual(['x-a', 'x-b']);
  });
});
