/**
 * Custom domains of the API platform (issue 14, spec 003): host names the instance answers to,
 * each optionally with its own TLS certificate, served by SNI when Gatehouse serves HTTPS. Tokens
 * asked for at `https://<hostname>/oauth2/token` carry `iss: https://<hostname>`.
 *
 * - `hostname`: lower-case, IDNA (punycode) form, unique.
 * - `cert_pem`: the PEM certificate chain (server certificate first), or null (the default one).
 * - `key_sealed`: the certificate's private key, encrypted with the instance's secret key
 *   (AES-256-GCM, the hostname bound as associated data); never stored or shown in clear.
 * - `cert_*`: what the certificate says, read at write time, for lists and for a renewal job
 *   (`cert_not_after`).
 *
 * Booleans are integers (0/1) on both stores, as elsewhere.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const platformDomains = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('platform_domains'), dialect)
      .addColumn('hostname', 'text', (c) => c.notNull().unique())
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('cert_pem', 'text')
      .addColumn('key_sealed', 'text')
      .addColumn('cert_subject', 'text')
      /** JSON array of the certificate's DNS names. */
      .addColumn('cert_names', 'text')
      .addColumn('cert_issuer', 'text')
      .addColumn('cert_not_before', 'text')
      .addColumn('cert_not_after', 'text')
      .addColumn('cert_fingerprint', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },
};
