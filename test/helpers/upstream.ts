/**
 * A real local HTTP server for workflow `http` steps: counts hits per path,
 * echoes requests, fails on demand, redirects, and holds requests until released.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  /** `127.0.0.1:<port>` */
  host: string;
  url: string;
  /** Hits per path (without query). */
  hits: Map<string, number>;
  /** Resolves when a request for `path` is being held (GET /hang/…). */
  waitForHeld(path: string): Promise<{ closed: Promise<void> }>;
  /** Answers every held request for `path` with 200 {released: path}. */
  release(path: string): void;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const hits = new Map<string, number>();
  const held = new Map<string, http.ServerResponse[]>();
  const waiters = new Map<string, Array<(value: { closed: Promise<void> }) => void>>();
  const closedOf = new WeakMap<http.ServerResponse, Promise<void>>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      if (path.startsWith('/echo')) {
        return json(200, {
          method: req.method,
          path,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body,
        });
      }
      if (path.startsWith('/status/'))
        return json(Number(path.split('/')[2]), { status: Number(path.split('/')[2]) });
      if (path.startsWith('/flaky/')) {
        const failures = Number(url.searchParams.get('fail') ?? '1');
        return (hits.get(path) ?? 0) <= failures
          ? json(503, { error: 'try again' })
          : json(200, { ok: true, attempts: hits.get(path) });
      }
      if (path.startsWith('/redirect')) {
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/echo' });
        return res.end();
      }
      if (path.startsWith('/hang/')) {
        const list = held.get(path) ?? [];
        list.push(res);
        held.set(path, list);
        const closed = new Promise<void>((resolve) => res.on('close', () => resolve()));
        closedOf.set(res, closed);
        for (const resolve of waiters.get(path) ?? []) resolve({ closed });
        waiters.delete(path);
        return;
      }
      return json(200, { path, hit: hits.get(path) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    hits,
    waitForHeld(path) {
      const open = (held.get(path) ?? []).find((r) => !r.writableEnded && !r.destroyed);
      if (open) return Promise.resolve({ closed: closedOf.get(open)! });
      return new Promise((resolve) => {
        const list = waiters.get(path) ?? [];
        list.push(resolve);
        waiters.set(path, list);
      });
    },
    release(path) {
      for (const res of held.get(path) ?? []) {
        if (res.writableEnded || res.destroyed) continue;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ released: path }));
      }
      held.delete(path);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
