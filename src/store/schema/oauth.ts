/** Tables of the token service: API clients, their secrets, signing keys, revoked tokens, cache epochs. */
import type { Generated } from 'kysely';

export interface ApiClientsTable {
  /** The client ID: a UUID, shown in full only when the client is created. */
  id: string;
  name: string;
  /** lower-cased name; unique among active clients (partial unique index). */
  name_key: string;
  description: string;
  /** JSON array of scope names, in catalog order. */
  scopes: string;
  token_ttl_seconds: number;
  owner_user_id: number;
  status: 'active' | 'revoked';
  created_at: string;
  revoked_at: string | null;
  /** Audit label of who revoked it (`user:12`, `cli`, `system`). */
  revoked_by: string | null;
  /** Updated in batches, so it may lag by a few seconds. */
  last_used_at: string | null;
}

export interface ClientSecretsTable {
  id: Generated<number>;
  client_id: string;
  /** `keyring.hashSecret('client_secret', secret)`; the secret itself is never stored. */
  secret_hash: string;
  created_at: string;
  /** null = no end; set when a newer secret replaced this one (grace period). */
  expires_at: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: 'RS256' | 'ES256' | 'EdDSA';
  /** Public JWK as JSON text. */
  public_jwk: string;
  /** PKCS#8 PEM sealed with `keyring.encrypt(pem, 'signing-key:' + kid)`. */
  private_key: string;
  /** active: signs and is published; published: only verifies; retired: neither. */
  status: 'active' | 'published' | 'retired';
  created_at: string;
  /** When a published key may be retired (every token it signed has expired by then). */
  retire_after: string | null;
}

export interface RevokedTokensTable {
  jti: string;
  client_id: string;
  /** The token's `exp`; the row is pruned a minute after it. */
  expires_at: string;
  /** Position in the revocation change feed (from `revocation_sequence`); 0 for rows older than the feed. */
  seq: Generated<number>;
}

/** One row (`id` 1): the last number handed to a revoked token. */
export interface RevocationSequenceTable {
  id: number;
  value: number;
}

export interface CacheEpochsTable {
  /** clients, keys, users, roles, revoked_tokens. */
  name: string;
  version: number;
}

export interface OAuthTables {
  api_clients: ApiClientsTable;
  client_secrets: ClientSecretsTable;
  signing_keys: SigningKeysTable;
  revoked_tokens: RevokedTokensTable;
  revocation_sequence: RevocationSequenceTable;
  cache_epochs: CacheEpochsTable;
}
