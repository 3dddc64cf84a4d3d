/**
 * `gatehouse tls self-signed --host localhost --out <dir>`: a development certificate and key for
 * GATEHOUSE_TLS_CERT / GATEHOUSE_TLS_KEY, made with the `selfsigned` library (Node's WebCrypto,
 * no openssl). An ECDSA P-256 key, SHA-256, the hosts as subject alternative names (DNS names,
 * or IP addresses), valid for `--days`. Not for production: clients must be told to trust it
 * (curl --cacert <dir>/cert.pem, NODE_EXTRA_CA_CERTS=<dir>/cert.pem).
 */
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import selfsigned from 'selfsigned';
import { ValidationError } from '../errors.js';
import type { CliIo } from './io.js';

const CERT_FILE = 'cert.pem';
const KEY_FILE = 'key.pem';
const MAX_DAYS = 825; // the longest validity browsers accept for a server certificate

function parseDays(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_DAYS) {
    throw new InvalidArgumentError(`Must be a whole number of days from 1 to ${MAX_DAYS}.`);
  }
  return Number(value);
}

function collectHost(value: string, previous: string[] | undefined): string[] {
  const host = value
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (
    net.isIP(host) === 0 &&
    !/^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host)
  ) {
    throw new InvalidArgumentError(`"${value}" is not a host name or IP address.`);
  }
  return [...(previous ?? []), host];
}

/** Subject alternative names: DNS names as type 2, addresses as type 7; localhost brings its loopback addresses. */
function altNames(hosts: readonly string[]) {
  const names = new Set(hosts);
  if (names.has('localhost')) {
    names.add('127.0.0.1');
    names.add('::1');
  }
  return [...names].map((name) =>
    net.isIP(name) === 0 ? { type: 2 as const, value: name } : { type: 7 as const, ip: name },
  );
}

export interface SelfSignedFiles {
  certFile: string;
  keyFile: string;
  fingerprint: string;
  notAfter: Date;
}

/** Writes cert.pem (0644) and key.pem (0600) into `outDir`; refuses to overwrite unless `force`. */
export async function writeSelfSigned(
  outDir: string,
  hosts: readonly string[],
  days: number,
  force: boolean,
  now: Date = new Date(),
): Promise<SelfSignedFiles> {
  const certFile = path.join(outDir, CERT_FILE);
  const keyFile = path.join(outDir, KEY_FILE);
  for (const file of [certFile, keyFile]) {
    if (!force && fs.existsSync(file)) {
      throw new ValidationError(`${file} exists; pass --force to replace it.`, { field: 'out' });
    }
  }
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: hosts[0] ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames(hosts) },
    ],
  });
  fs.mkdirSync(outDir, { recursive: true, mode: 0o700 });
  // The key first and private from its first byte: written to a new file with mode 0600.
  fs.rmSync(keyFile, { force: true });
  fs.writeFileSync(keyFile, pems.private, { mode: 0o600, flag: 'wx' });
  fs.writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return { certFile, keyFile, fingerprint: new X509Certificate(pems.cert).fingerprint256, notAfter };
}

export function registerTls(program: Command, io: CliIo): void {
  const tls = program
    .command('tls')
    .description('certificates for serving HTTPS (GATEHOUSE_TLS_CERT / GATEHOUSE_TLS_KEY)');

  tls
    .command('self-signed')
    .description(
      'write a self-signed development certificate (cert.pem) and its private key (key.pem, mode 0600); not for production',
    )
    .option(
      '--host <name>',
      'DNS name or IP address the certificate is for (repeat for several; default localhost)',
      collectHost,
    )
    .requiredOption('--out <dir>', 'directory to write cert.pem and key.pem into (created 0700 if missing)')
    .option('--days <n>', `validity in days (1–${MAX_DAYS})`, parseDays, 365)
    .option('--force', 'replace cert.pem and key.pem if they exist')
    .action(async (opts: { host?: string[]; out: string; days: number; force?: boolean }) => {
      const hosts = opts.host ?? ['localhost'];
      const written = await writeSelfSigned(
        path.resolve(io.cwd, opts.out),
        hosts,
        opts.days,
        opts.force === true,
      );
      io.stdout.write(
        `Wrote ${written.certFile} and ${written.keyFile} (${hosts.join(', ')}; valid until ${written.notAfter.toISOString()}).\n` +
          `SHA-256 fingerprint ${written.fingerprint}\n` +
          'Serve HTTPS with:\n' +
          `  GATEHOUSE_TLS_CERT=${written.certFile} GATEHOUSE_TLS_KEY=${written.keyFile} gatehouse serve\n` +
          `Clients must trust the certificate, e.g. curl --cacert ${written.certFile}, or NODE_EXTRA_CA_CERTS=${written.certFile}.\n`,
      );
    });
}
