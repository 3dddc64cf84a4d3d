/**
 * The metrics listener: `GET /metrics` in the Prometheus text format on a port of its own
 * (GATEHOUSE_METRICS_PORT, bound to GATEHOUSE_METRICS_HOST, loopback by default), and nothing
 * else. It is served by the process that sees the whole node: the single serving process, or
 * the cluster primary, which collects every worker's metrics per scrape and adds them up.
 *
 * Why a listener of its own rather than a route of the main app: the scraper needs no
 * credential (Prometheus' usual setup), the main port can face the internet while this one
 * stays on loopback or an internal interface, and the OpenAPI document stays about the API.
 *
 * A port already in use is a warning, not a failed start: Gatehouse serves without metrics
 * rather than not at all (and several instances on one machine do not trip over each other).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopback } from './config.js';
import type { Logger } from './logger.js';
import type { MetricsSource } from './metrics.js';

export const METRICS_PATH = '/metrics';

export interface MetricsListener {
  /** `http://host:port/metrics`. */
  readonly url: string;
  close(): Promise<void>;
}

function sendJson(
  response: http.ServerResponse,
  status: number,
  body: object,
  headers: http.OutgoingHttpHeaders = {},
) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** The request handler: /metrics for GET and HEAD, 405 for other methods there, 404 JSON elsewhere. */
export function metricsHandler(source: MetricsSource, log: Pick<Logger, 'warn'>) {
  return (request: http.IncomingMessage, response: http.ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== METRICS_PATH) {
      sendJson(response, 404, {
        error: 'not_found',
        message: `No route for ${request.method} ${path}; this listener serves only GET ${METRICS_PATH}.`,
      });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(
        response,
        405,
        { error: 'method_not_allowed', message: `${METRICS_PATH} answers GET only.` },
        { allow: 'GET, HEAD' },
      );
      return;
    }
    source.metrics().then(
      (text) => {
        response.writeHead(200, {
          'content-type': source.contentType,
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        log.warn({ err: error }, 'could not collect the metrics');
        sendJson(response, 503, {
          error: 'unavailable',
          message: 'The metrics could not be collected (a worker did not answer in time); try again.',
        });
      },
    );
  };
}

/**
 * Starts the metrics listener, or returns undefined when it is off (port null) or its port is
 * taken (logged as a warning).
 */
export async function startMetricsListener(
  options: { port: number | null; host: string; source: MetricsSource },
  log: Logger,
): Promise<MetricsListener | undefined> {
  const { port, host, source } = options;
  if (port === null) return undefined;
  if (!isLoopback(host)) {
    log.warn(
      { host, port },
      'the metrics listener (no authentication) is bound to a non-loopback address; make sure only your Prometheus can reach it',
    );
  }
  const server = http.createServer(metricsHandler(source, log));
  server.keepAliveTimeout = 65_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      log.warn(
        { host, port, code },
        'the metrics port is not available; serving without metrics (set GATEHOUSE_METRICS_PORT to a free port, or off)',
      );
      return undefined;
    }
    throw error;
  }
  // A stray error after listening (none expected) must not crash the server.
  server.on('error', (error) => log.warn({ err: error }, 'metrics listener error'));
  const address = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}${METRICS_PATH}`;
  log.info({ url }, 'metrics listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
