/**
 * What the gateway (src/api/gateway/) and the guard's resolvers read on every call: enabled
 * collections by prefix with their endpoints, profiles by id, client, token hash and IdP issuer,
 * in memory, rebuilt once per change (the `platform` cache epoch).
 */
import type net from 'node:net';
import type { Selectable } from 'kysely';
import { ForbiddenError } from '../../errors.js';
import type { Executor } from '../../store/index.js';
import type {
  AccessProfileAuthMethod,
  AccessProfilesTable,
  PlatformPoliciesTable,
} from '../../store/schema/index.js';
import type {
  ConcurrencySetting,
  EndpointMethod,
  JwtSettings,
  QuotaSetting,
  RateLimitSetting,
} from './model.js';
import { blockListOf, parsePathPattern } from './validation.js';

export interface CatalogEndpoint {
  readonly id: number;
  readonly name: string;
  readonly method: EndpointMethod;
  readonly path: string;
  /** Path segments: a string is literal, `{param}` a parameter. */
  readonly segments: ReadonlyArray<string | { param: string }>;
  readonly upstreamSegments: ReadonlyArray<string | { param: string }>;
  readonly timeoutMs: number;
}

export interface CatalogCollection {
  readonly id: number;
  readonly name: string;
  readonly prefix: string;
  readonly upstreamUrl: string;
  /** Enabled endpoints by method, most specific pattern first (a literal segment beats a parameter). */
  readonly endpoints: ReadonlyMap<string, readonly CatalogEndpoint[]>;
}

/** A policy as the gateway enforces it (src/services/platform/limits.ts). */
export interface CatalogPolicy {
  readonly id: number;
  readonly name: string;
  readonly rateLimit: RateLimitSetting | null;
  readonly quota: QuotaSetting | null;
  readonly concurrency: ConcurrencySetting | null;
}

export interface CatalogProfile {
  readonly id: number;
  readonly name: string;
  readonly authMethod: AccessProfileAuthMethod;
  readonly enabled: boolean;
  readonly collectionIds: ReadonlySet<number>;
  /** null = any address. */
  readonly ipAllow: net.BlockList | null;
  readonly clientId: string | null;
  readonly jwt: JwtSettings | null;
  /** What the profile may spend; null = no limits. */
  readonly policy: CatalogPolicy | null;
}

export interface EndpointMatch {
  readonly endpoint: CatalogEndpoint;
  /** Raw (still percent-encoded) values of the path parameters. */
  readonly params: Readonly<Record<string, string>>;
}

/** What the gateway and the resolvers need, in memory; one per `platform` epoch. */
export class GatewayCatalog {
  constructor(
    /** Enabled collections only: a disabled one answers as if absent. */
    readonly collections: ReadonlyMap<string, CatalogCollection>,
    readonly profiles: ReadonlyMap<number, CatalogProfile>,
    readonly profileByClientId: ReadonlyMap<string, CatalogProfile>,
    readonly profileByTokenHash: ReadonlyMap<string, CatalogProfile>,
    readonly jwtProfilesByIssuer: ReadonlyMap<string, readonly CatalogProfile[]>,
  ) {}

