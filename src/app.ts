/**
 * buildApp(runtime) → a fastify instance with every route, not listening.
 * Tests call `app.inject()` or listen on port 0; `main.ts` listens.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import compress from '@fastify/compress';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { InvalidRequestError, isDatabaseDataException, serializeError, UnavailableError } from './errors.js';
import { addJsonBodyParser } from './json-body.js';
import { buildValidator, healthSchema, readySchema } from './schemas.js';
import type { Logger } from './logger.js';
import { metricsOfRoute, UNMATCHED_ROUTE } from './metrics.js';
import { accessLogFields, accessLogged, noteError, principalField } from './request-log.js';
import { adminRoutes } from './admin/index.js';
import { adminUiRoutes } from './admin-ui.js';
import { flushLastUse } from './background.js';
import { oauthRoutes } from './oauth/index.js';
import { drainUnreadBody } from './unread-body.js';
import { readinessCheck } from './readiness.js';
import { domoPeopleRoutes } from './api/domo/index.js';
import { datasetApiRoutes } from './api/datasets/index.js';
import { streamApiRoutes } from './api/streams/index.js';
import { workflowApiRoutes } from './api/workflows/index.js';
import { gatewayRoutes } from './api/gateway/index.js';
import { createGuard } from './guard/index.js';
import { registerOpenApi } from './openapi/index.js';
import type { Services } from './services/index.js';
import type { Store } from './store/index.js';
import { httpsServerFactory, type TlsMaterial } from './tls.js';

export interface AppOptions {
  config: Config;
  store: Store;
  services: Services;
  logger: Logger;
  /** When given, requests other than health checks get 503 until `readiness.ready` is true. */
  readiness?: { ready: boolean };
  /**
   * Called with the new instance before any hook or route is added (tests collect the routes
   * with an onRoute hook and check every response against its schema here).
   */
  instrument?: (app: App) => void;
  /** Serve HTTPS with this certificate and key (GATEHOUSE_TLS_CERT / GATEHOUSE_TLS_KEY) instead of HTTP. */
  tls?: TlsMaterial;
}

export type App = FastifyInstance;

const HEALTH_PATHS = new Set(['/healthz', '/readyz']);

