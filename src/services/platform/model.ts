/**
 * The API platform's vocabulary: limits, the views the admin API returns, and the inputs it takes.
 * The parts: src/services/platform/ model (this) → validation → catalog (what the gateway reads)
 * → service (PlatformService, the writes).
 */
import type { AccessProfileAuthMethod, QuotaUnit, RateUnit } from '../../store/schema/index.js';

// ---- vocabulary and limits ------------------------------------------------------------------

export const ENDPOINT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export type EndpointMethod = (typeof ENDPOINT_METHODS)[number];
export const AUTH_METHODS = ['oauth2', 'token', 'jwt'] as const satisfies readonly AccessProfileAuthMethod[];
export const DEFAULT_ENDPOINT_TIMEOUT_MS = 30_000;
export const MIN_ENDPOINT_TIMEOUT_MS = 100;
export const MAX_ENDPOINT_TIMEOUT_MS = 300_000;
export const MAX_NAME_LENGTH = 100;
export const MAX_DESCRIPTION_LENGTH = 1000;
export const MAX_PATH_LENGTH = 500;
export const MAX_URL_LENGTH = 2000;
export const MAX_IP_RULES = 100;
export const MAX_REQUIRED_CLAIMS = 20;
/** Static API tokens carry a recognisable prefix, as developer tokens do (`gh_dev_`), for secret scanners. */
export const API_TOKEN_PREFIX = 'gh_api_';
export const API_TOKEN_HEADER = 'api-token';
/** The scope an oauth2 profile's client holds: its tokens call the gateway and nothing else. */
export const GATEWAY_SCOPE = 'gateway';
/** Seconds of clock skew allowed on an outside IdP's `exp` / `nbf`. */
export const IDP_JWT_CLOCK_SKEW_SECONDS = 30;

/**
 * First path segments a collection prefix may not take: every first segment of Gatehouse's own
 * routes (test/http/platform-admin.test.ts checks this list against the app's registered routes,
 * so a new top-level route that is missing here fails a test), plus names kept for what comes
 * (custom-domain ACME answers, well-known documents, versions of the API).
 */
export const RESERVED_PREFIXES: ReadonlySet<string> = new Set([
  // Gatehouse's routes today
  'admin',
  'api',
  'docs',
  'healthz',
  'oauth',
  'oauth2',
  'openapi.json',
  'readyz',
  'v1',
  '.well-known',
  // kept for later and for look-alikes
  'metrics',
  'login',
  'logout',
  'static',
  'assets',
  'favicon.ico',
  'robots.txt',
  'gatehouse',
  'platform',
  'v2',
  'v3',
]);

/** Policies: the units a rate limit and a quota are counted per (quota windows are UTC calendar days and months). */
export const RATE_UNITS = ['second', 'minute'] as const satisfies readonly RateUnit[];
export const QUOTA_UNITS = ['day', 'month'] as const satisfies readonly QuotaUnit[];
export const MAX_RATE_LIMIT = 1_000_000;
export const MAX_QUOTA_LIMIT = 1_000_000_000;
export const MAX_CONCURRENCY_LIMIT = 10_000;
export const MAX_QUEUE_SIZE = 1000;
/** A queued call waits at most this long for a slot: the queue is short by design. */
export const MAX_QUEUE_WAIT_MS = 30_000;

// ---- views ----------------------------------------------------------------------------------

