/**
 * The gateway group's upstream: node:http answering every request with a small JSON body
 * (the method and path), on UPSTREAM_WORKERS processes (default 1). The cheapest service a
 * gateway could put itself in front of, so the proxies' own cost is what the group compares.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { runClusterPrimary } from '../lib/cluster-primary.mjs';

const port = Number(process.env.PORT);
const workers = Number(process.env.UPSTREAM_WORKERS ?? 1);

if (cluster.isPrimary && workers > 1) {
  runClusterPrimary({ name: 'upstream', port, workers });
} else {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ ok: true, method: req.method, path: req.url });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => {
    if (cluster.isWorker) process.send?.('listening');
    else console.log(`upstream listening on ${port}`);
  });
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