/** An incoming X-Request-Id is honoured when it is 1–128 visible characters of the usual id alphabets. */
const ACCEPTED_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request's id: the caller's `X-Request-Id` when acceptable, else a random UUID. */
export function requestId(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { config, store, services, logger } = options;
  const readiness = options.readiness ?? { ready: true };
  const app = Fastify({
    ...(options.tls
      ? {
          serverFactory: httpsServerFactory(options.tls, (servername) =>
            services.domains.secureContextFor(servername),
          ) as never,
        }
      : {}),
    loggerInstance: logger as FastifyBaseLogger,
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
    logController: new Fastify.LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Unique across workers and nodes (fastify's default counts from 1 in every process);
    // a caller's or proxy's own X-Request-Id is kept when it looks like an id.
    requestIdHeader: false,
    genReqId: requestId,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
    schemaController: { compilersFactory: { buildValidator } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  options.instrument?.(app);
  app.decorateReply('sentError', null);
  app.decorateReply('callLogged', false);

  // HTTP metrics, labelled by route pattern: each route gets its own onResponse hook bound to its
  // counters, so a request costs no lookup by URL. Requests no route matched share one label.
  app.addHook('onRoute', (route) => {
    const metrics = metricsOfRoute(route.url);
    const existing = route.onResponse === undefined ? [] : [route.onResponse].flat();
    route.onResponse = [
      ...existing,
      (request, reply, done) => {
        metrics.record(request.method, reply.statusCode, reply.elapsedTime);
        done();
      },
    ];
  });
  const unmatched = metricsOfRoute(UNMATCHED_ROUTE);
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unmatched.record(request.method, reply.statusCode, reply.elapsedTime);
    done();
  });

  // Every JSON body (admin, OAuth and workflow routes alike) is depth-checked before it is parsed.
  addJsonBodyParser(app, config.maxJsonDepth);

  // The access-log line of a 4xx/5xx names the error the client got (noteError); a 5xx also gets
  // a line of its own at error level with the cause, which the client never sees.
  app.setErrorHandler((error, request, reply) => {
    const { status, headers, body } = serializeError(error);
    const message = 'message' in body ? body.message : body.error_description;
    noteError(reply, body.error, message);
    if (status >= 500) {
      request.log.error(
        {
          err: error,
          method: request.method,
          url: request.url.split('?')[0],
          status,
          error: body.error,
          message,
          principal: principalField(request),
        },
        'request failed',
      );
    } else if (status === 499 && logger.isLevelEnabled('info')) {
      // The client has gone, so no response will finish and the onResponse access-log hook will
      // not run: the access-log line is written here.
      request.log.info({ ...accessLogFields(request, reply), status }, 'request');
    } else if (isDatabaseDataException(error)) {
      request.log.warn(
        { err: error, url: request.url.split('?')[0], method: request.method },
        'a value reached the database unchecked',
      );
    }
    void reply.code(status).headers(headers).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const message = `No route for ${request.method} ${request.url.split('?')[0]}.`;
    noteError(reply, 'not_found', message);
    void reply.code(404).send({ error: 'not_found', message });
  });

  // Callback-style hooks: they run on every request, and a promise per hook is measurable there.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // PostgreSQL text cannot hold U+0000 (it answers with an error, not a miss), and no id, name
    // or filter of Gatehouse's has a use for it: refused here for every path and query parameter.
    if (request.url.includes('%00')) {
      done(
        new InvalidRequestError(
          'The URL contains a NUL character (%00), which no Gatehouse parameter accepts.',
        ),
      );
      return;
    }
    if (!readiness.ready && !HEALTH_PATHS.has(request.url.split('?')[0] ?? '')) {
      done(new UnavailableError('Gatehouse is starting (running migrations); try again shortly.'));
      return;
    }
    done();
  });
  // A body a route stopped reading (a refused upload) is drained after the answer, never left hanging.
  app.addHook('onSend', drainUnreadBody);
  // One access-log line per request at `info` (with the error and the principal, see request-log.ts),
  // but for a successful gateway call, which its call log records (`accessLogged`); below that level
  // the hook is not there at all.
  if (logger.isLevelEnabled('info')) {
    app.addHook('onResponse', (request, reply, done) => {
      if (accessLogged(reply)) request.log.info(accessLogFields(request, reply), 'request');
      done();
    });
  }

  // Compress JSON bodies for clients that accept it (Domo's token response is gzip-encoded).
  await app.register(compress, { global: true, threshold: 0, encodings: ['gzip', 'deflate'] });
  // Before every route: it documents the routes registered after it (GET /openapi.json, GET /docs).
  await registerOpenApi(app, config);

  app.get('/healthz', { schema: healthSchema }, async (_request, reply) => {
    try {
      await store.ping();
      return { status: 'ok' as const };
    } catch {
      noteError(reply, 'unavailable', 'The database does not answer.');
      return reply.code(503).send({ status: 'unavailable', message: 'The database does not answer.' });
    }
  });
  const checkReadiness = readinessCheck(store, services);
  app.get('/readyz', { schema: readySchema }, async (_request, reply) => {
    if (!readiness.ready) {
      noteError(reply, 'starting', 'Gatehouse is starting (running migrations).');
      return reply.code(503).send({ status: 'starting' });
    }
    const { ready, checks, message } = await checkReadiness();
    if (!ready) {
      noteError(reply, 'unavailable', message ?? 'A readiness check failed.');
      return reply.code(503).send({ status: 'unavailable', checks, message: message ?? '' });
    }
    return { status: 'ready' as const, checks };
  });

  // One guard (one resolver chain, one cache of live user facts) for every surface.
  const guard = createGuard(services);
  await app.register(adminRoutes, { prefix: '/api/admin/v1', services, config, guard });
  await app.register(oauthRoutes, { services, config });
  await app.register(workflowApiRoutes, { services, guard });
  await app.register(domoPeopleRoutes, { services, guard });
  await app.register(datasetApiRoutes, { services, guard });
  await app.register(streamApiRoutes, { services, guard });
  // The admin web UI (/ redirects to /admin); it uses the admin API above like any other client.
  await app.register(adminUiRoutes);
  // The API platform's proxy: a catch-all after every route of Gatehouse's own, which always win.
  await app.register(gatewayRoutes, { services, guard });
  // Last use of clients and developer tokens is written in batches; write what is pending before the store closes.
  app.addHook('onClose', () => flushLastUse(services));
  // So are the gateway's call logs: what is still in the buffer is written before the store closes.
  app.addHook('onClose', () =>
    services.callLogs.flush().catch((error: unknown) => {
      logger.warn({ err: error }, 'API platform call logs: could not write the last calls');
    }),
  );
  // DataSet query processes (SQLite) and connections (PostgreSQL) go with the app.
  app.addHook('onClose', async () => services.datasetQueries.close());

  return app;
}
