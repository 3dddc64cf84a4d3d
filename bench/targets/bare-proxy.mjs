/**
 * The gateway group's bare proxy: fastify + @fastify/reply-from (the versions Gatehouse uses,
 * from the root install) forwarding every path to UPSTREAM_URL with no checks at all, with the
 * undici pool settings of Gatehouse's gateway (UPSTREAM_POOL of src/api/gateway/forward.ts, from
 * the build in dist/), on PROXY_WORKERS processes.
 * What a proxy costs before any authentication, profile or policy: the gateway's yardstick.
 */
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { runClusterPrimary } from '../lib/cluster-primary.mjs';

const port = Number(process.env.PORT);
const workers = Number(process.env.PROXY_WORKERS ?? 1);
const upstream = process.env.UPSTREAM_URL;

if (cluster.isPrimary && workers > 1) {
  runClusterPrimary({ name: 'bare proxy', port, workers });
} else {
  const require = createRequire(new URL('../../package.json', import.meta.url));
  const Fastify = require('fastify');
  const replyFrom = require('@fastify/reply-from');
  const { UPSTREAM_POOL } = await import(new URL('../../dist/api/gateway/forward.js', import.meta.url).href);
  const app = Fastify({ logger: false });
  await app.register(replyFrom, {
    base: upstream,
    retryMethods: [],
    disableRequestLogging: true,
    undici: UPSTREAM_POOL,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  app.all('/*', (request, reply) => reply.from(request.raw.url));
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
  if (cluster.isWorker) process.send?.('listening');
  else console.log(`bare proxy listening on ${port}`);
}
