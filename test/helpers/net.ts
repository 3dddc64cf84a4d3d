/** Network helpers for tests that start a real listener or child process. */
import http from 'node:http';
import net from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server whose URL must be
 * known before it starts (a child process, or an issuer URL in the config).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface FreshAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * One request with a JSON answer on a fresh connection (no keep-alive), so a cluster may hand
 * it to either worker.
 */
export function requestOnFreshConnection(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<FreshAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers,
        agent: false,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}
