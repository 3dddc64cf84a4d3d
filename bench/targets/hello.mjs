/**
 * The bare-HTTP limit: fastify (the same version Gatehouse uses, resolved from the root
 * install) answering GET / with a small JSON body, on HELLO_WORKERS processes.
 */
import cluster from 'node:cluster';
import { createRequire } from 'node:module';
import { runClusterPrimary } from '../lib/cluster-primary.mjs';

const port = Number(process.env.PORT);
const workers = Number(process.env.HELLO_WORKERS ?? 1);

if (cluster.isPrimary && workers > 1) {
  runClusterPrimary({ name: 'hello', port, workers });
} else {
  // Gatehouse's own fastify (root node_modules), so the comparison is like for like.
  const require = createRequire(new URL('../../package.json', import.meta.url));
  const Fastify = require('fastify');
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
  if (cluster.isWorker) process.send?.('listening');
  else console.log(`hello listening on ${port}`);
}
