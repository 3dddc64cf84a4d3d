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
  /** The policy (rate limit, quota, concurrency) of the next step; no table yet. */
  policy_id: number | null;
  enabled: number;
  created_at: string;
  updated_at: string;
}

export interface AccessProfileCollectionsTable {
  profile_id: number;
  collection_id: number;
}

export interface PlatformTables {
  api_collections: ApiCollectionsTable;
  api_endpoints: ApiEndpointsTable;
  access_profiles: AccessProfilesTable;
  access_profile_collections: AccessProfileCollectionsTable;
}
