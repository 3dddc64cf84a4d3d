/** Developer access tokens (spec 000). Only the HMAC of a token is stored. */
import type { Generated } from 'kysely';

export interface AccessTokensTable {
  id: Generated<number>;
  /** The visible start of the token (`gh_dev_` + 8 characters), for lists and secret scanners. */
  prefix: string;
  /** keyring.hashSecret('access_token', token); unique. */
  token_hash: string;
  description: string;
  /** The user the token acts as. */
  user_id: number;
  /** The user who created it; null when created from the CLI. */
  created_by: number | null;
  created_at: string;
  /** null = never expires (chosen explicitly). */
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AccessTokenTables {
  access_tokens: AccessTokensTable;
}
