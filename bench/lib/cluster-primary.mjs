/**
 * The primary of a benchmark target on several processes (node:cluster): forks the workers,
 * prints "<name> listening on <port>" once every worker has said 'listening', and on
 * SIGTERM/SIGINT stops them all and exits 0.
 */
import cluster from 'node:cluster';

export function runClusterPrimary({ name, port, workers, env }) {
  let listening = 0;
  for (let i = 0; i < workers; i += 1) {
    cluster.fork(env).on('message', (message) => {
      if (message === 'listening' && ++listening === workers) console.log(`${name} listening on ${port}`);
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
}
