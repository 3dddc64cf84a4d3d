/**
 * The metrics listener: GET/HEAD /metrics in the Prometheus text format, 405 for other methods
 * there, 404 JSON anywhere else; off when the port is null; a taken port is a warning, not a
 * failed start; a non-loopback address is a warning.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { type MetricsListener, startMetricsListener } from './metrics-server.js';
import { processMetricsSource, registry } from './metrics.js';

function capture() {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return {
    log: createLogger('info', sink),
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function request(url: string, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.request(url, { method, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

describe('metrics listener', () => {
  const opened: MetricsListener[] = [];
  const blockers: http.Server[] = [];
  afterEach(async () => {
    for (const listener of opened.splice(0)) await listener.close();
    for (const server of blockers.splice(0)) await new Promise((resolve) => server.close(resolve));
  });

  it('answers GET /metrics with the registry in the Prometheus text format, and nothing else', async () => {
    const { log, lines } = capture();
    const listener = await startMetricsListener(
      { port: 0, host: '127.0.0.1', source: processMetricsSource() },
      log,
    );
    expect(listener).toBeDefined();
    opened.push(listener!);
    expect(listener!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(lines()).toEqual([
      expect.objectContaining({ level: 30, msg: 'metrics listening', url: listener!.url }),
    ]);

    const scrape = await request(listener!.url);
    expect(scrape.status).toBe(200);
    expect(scrape.headers['content-type']).toBe(registry.contentType);
    expect(scrape.headers['cache-control']).toBe('no-store');
    expect(scrape.body).toContain('# TYPE gatehouse_http_requests_total counter');
    expect(scrape.body).toContain('gatehouse_client_auth_failures_total{cause="wrong_secret"}');

    const head = await request(listener!.url, 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);

    const post = await request(listener!.url, 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(post.body)).toEqual({
      error: 'method_not_allowed',
      message: '/metrics answers GET only.',
    });

    const other = await request(listener!.url.replace('/metrics', '/healthz?x=1'));
    expect(other.status).toBe(404);
    expect(other.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(other.body)).toEqual({
      error: 'not_found',
      message: 'No route for GET /healthz; this listener serves only GET /metrics.',
    });
  });

  it('is not started when the port is off', async () => {
    const { log, lines } = capture();
    expect(
      await startMetricsListener({ port: null, host: '127.0.0.1', source: processMetricsSource() }, log),
    ).toBeUndefined();
    expect(lines()).toEqual([]);
  });

  it('a taken port is a warning and no listener, not an error', async () => {
    const blocker = http.createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const { log, lines } = capture();
    expect(
      await startMetricsListener({ port, host: '127.0.0.1', source: processMetricsSource() }, log),
    ).toBeUndefined();
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 40,
        host: '127.0.0.1',
        port,
        code: 'EADDRINUSE',
        msg: 'the metrics port is not available; serving without metrics (set GATEHOUSE_METRICS_PORT to a free port, or off)',
      }),
    ]);
  });

  it('warns when bound to a non-loopback address', async () => {
    const { log, lines } = capture();
    const listener = await startMetricsListener(
      { port: 0, host: '0.0.0.0', source: processMetricsSource() },
      log,
    );
    opened.push(listener!);
    expect(lines()[0]).toMatchObject({
      level: 40,
      host: '0.0.0.0',
      msg: 'the metrics listener (no authentication) is bound to a non-loopback address; make sure only your Prometheus can reach it',
    });
  });
});
