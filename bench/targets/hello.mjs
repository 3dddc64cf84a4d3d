/**
 * The bare-HTTP limit: fastify (the same version Gatehouse uses, resolved from the root
 * install) answering GET / with a small JSON body, on HELLO_WORKERS processes.
 */
import cluster from 'node:cluster';
import { createRequire } from 'node:module';

const port = Number(process.env.PORT);
const workers = Number(process.env.HELLO_WORKERS ?? 1);

if (cluster.isPrimary && workers > 1) {
  let listening = 0;
  for (let i = 0; i < workers; i += 1) {
    cluster.fork().on('message', (message) => {
      if (message === 'listening' && ++listening === workers) console.log(`hello listening on ${port}`);
    });
  }
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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
