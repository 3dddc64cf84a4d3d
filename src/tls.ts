/**
 * HTTPS for Gatehouse itself (GATEHOUSE_TLS_CERT / GATEHOUSE_TLS_KEY, PEM files). Programs written
 * for Domo always talk to `https://<host>`, so Gatehouse must be able to terminate TLS without a
 * proxy in front. The files are read at start-up, checked (PEM, key matches certificate), and read
 * again on SIGHUP: the server swaps its secure context, so new connections get the new certificate
 * while open ones carry on (a renewed certificate needs no restart and drops nothing). A client
 * naming a custom domain that has a certificate of its own (SNI) gets that one instead.
 */
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { ConfigError } from './config.js';

export interface TlsFiles {
  /** Path of the certificate chain (PEM: the server certificate first, then intermediates). */
  certFile: string;
  /** Path of the private key (PEM, unencrypted). */
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The server certificate's subject, names and validity, for the start-up log. */
  summary: { subject: string; subjectAltName: string | undefined; validTo: string; expired: boolean };
}

/** A certificate or key that cannot be used; names the variable whose file is at fault (exit 1 at start-up). */
export class TlsFileError extends ConfigError {
  constructor(variable: 'GATEHOUSE_TLS_CERT' | 'GATEHOUSE_TLS_KEY', message: string) {
    super(variable, message);
    this.name = 'TlsFileError';
  }
}

function readPem(
  file: string,
  variable: 'GATEHOUSE_TLS_CERT' | 'GATEHOUSE_TLS_KEY',
  marker: RegExp,
  what: string,
): Buffer {
  let content: Buffer;
  try {
    content = fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TlsFileError(variable, `cannot read ${file} (${code ?? String(error)})`);
  }
  if (!marker.test(content.toString('latin1'))) {
    throw new TlsFileError(variable, `${file} does not hold a PEM ${what}`);
  }
  return content;
}

/** Reads and checks the certificate and key: both PEM, and the key belongs to the certificate. */
export function loadTlsMaterial(files: TlsFiles, now: Date = new Date()): TlsMaterial {
  const cert = readPem(files.certFile, 'GATEHOUSE_TLS_CERT', /-----BEGIN CERTIFICATE-----/, 'certificate');
  const key = readPem(
    files.keyFile,
    'GATEHOUSE_TLS_KEY',
    /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
    'private key',
  );
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new TlsFileError('GATEHOUSE_TLS_CERT', `${files.certFile} is not a valid X.509 certificate`);
  }
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    const reason = (error as Error).message;
    throw /mismatch/i.test(reason)
      ? new TlsFileError('GATEHOUSE_TLS_KEY', `${files.keyFile} is not the private key of ${files.certFile}`)
      : new TlsFileError('GATEHOUSE_TLS_KEY', `${files.keyFile} cannot be used (${reason})`);
  }
  return {
    cert,
    key,
    summary: {
      subject: certificate.subject.replace(/\n/g, ', '),
      subjectAltName: certificate.subjectAltName,
      validTo: new Date(certificate.validTo).toISOString(),
      expired: new Date(certificate.validTo).getTime() < now.getTime(),
    },
  };
}

/**
 * The secure context for a TLS client that named `servername` (SNI), or undefined for the default
 * certificate. Custom domains (src/services/domains.ts) answer it from memory.
 */
export type SniLookup = (servername: string) => Promise<tls.SecureContext | undefined>;

/**
 * A `SNICallback` over `lookup`: the context it finds, else (none, or the lookup failed) the
 * server's default one, which is what Node uses when the callback gives no context. The default
 * is whatever `setSecureContext` set last, so a SIGHUP reload changes it under the same callback.
 */
export function sniCallback(lookup: SniLookup) {
  return (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void): void => {
    lookup(servername).then(
      (context) => callback(null, context),
      () => callback(null, undefined),
    );
  };
}

/** A fastify `serverFactory` that serves HTTPS with `material`, and per-host certificates from `sni`. */
export function httpsServerFactory(material: TlsMaterial, sni?: SniLookup) {
  return (handler: (request: never, response: never) => void) =>
    https.createServer(
      { cert: material.cert, key: material.key, ...(sni ? { SNICallback: sniCallback(sni) } : {}) },
      handler as never,
    );
}

/**
 * Reads the files again and gives `server` the new certificate and key; open connections keep the
 * old ones. A bad file throws (a TlsFileError) and the server keeps serving what it has.
 */
export function reloadTlsMaterial(server: tls.Server, files: TlsFiles): TlsMaterial {
  const material = loadTlsMaterial(files);
  server.setSecureContext({ cert: material.cert, key: material.key });
  return material;
}