  /**
   * The endpoint of `collection` for `method` and the request path after the prefix (raw, with
   * its percent-escapes). HEAD falls back to a GET endpoint. A parameter never matches an empty
   * segment, `.` or `..` (in any escaping): substituted into the upstream path it would climb out
   * of the endpoint's path.
   */
  match(collection: CatalogCollection, method: string, rawPath: string): EndpointMatch | undefined {
    const parts = rawPath === '' || rawPath === '/' ? [] : rawPath.replace(/^\//, '').split('/');
    const candidates = [
      ...(collection.endpoints.get(method) ?? []),
      ...(method === 'HEAD' ? (collection.endpoints.get('GET') ?? []) : []),
    ];
    for (const endpoint of candidates) {
      if (endpoint.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length; i++) {
        const segment = endpoint.segments[i]!;
        const part = parts[i]!;
        if (typeof segment === 'string') {
          if (segment !== part) {
            ok = false;
            break;
          }
        } else {
          if (part === '' || /^(\.|%2e){1,2}$/i.test(part)) {
            ok = false;
            break;
          }
          params[segment.param] = part;
        }
      }
      if (ok) return { endpoint, params };
    }
    return undefined;
  }
}

/** The upstream path of a matched endpoint, parameters substituted as they came (still escaped). */
export function upstreamPathOf(match: EndpointMatch): string {
  const path = match.endpoint.upstreamSegments
    .map((segment) => (typeof segment === 'string' ? segment : (match.params[segment.param] ?? '')))
    .join('/');
  return `/${path}`;
}

/** For messages: 403 when a profile may not call a collection. */
export function notAllowed(profileName: string, collectionName: string): ForbiddenError {
  return new ForbiddenError(
    `The access profile "${profileName}" may not call the API collection "${collectionName}".`,
    {
      reason: 'collection_not_allowed',
    },
  );
}

export function jwtOf(row: Selectable<AccessProfilesTable>): JwtSettings | null {
  if (row.auth_method !== 'jwt' || row.jwt_jwks_url === null || row.jwt_issuer === null) return null;
  return {
    jwksUrl: row.jwt_jwks_url,
    issuer: row.jwt_issuer,
    audience: row.jwt_audience,
    requiredClaims: JSON.parse(row.jwt_required_claims) as JwtSettings['requiredClaims'],
  };
}

/** A policy row's three limits (a null column is a limit that is off). */
export function policyLimitsOf(row: Selectable<PlatformPoliciesTable>): Omit<CatalogPolicy, 'id' | 'name'> {
  return {
    rateLimit:
      row.rate_limit === null || row.rate_unit === null
        ? null
        : { limit: row.rate_limit, per: row.rate_unit },
    quota:
      row.quota_limit === null || row.quota_unit === null
        ? null
        : { limit: row.quota_limit, per: row.quota_unit },
    concurrency:
      row.concurrency_limit === null
        ? null
        : { limit: row.concurrency_limit, queueSize: row.queue_size, maxWaitMs: row.queue_wait_ms },
  };
}

/** Everything the gateway and the resolvers need, read in one go (once per `platform` epoch). */
export async function loadCatalog(db: Executor): Promise<GatewayCatalog> {
  const [collections, endpoints, profiles, links, policyRows] = await Promise.all([
    db.selectFrom('api_collections').selectAll().where('enabled', '=', 1).execute(),
    db.selectFrom('api_endpoints').selectAll().where('enabled', '=', 1).orderBy('id').execute(),
    db.selectFrom('access_profiles').selectAll().execute(),
    db.selectFrom('access_profile_collections').selectAll().execute(),
    db.selectFrom('platform_policies').selectAll().execute(),
  ]);
  const policies = new Map<number, CatalogPolicy>(
    policyRows.map((row) => [row.id, { id: row.id, name: row.name, ...policyLimitsOf(row) }]),
  );
  const byCollection = new Map<number, Map<string, CatalogEndpoint[]>>();
  for (const row of endpoints) {
    const segments = parsePathPattern(row.path, 'path', 'path');
    const entry: CatalogEndpoint = {
      id: row.id,
      name: row.name,
      method: row.method as EndpointMethod,
      path: row.path,
      segments,
      upstreamSegments: parsePathPattern(row.upstream_path, 'upstreamPath', 'upstream path'),
      timeoutMs: row.timeout_ms,
    };
    const methods = byCollection.get(row.collection_id) ?? new Map<string, CatalogEndpoint[]>();
    byCollection.set(row.collection_id, methods);
    methods.set(row.method, [...(methods.get(row.method) ?? []), entry]);
  }
  const specificity = (e: CatalogEndpoint) =>
    e.segments.map((s) => (typeof s === 'string' ? '0' : '1')).join('');
  const collectionMap = new Map<string, CatalogCollection>();
  for (const row of collections) {
    const methods = byCollection.get(row.id) ?? new Map<string, CatalogEndpoint[]>();
    for (const [method, list] of methods)
      methods.set(
        method,
        [...list].sort((a, b) => specificity(a).localeCompare(specificity(b))),
      );
    collectionMap.set(row.prefix, {
      id: row.id,
      name: row.name,
      prefix: row.prefix,
      upstreamUrl: row.upstream_url,
      endpoints: methods,
    });
  }
  const linked = new Map<number, Set<number>>();
  for (const link of links) {
    const set = linked.get(link.profile_id) ?? new Set<number>();
    set.add(link.collection_id);
    linked.set(link.profile_id, set);
  }
  const profileMap = new Map<number, CatalogProfile>();
  const byClient = new Map<string, CatalogProfile>();
  const byToken = new Map<string, CatalogProfile>();
  const byIssuer = new Map<string, CatalogProfile[]>();
  for (const row of profiles) {
    const profile: CatalogProfile = {
      id: row.id,
      name: row.name,
      authMethod: row.auth_method,
      enabled: row.enabled === 1,
      collectionIds: linked.get(row.id) ?? new Set(),
      ipAllow: blockListOf(JSON.parse(row.ip_allow) as string[]),
      clientId: row.client_id,
      jwt: jwtOf(row),
      policy: row.policy_id === null ? null : (policies.get(row.policy_id) ?? null),
    };
    profileMap.set(row.id, profile);
    if (row.client_id !== null) byClient.set(row.client_id, profile);
    if (row.token_hash !== null) byToken.set(row.token_hash, profile);
    if (profile.jwt !== null && profile.enabled)
      byIssuer.set(profile.jwt.issuer, [...(byIssuer.get(profile.jwt.issuer) ?? []), profile]);
  }
  return new GatewayCatalog(collectionMap, profileMap, byClient, byToken, byIssuer);
}
