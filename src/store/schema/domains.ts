/** Custom domains of the API platform (migration 015). */
import type { Generated } from 'kysely';

export interface PlatformDomainsTable {
  id: Generated<number>;
  /** Lower-case, IDNA (punycode) form, no trailing dot; unique. */
  hostname: string;
  /** 0 or 1. */
  enabled: number;
  /** PEM certificate chain, server certificate first; null = the instance's default certificate. */
  cert_pem: string | null;
  /** The private key, encrypted with the secret key (`SecretKeyring.encrypt`, context names the host). */
  key_sealed: string | null;
  cert_subject: string | null;
  /** JSON array of the certificate's DNS subject alternative names. */
  cert_names: string | null;
  cert_issuer: string | null;
  cert_not_before: string | null;
  cert_not_after: string | null;
  /** SHA-256 fingerprint of the server certificate. */
  cert_fingerprint: string | null;
  created_at: string;
  updated_at: string;
}

export interface DomainTables {
  platform_domains: PlatformDomainsTable;
}
