/** Network helpers for tests that start a real listener or child process. */
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
