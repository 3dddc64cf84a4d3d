/** The API platform (migration 014): collections, endpoints, access profiles. */
import type { Generated } from 'kysely';

export interface ApiCollectionsTable {
  id: Generated<number>;
  name: string;
  /** NFC, trimmed, lower-cased name; unique. */
  name_key: string;
  /** The first path segment the collection is reached under; unique, lower-case. */
  prefix: string;
  description: string;
  /** http(s) base URL the endpoints' upstream paths are appended to (no trailing slash). */
  upstream_url: string;
  /** 0 or 1. */
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface ApiEndpointsTable {
  id: Generated<number>;
  collection_id: number;
  name: string;
  /** GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS. */
  method: string;
  /** `/orders/:id` */
  path: string;
  /** The pattern with parameter names dropped (`/orders/:`): unique per collection and method. */
  path_key: string;
  upstream_path: string;
  timeout_ms: number;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export type AccessProfileAuthMethod = 'oauth2' | 'token' | 'jwt';

export interface AccessProfilesTable {
  id: Generated<number>;
  name: string;
  name_key: string;
  description: string;
  auth_method: AccessProfileAuthMethod;
  /** `oauth2`: the API client (api_clients.id) whose tokens act for the profile. */
  client_id: string | null;
  /** `token`: HMAC of the API token (purpose `api_token`); the token itself is never stored. */
  token_hash: string | null;
  /** `token`: the first characters of the token, to recognise it in lists. */
  token_prefix: string | null;
  jwt_jwks_url: string | null;
  jwt_issuer: string | null;
  jwt_audience: string | null;
  /** JSON object: claim name → required value. */
  jwt_required_claims: string;
  /** JSON array of CIDRs; empty = any address. */
  ip_allow: string;
  /** platform_policies.id (rate limit, quota, concurrency); null = none. No foreign key (see 017). */
  policy_id: number | null;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface AccessProfileCollectionsTable {
  profile_id: number;
  collection_id: number;
}

export type RateUnit = 'second' | 'minute';
export type QuotaUnit = 'day' | 'month';

/** Migration 017: what an access profile may spend. A null limit is off. */
export interface PlatformPoliciesTable {
  id: Generated<number>;
  name: string;
  name_key: string;
  description: string;
  rate_limit: number | null;
  rate_unit: RateUnit | null;
  quota_limit: number | null;
  quota_unit: QuotaUnit | null;
  concurrency_limit: number | null;
  /** Calls that may wait for a slot (0: none wait). */
  queue_size: number;
  /** How long a call waits for a slot before its 429. */
  queue_wait_ms: number;
  created_at: string;
  updated_at: string;
}

/** Migration 017: one row per call in flight (or waiting) under `key`, until `expires_at` (epoch ms). */
export interface PlatformLeasesTable {
  key: string;
  lease_id: string;
  expires_at: number;
}

export interface PlatformTables {
  platform_policies: PlatformPoliciesTable;
  platform_leases: PlatformLeasesTable;
  api_collections: ApiCollectionsTable;
  api_endpoints: ApiEndpointsTable;
  access_profiles: AccessProfilesTable;
  access_profile_collections: AccessProfileCollectionsTable;
}
