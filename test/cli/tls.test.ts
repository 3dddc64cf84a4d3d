/**
 * HTTPS: `gatehouse tls self-signed` writes a usable development pair; `gatehouse serve` with
 * GATEHOUSE_TLS_CERT/_KEY answers over TLS (one process and a 2-worker cluster), says https in
 * its issuer, and on SIGHUP serves a renewed certificate to new connections while a connection
 * opened before keeps working; unusable files stop the start with one line naming the variable.
 * A custom domain registered through the CLI while serving gets its own certificate by SNI on
 * every worker (the cache-epoch poll), and keeps it across a SIGHUP reload of the default pair.
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CLI_TEST_TIMEOUT, runBuiltCli, type ServedCluster, startServe } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

interface TlsAnswer {
  status: number;
  body: string;
  /** SHA-256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

/** An HTTP/1.1 exchange on an open TLS socket (keep-alive), trusting only `ca`. */
function exchange(
  socket: tls.TLSSocket,
  requestPath: string,
  host = 'localhost',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const onData = (chunk: Buffer) => {
      raw += chunk.toString('utf8');
      const end = raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(raw.slice(0, end))?.[1] ?? 0);
      if (raw.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve({ status: Number(raw.slice(9, 12)), body: raw.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${requestPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

function connect(port: number, ca: Buffer, servername = 'localhost'): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** GET on a fresh TLS connection to `servername` (SNI and Host), verifying the server against `ca` only. */
async function freshGet(
  port: number,
  ca: Buffer,
  requestPath: string,
  servername = 'localhost',
): Promise<TlsAnswer> {
  const socket = await connect(port, ca, servername);
  try {
    const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
    return { ...(await exchange(socket, requestPath, servername)), fingerprint };
  } finally {
    socket.destroy();
  }
}

describe('HTTPS', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-tls-'));
  const certs = path.join(dir, 'certs');
  const certFile = path.join(certs, 'cert.pem');
  const keyFile = path.join(certs, 'key.pem');

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('gatehouse tls self-signed', () => {
    it(
      'writes cert.pem and a 0600 key.pem for the hosts, and refuses to overwrite them without --force',
      async () => {
        const made = await runBuiltCli(['tls', 'self-signed', '--out', certs, '--host', 'localhost'], {});
        expect(made.stderr).toBe('');
        expect(made.code).toBe(0);
        expect(made.stdout).toContain(`GATEHOUSE_TLS_CERT=${certFile} GATEHOUSE_TLS_KEY=${keyFile}`);
        expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
        const certificate = new X509Certificate(fs.readFileSync(certFile));
        expect(certificate.subjectAltName).toBe(
          'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
        );
        expect(
          certificate.checkPrivateKey(
            await import('node:crypto').then((c) => c.createPrivateKey(fs.readFileSync(keyFile))),
          ),
        ).toBe(true);
        expect(made.stdout).toContain(certificate.fingerprint256);

        const again = await runBuiltCli(['tls', 'self-signed', '--out', certs], {});
        expect(again.code).toBe(1);
        expect(again.stderr).toBe(`gatehouse: ${certFile} exists; pass --force to replace it.\n`);
        expect(new X509Certificate(fs.readFileSync(certFile)).fingerprint256).toBe(
          certificate.fingerprint256,
        );

        const badDays = await runBuiltCli(['tls', 'self-signed', '--out', certs, '--days', '0'], {});
        expect(badDays.code).toBe(2);
        expect(badDays.stderr).toContain('Must be a whole number of days from 1 to 825.');
        const badHost = await runBuiltCli(['tls', 'self-signed', '--out', certs, '--host', 'not a host'], {});
        expect(badHost.code).toBe(2);
        expect(badHost.stderr).toContain('"not a host" is not a host name or IP address.');
      },
      CLI_TEST_TIMEOUT,
    );
  });

  describe('gatehouse serve with GATEHOUSE_TLS_CERT/_KEY', () => {
    it(
      'refuses to start, naming the variable, when a file is missing, unreadable or the key does not match',
      async () => {
        const other = path.join(dir, 'other');
        await runBuiltCli(['tls', 'self-signed', '--out', other], {});
        const base = { GATEHOUSE_DATA_DIR: path.join(dir, 'refused'), PORT: '0', GATEHOUSE_WORKERS: '1' };
        const cases: Array<[Record<string, string>, string]> = [
          [{ GATEHOUSE_TLS_CERT: certFile }, 'GATEHOUSE_TLS_KEY: must be set with GATEHOUSE_TLS_CERT'],
          [
            { GATEHOUSE_TLS_CERT: path.join(dir, 'missing.pem'), GATEHOUSE_TLS_KEY: keyFile },
            `GATEHOUSE_TLS_CERT: cannot read ${path.join(dir, 'missing.pem')} (ENOENT)`,
          ],
          [
            { GATEHOUSE_TLS_CERT: keyFile, GATEHOUSE_TLS_KEY: keyFile },
            `GATEHOUSE_TLS_CERT: ${keyFile} does not hold a PEM certificate`,
          ],
          [
            { GATEHOUSE_TLS_CERT: certFile, GATEHOUSE_TLS_KEY: path.join(other, 'key.pem') },
            `GATEHOUSE_TLS_KEY: ${path.join(other, 'key.pem')} is not the private key of ${certFile}`,
          ],
        ];
        for (const [env, message] of cases) {
          const result = await runBuiltCli(['serve'], { ...base, ...env });
          expect(result.code, result.stderr).toBe(1);
          expect(result.stderr).toContain(`gatehouse: configuration error: ${message}`);
        }
      },
      CLI_TEST_TIMEOUT,
    );

    for (const workers of ['1', '2']) {
      describe(`${workers === '1' ? 'one process' : 'two workers'}`, () => {
        let server: ServedCluster;
        let port: number;
        const serverCerts = path.join(dir, `serve-${workers}`);
        const serverCert = path.join(serverCerts, 'cert.pem');
        const serverKey = path.join(serverCerts, 'key.pem');

        beforeAll(async () => {
          await runBuiltCli(['tls', 'self-signed', '--out', serverCerts], {});
          port = await freePort();
          server = await startServe({
            GATEHOUSE_DATA_DIR: path.join(dir, `data-${workers}`),
            PORT: String(port),
            GATEHOUSE_WORKERS: workers,
            GATEHOUSE_TLS_CERT: serverCert,
            GATEHOUSE_TLS_KEY: serverKey,
          });
        }, CLI_TEST_TIMEOUT);
        afterAll(async () => {
          await server?.stop();
        });

        it(
          'answers over TLS with an https issuer, and serves a renewed certificate after SIGHUP without dropping an open connection',
          async () => {
            const firstCa = fs.readFileSync(serverCert);
            const first = new X509Certificate(firstCa).fingerprint256;
            const health = await freshGet(port, firstCa, '/healthz');
            expect(health).toEqual({ status: 200, body: '{"status":"ok"}', fingerprint: first });
            const metadata = await freshGet(port, firstCa, '/.well-known/oauth-authorization-server');
            expect(JSON.parse(metadata.body).issuer).toBe(`https://localhost:${port}`);
            expect(server.output()).toContain(`"url":"https://127.0.0.1:${port}"`);

            const open = await connect(port, firstCa);
            expect((await exchange(open, '/healthz')).status).toBe(200);

            await runBuiltCli(
              ['tls', 'self-signed', '--out', serverCerts, '--host', 'localhost', '--force'],
              {},
            );
            const renewedCa = fs.readFileSync(serverCert);
            const renewed = new X509Certificate(renewedCa).fingerprint256;
            expect(renewed).not.toBe(first);
            server.child.kill('SIGHUP');

            // New connections (several, so both workers of the cluster answer) get the renewed certificate.
            await vi.waitFor(
              async () => {
                for (let i = 0; i < 4; i++) {
                  expect((await freshGet(port, renewedCa, '/healthz')).fingerprint).toBe(renewed);
                }
              },
              { timeout: 20_000, interval: 100 },
            );
            // The connection opened before the reload carries on with the certificate it had.
            expect(open.getPeerX509Certificate()?.fingerprint256).toBe(first);
            expect(await exchange(open, '/healthz')).toEqual({ status: 200, body: '{"status":"ok"}' });
            open.destroy();
            expect(server.child.exitCode).toBeNull();
          },
          CLI_TEST_TIMEOUT,
        );

        it(
          'keeps serving the certificate it has when SIGHUP finds unusable files',
          async () => {
            const ca = fs.readFileSync(serverCert);
            const current = new X509Certificate(ca).fingerprint256;
            const key = fs.readFileSync(serverKey);
            fs.writeFileSync(serverKey, 'not a key');
            try {
              server.child.kill('SIGHUP');
              await vi.waitFor(
                () =>
                  expect(server.output()).toMatch(/TLS certificate and key[^\n]*(still serving|unusable)/),
                {
                  timeout: 20_000,
                  interval: 100,
                },
              );
              expect(await freshGet(port, ca, '/healthz')).toEqual({
                status: 200,
                body: '{"status":"ok"}',
                fingerprint: current,
              });
            } finally {
              fs.writeFileSync(serverKey, key, { mode: 0o600 });
            }
          },
          CLI_TEST_TIMEOUT,
        );

        it(
          "serves a custom domain's certificate by SNI once the CLI registers it, on every worker, and still after SIGHUP",
          async () => {
            const domainCerts = path.join(dir, `domain-${workers}`);
            await runBuiltCli(['tls', 'self-signed', '--out', domainCerts, '--host', 'api.example.com'], {});
            const domainCa = fs.readFileSync(path.join(domainCerts, 'cert.pem'));
            const domain = new X509Certificate(domainCa).fingerprint256;
            // Another process writes the domain: the serving workers learn of it by the cache-epoch poll.
            const created = await runBuiltCli(
              [
                'platform',
                'domains',
                'create',
                'api.example.com',
                '--cert',
                path.join(domainCerts, 'cert.pem'),
                '--key',
                path.join(domainCerts, 'key.pem'),
              ],
              { GATEHOUSE_DATA_DIR: path.join(dir, `data-${workers}`) },
            );
            expect(created.code, created.stderr).toBe(0);
            const metadata = '/.well-known/oauth-authorization-server';
            await vi.waitFor(
              async () => {
                for (let i = 0; i < 4; i++) {
                  const answer = await freshGet(port, domainCa, metadata, 'api.example.com');
                  expect(answer.fingerprint).toBe(domain);
                  expect(JSON.parse(answer.body).issuer).toBe('https://api.example.com');
                }
              },
              { timeout: 20_000, interval: 100 },
            );
            const defaultCa = fs.readFileSync(serverCert);
            const defaultPrint = new X509Certificate(defaultCa).fingerprint256;
            expect(JSON.parse((await freshGet(port, defaultCa, metadata)).body).issuer).toBe(
              `https://localhost:${port}`,
            );
            const reloads = () => server.output().split('reloaded the TLS certificate and key').length;
            const before = reloads();
            server.child.kill('SIGHUP');
            await vi.waitFor(() => expect(reloads()).toBeGreaterThanOrEqual(before + Number(workers)), {
              timeout: 20_000,
              interval: 100,
            });
            for (let i = 0; i < 4; i++) {
              expect((await freshGet(port, domainCa, '/healthz', 'api.example.com')).fingerprint).toBe(
                domain,
              );
              expect((await freshGet(port, defaultCa, '/healthz')).fingerprint).toBe(defaultPrint);
            }
          },
          CLI_TEST_TIMEOUT,
        );
      });
    }
  });
});