export interface ApiCollection {
  id: number;
  name: string;
  prefix: string;
  description: string;
  upstreamUrl: string;
  enabled: boolean;
  endpointCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface ApiEndpoint {
  id: number;
  collectionId: number;
  name: string;
  method: EndpointMethod;
  path: string;
  upstreamPath: string;
  timeoutMs: number;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface JwtSettings {
  jwksUrl: string;
  issuer: string;
  /** null: the token's `aud` is not checked. */
  audience: string | null;
  /** Claim name → value the token must carry (equal, or contained in an array claim). */
  requiredClaims: Record<string, string | number | boolean>;
}

export interface AccessProfile {
  id: number;
  name: string;
  description: string;
  authMethod: AccessProfileAuthMethod;
  collections: Array<{ id: number; name: string; prefix: string }>;
  /** CIDRs a call may come from; empty = anywhere. */
  ipAllowList: string[];
  /** Its policy (rate limit, quota, concurrency); null = none. */
  policyId: number | null;
  enabled: boolean;
  /** oauth2: the partial id of the profile's API client (as client lists show it). */
  clientId: string | null;
  /** token: `gh_api_` and the first characters of the token. */
  tokenPrefix: string | null;
  /** jwt: the outside identity provider. */
  jwt: JwtSettings | null;
  createdAt: string;
  updatedAt: string;
}

export interface RateLimitSetting {
  /** Calls allowed per window. */
  limit: number;
  per: RateUnit;
}

export interface QuotaSetting {
  limit: number;
  /** A UTC calendar day or month. */
  per: QuotaUnit;
}

export interface ConcurrencySetting {
  /** Calls in flight at once, over every node. */
  limit: number;
  /** Calls that may wait for a slot beyond the limit (0: none; the next call gets 429 at once). */
  queueSize: number;
  /** How long a queued call waits for a slot before its 429. */
  maxWaitMs: number;
}

export interface Policy {
  id: number;
  name: string;
  description: string;
  rateLimit: RateLimitSetting | null;
  quota: QuotaSetting | null;
  concurrency: ConcurrencySetting | null;
  /** The access profiles that use it. */
  profileCount: number;
  createdAt: string;
  updatedAt: string;
}

/** Shown once, at creation or regeneration. */
export type ProfileCredentials =
  | { type: 'oauth2'; clientId: string; clientSecret: string }
  | { type: 'token'; apiToken: string }
  | { type: 'jwt' };

export interface IssuedProfile {
  profile: AccessProfile;
  credentials: ProfileCredentials;
}

// ---- inputs ---------------------------------------------------------------------------------

export interface CollectionInput {
  name?: unknown;
  prefix?: unknown;
  description?: unknown;
  upstreamUrl?: unknown;
  enabled?: unknown;
}

export interface EndpointInput {
  name?: unknown;
  method?: unknown;
  path?: unknown;
  upstreamPath?: unknown;
  timeoutMs?: unknown;
  enabled?: unknown;
}

export interface ProfileInput {
  name?: unknown;
  description?: unknown;
  authMethod?: unknown;
  /** Collection ids or prefixes. */
  collections?: unknown;
  ipAllowList?: unknown;
  enabled?: unknown;
  jwt?: unknown;
  /** oauth2 from the CLI: the user owning the profile's API client (a user caller owns it). */
  owner?: unknown;
  /** A policy id or name; null: none. */
  policyId?: unknown;
}

export interface PolicyInput {
  name?: unknown;
  description?: unknown;
  /** {limit, per: second | minute} or null (off). */
  rateLimit?: unknown;
  /** {limit, per: day | month} or null (off). */
  quota?: unknown;
  /** {limit, queueSize?, maxWaitMs?} or null (off). */
  concurrency?: unknown;
}

/** What an OpenAPI import did to each operation (in a dry run: would do). */
export type ImportAction = 'created' | 'replaced' | 'skipped';

export interface EndpointImport {
  dryRun: boolean;
  collectionId: number;
  created: number;
  replaced: number;
  /** Operations whose method and path an endpoint of the collection has already (without `replace`). */
  skipped: number;
  endpoints: Array<{
    action: ImportAction;
    /** The endpoint created, replaced or in the way; null for one a dry run would create. */
    id: number | null;
    name: string;
    method: EndpointMethod;
    path: string;
    upstreamPath: string;
    /** Its JSON pointer in the document. */
    pointer: string;
  }>;
}

/** The document to import: parsed already, as text (JSON or YAML), or at an allow-listed URL. */
export type ImportSource = { document: unknown } | { text: string } | { url: string };

export interface ListQuery {
  limit?: number;
  cursor?: string;
}
