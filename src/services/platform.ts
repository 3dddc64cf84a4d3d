/**
 * The API platform (issue 14, spec 003): an organisation's own APIs behind Gatehouse.
 *
 *   API collection   a URL prefix (`/<prefix>/…`) forwarded to an upstream base URL
 *   endpoint         a method + path pattern (`/orders/:id`) of a collection, its upstream path and timeout
 *   access profile   the collections a caller may use, how it authenticates (oauth2 | token | jwt),
 *                    an optional IP allow-list, and (next step) a policy
 *
 * Every write needs `gateway.manage`, runs in one transaction, writes an audit event
 * (`api_collection.*`, `api_endpoint.*`, `access_profile.*`) and bumps the `platform` cache epoch,
 * so every process and node drops its `GatewayCatalog` and the next call sees the change (a
 * disabled profile is refused on its next call). An oauth2 profile's credential IS an API client
 * of the token service (created and revoked through ClientsService in the same transaction), so
 * it is listed, rotated and revoked with the other clients; a `token` profile's API token is shown
 * once and stored as an HMAC; a `jwt` profile names an outside IdP (JWKS URL, issuer, audience).
 *
 * The gateway (src/api/gateway/) and the guard's resolvers (src/guard/resolvers/) read the
 * `GatewayCatalog`: everything they need, in memory, rebuilt once per change.
 */
import net from 'node:net';
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import type { Selectable } from 'kysely';
import { randomToken } from '../crypto.js';
import {
  ConflictError,
  ForbiddenError,
  MissingGrantError,
  NotFoundError,
  ValidationError,
} from '../errors.js';
import { type CacheEpochs, EpochCache, epochsOf } from '../store/epochs.js';
import { type Executor, isUniqueViolation } from '../store/index.js';
import type {
  AccessProfileAuthMethod,
  AccessProfilesTable,
  ApiCollectionsTable,
  ApiEndpointsTable,
} from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import { CLIENT_REF_LENGTH, type ClientsService } from './clients.js';
import type { Actor, ServiceContext } from './context.js';
import { decodeCursor, type Page, pageSize, toPage } from './pagination.js';
import { can, OPERATOR, type Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';
import { nameKey, normaliseName } from './text.js';

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
const API_TOKEN_PURPOSE = 'api_token';
/** Characters of the token (after the prefix) lists show. */
const API_TOKEN_SHOWN = 8;
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

/** A prefix: one lower-case path segment of letters, digits and `-`/`_`/`.`, starting with a letter or digit. */
const PREFIX_SHAPE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A literal path segment: RFC 3986 unreserved characters and a few sub-delimiters. */
const LITERAL_SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;
const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]{0,63})$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

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
  /** The policy of the next step (rate limit, quota, concurrency); null = none. */
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
}

export interface ListQuery {
  limit?: number;
  cursor?: string;
}

// ---- the catalog the gateway and resolvers read ---------------------------------------------

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

// ---- validation -----------------------------------------------------------------------------

function validateName(value: unknown, label: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError(`${label} must not be empty.`, { field: 'name' });
  const name = normaliseName(value, 'name', label);
  if (name.length > MAX_NAME_LENGTH)
    throw new ValidationError(`${label} must be at most ${MAX_NAME_LENGTH} characters.`, { field: 'name' });
  return name;
}

function validateDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string')
    throw new ValidationError('Description must be a string.', { field: 'description' });
  const text = value.normalize('NFC').trim();
  if (text.length > MAX_DESCRIPTION_LENGTH)
    throw new ValidationError(`Description must be at most ${MAX_DESCRIPTION_LENGTH} characters.`, {
      field: 'description',
    });
  if (text.includes('\u0000'))
    throw new ValidationError('Description must not contain NUL characters.', { field: 'description' });
  return text;
}

function validateEnabled(value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new ValidationError('"enabled" must be true or false.', { field: 'enabled' });
  return value;
}

/** A collection's URL prefix: one lower-case path segment, not one of Gatehouse's own. */
export function validatePrefix(value: unknown): string {
  if (typeof value !== 'string') throw new ValidationError('"prefix" must be a string.', { field: 'prefix' });
  const prefix = value.trim().replace(/^\/+|\/+$/g, '');
  if (!PREFIX_SHAPE.test(prefix)) {
    throw new ValidationError(
      'The prefix must be one path segment of 1–63 lower-case letters, digits, "-", "_" or ".", starting with a letter or digit.',
      { field: 'prefix' },
    );
  }
  if (RESERVED_PREFIXES.has(prefix)) {
    throw new ValidationError(`The prefix "${prefix}" is reserved for Gatehouse's own routes.`, {
      field: 'prefix',
      reserved: [...RESERVED_PREFIXES].sort(),
    });
  }
  return prefix;
}

/**
 * An http(s) URL, no credentials, query or fragment, no trailing slash. `loopbackHttp`: plain
 * http only for loopback hosts (a JWKS URL: keys fetched in clear text could be swapped).
 */
function validateHttpUrl(value: unknown, field: string, label: string, loopbackHttp = false): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError(`${label} must not be empty.`, { field });
  const text = value.trim();
  if (text.length > MAX_URL_LENGTH)
    throw new ValidationError(`${label} must be at most ${MAX_URL_LENGTH} characters.`, { field });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(`${label} must be an absolute http(s) URL.`, { field });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ValidationError(`${label} must be an http or https URL.`, { field });
  if (loopbackHttp && url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname))
    throw new ValidationError(`${label} must be https (plain http only on a loopback host).`, { field });
  if (url.username !== '' || url.password !== '')
    throw new ValidationError(`${label} must not carry credentials.`, { field });
  if (url.hash !== '' || text.includes('#'))
    throw new ValidationError(`${label} must not have a fragment.`, { field });
  if (!loopbackHttp && url.search !== '')
    throw new ValidationError(`${label} must not have a query string.`, { field });
  return loopbackHttp ? url.href : url.href.replace(/\/+$/, '');
}

type Segment = string | { param: string };

/** `/orders/:id` → its segments; the names of its parameters are unique. */
export function parsePathPattern(value: unknown, field: string, label: string): Segment[] {
  if (typeof value !== 'string' || !value.startsWith('/'))
    throw new ValidationError(`${label} must start with "/".`, { field });
  if (value.length > MAX_PATH_LENGTH)
    throw new ValidationError(`${label} must be at most ${MAX_PATH_LENGTH} characters.`, { field });
  if (value === '/') return [];
  const parts = value.slice(1).split('/');
  const seen = new Set<string>();
  return parts.map((part) => {
    const param = PARAM_SEGMENT.exec(part);
    if (param) {
      const name = param[1]!;
      if (seen.has(name))
        throw new ValidationError(`${label} names the parameter ":${name}" twice.`, { field });
      seen.add(name);
      return { param: name };
    }
    if (!LITERAL_SEGMENT.test(part) || part === '.' || part === '..') {
      throw new ValidationError(
        `${label} must be "/"-separated segments of letters, digits and -._~!$&'()*+,;=@, or parameters like ":id" (no empty segments, no "." or "..").`,
        { field },
      );
    }
    return part;
  });
}

function pathKeyOf(segments: readonly Segment[]): string {
  return `/${segments.map((s) => (typeof s === 'string' ? s : ':')).join('/')}`;
}

function validateMethod(value: unknown): EndpointMethod {
  const method = typeof value === 'string' ? value.trim().toUpperCase() : value;
  if (typeof method !== 'string' || !(ENDPOINT_METHODS as readonly string[]).includes(method))
    throw new ValidationError(`"method" must be one of ${ENDPOINT_METHODS.join(', ')}.`, { field: 'method' });
  return method as EndpointMethod;
}

function validateTimeout(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_ENDPOINT_TIMEOUT_MS;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < MIN_ENDPOINT_TIMEOUT_MS ||
    value > MAX_ENDPOINT_TIMEOUT_MS
  )
    throw new ValidationError(
      `"timeoutMs" must be a whole number of milliseconds from ${MIN_ENDPOINT_TIMEOUT_MS} to ${MAX_ENDPOINT_TIMEOUT_MS}.`,
      { field: 'timeoutMs' },
    );
  return value;
}

function validateAuthMethod(value: unknown): AccessProfileAuthMethod {
  if (typeof value !== 'string' || !(AUTH_METHODS as readonly string[]).includes(value))
    throw new ValidationError(`"authMethod" must be one of ${AUTH_METHODS.join(', ')}.`, {
      field: 'authMethod',
    });
  return value as AccessProfileAuthMethod;
}

/** A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address, in its canonical written form. */
export function validateCidr(value: unknown): string {
  if (typeof value !== 'string')
    throw new ValidationError('Each IP rule must be a string.', { field: 'ipAllowList' });
  const text = value.trim();
  const [address = '', bits, extra] = text.split('/');
  const family = net.isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN;
  if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new ValidationError(`"${text.slice(0, 60)}" is not an IP address or CIDR (e.g. 203.0.113.0/24).`, {
      field: 'ipAllowList',
    });
  }
  return `${address}/${prefix}`;
}

function validateIpAllowList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new ValidationError('"ipAllowList" must be a list of CIDRs.', { field: 'ipAllowList' });
  if (value.length > MAX_IP_RULES)
    throw new ValidationError(`"ipAllowList" may hold at most ${MAX_IP_RULES} rules.`, {
      field: 'ipAllowList',
    });
  return [...new Set(value.map(validateCidr))];
}

function blockListOf(cidrs: readonly string[]): net.BlockList | null {
  if (cidrs.length === 0) return null;
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/') as [string, string];
    list.addSubnet(address, Number(bits), net.isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** Whether `ip` is allowed by `list` (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function ipAllowed(list: net.BlockList | null, ip: string): boolean {
  if (list === null) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped ? mapped[1]! : ip;
  const family = net.isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function validateJwt(value: unknown): JwtSettings {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError('A jwt profile needs "jwt": {jwksUrl, issuer, audience?, requiredClaims?}.', {
      field: 'jwt',
    });
  const input = value as Record<string, unknown>;
  const extra = Object.keys(input).find(
    (k) => !['jwksUrl', 'issuer', 'audience', 'requiredClaims'].includes(k),
  );
  if (extra !== undefined)
    throw new ValidationError(`"jwt.${extra.slice(0, 60)}" is not a setting of a jwt profile.`, {
      field: 'jwt',
    });
  const jwksUrl = validateHttpUrl(input.jwksUrl, 'jwt.jwksUrl', 'The JWKS URL', true);
  if (typeof input.issuer !== 'string' || input.issuer.trim() === '' || input.issuer.length > MAX_URL_LENGTH)
    throw new ValidationError('"jwt.issuer" must be the `iss` the identity provider puts in its tokens.', {
      field: 'jwt.issuer',
    });
  const audience = input.audience;
  if (
    audience !== undefined &&
    audience !== null &&
    (typeof audience !== 'string' || audience.trim() === '' || audience.length > MAX_URL_LENGTH)
  )
    throw new ValidationError('"jwt.audience" must be a non-empty string (or null: not checked).', {
      field: 'jwt.audience',
    });
  const claims = input.requiredClaims ?? {};
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
    throw new ValidationError('"jwt.requiredClaims" must be an object of claim name → value.', {
      field: 'jwt.requiredClaims',
    });
  const entries = Object.entries(claims as Record<string, unknown>);
  if (entries.length > MAX_REQUIRED_CLAIMS)
    throw new ValidationError(`"jwt.requiredClaims" may name at most ${MAX_REQUIRED_CLAIMS} claims.`, {
      field: 'jwt.requiredClaims',
    });
  const requiredClaims: Record<string, string | number | boolean> = {};
  for (const [name, expected] of entries) {
    if (name === '' || name.length > 100 || !['string', 'number', 'boolean'].includes(typeof expected))
      throw new ValidationError(
        `Required claim "${name.slice(0, 60)}" must have a string, number or boolean value.`,
        {
          field: 'jwt.requiredClaims',
        },
      );
    requiredClaims[name] = expected as string | number | boolean;
  }
  return {
    jwksUrl,
    issuer: input.issuer.trim(),
    audience: typeof audience === 'string' ? audience.trim() : null,
    requiredClaims,
  };
}

function claimsSatisfied(payload: JWTPayload, required: JwtSettings['requiredClaims']): boolean {
  for (const [name, expected] of Object.entries(required)) {
    const actual = payload[name];
    if (Array.isArray(actual) ? !actual.includes(expected) : actual !== expected) return false;
  }
  return true;
}

/** Another node took the name or prefix between the check and the write (PostgreSQL). */
const RACED_COLLECTION = () =>
  new ConflictError('Another API collection took this name or prefix a moment ago.');

// ---- rows -----------------------------------------------------------------------------------

type CollectionRow = Selectable<ApiCollectionsTable> & { endpoint_count?: number | string | bigint };
type EndpointRow = Selectable<ApiEndpointsTable>;
type ProfileRow = Selectable<AccessProfilesTable>;

function toCollection(row: CollectionRow): ApiCollection {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    description: row.description,
    upstreamUrl: row.upstream_url,
    enabled: row.enabled === 1,
    endpointCount: Number(row.endpoint_count ?? 0),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toEndpoint(row: EndpointRow): ApiEndpoint {
  return {
    id: row.id,
    collectionId: row.collection_id,
    name: row.name,
    method: row.method as EndpointMethod,
    path: row.path,
    upstreamPath: row.upstream_path,
    timeoutMs: row.timeout_ms,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function jwtOf(row: ProfileRow): JwtSettings | null {
  if (row.auth_method !== 'jwt' || row.jwt_jwks_url === null || row.jwt_issuer === null) return null;
  return {
    jwksUrl: row.jwt_jwks_url,
    issuer: row.jwt_issuer,
    audience: row.jwt_audience,
    requiredClaims: JSON.parse(row.jwt_required_claims) as JwtSettings['requiredClaims'],
  };
}

const idCursor = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function rowId(ref: number | string): number | undefined {
  const id = rowIdOf(ref);
  return id === NO_SUCH_ROW || id === undefined ? undefined : id;
}

// ---- the service ----------------------------------------------------------------------------

export class PlatformService {
  private readonly epochs: CacheEpochs;
  private readonly catalogCache: EpochCache<'catalog', GatewayCatalog>;
  /** One remote key set per JWKS URL: jose caches the keys and fetches again on an unknown `kid`. */
  private readonly keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
    private readonly clients: ClientsService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.catalogCache = new EpochCache(this.epochs, ['platform'], 1);
  }

  private get db() {
    return this.ctx.store.db;
  }

  private require(principal: Principal): void {
    if (!can(principal, 'gateway.manage')) throw new MissingGrantError('gateway.manage');
  }

  private now(): string {
    return this.ctx.clock.now().toISOString();
  }

  // ---- collections ----

  private selectCollections(executor: Executor = this.db) {
    return executor
      .selectFrom('api_collections')
      .selectAll('api_collections')
      .select((eb) =>
        eb
          .selectFrom('api_endpoints')
          .select(eb.fn.countAll().as('n'))
          .whereRef('api_endpoints.collection_id', '=', 'api_collections.id')
          .as('endpoint_count'),
      );
  }

  /** By id, or by prefix. */
  private async findCollection(ref: number | string, executor: Executor = this.db): Promise<ApiCollection> {
    const id = rowId(ref);
    const text = String(ref).trim().toLowerCase();
    const row =
      id !== undefined
        ? await this.selectCollections(executor).where('api_collections.id', '=', id).executeTakeFirst()
        : PREFIX_SHAPE.test(text)
          ? await this.selectCollections(executor)
              .where('api_collections.prefix', '=', text)
              .executeTakeFirst()
          : undefined;
    if (!row) throw new NotFoundError('API collection', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return toCollection(row as CollectionRow);
  }

  async getCollection(ref: number | string, principal: Principal): Promise<ApiCollection> {
    this.require(principal);
    return this.findCollection(ref);
  }

  /** By id, cursor-paged. */
  async listCollections(query: ListQuery, principal: Principal): Promise<Page<ApiCollection>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.selectCollections();
    if (after !== undefined) q = q.where('api_collections.id', '>', after);
    const rows = await q
      .orderBy('api_collections.id')
      .limit(limit + 1)
      .execute();
    return toPage(rows as CollectionRow[], limit, toCollection, (row) => row.id);
  }

  async createCollection(input: CollectionInput, principal: Principal, actor: Actor): Promise<ApiCollection> {
    this.require(principal);
    const name = validateName(input.name, 'Collection name');
    const prefix = validatePrefix(input.prefix);
    const upstreamUrl = validateHttpUrl(input.upstreamUrl, 'upstreamUrl', 'The upstream URL');
    const description = validateDescription(input.description);
    const enabled = input.enabled === undefined ? true : validateEnabled(input.enabled);
    const id = await this.ctx.store.transaction(async (tx) => {
      await this.checkCollectionUnique(tx, name, prefix);
      const now = this.now();
      let row: { id: number };
      try {
        row = await tx
          .insertInto('api_collections')
          .values({
            name,
            name_key: nameKey(name),
            prefix,
            description,
            upstream_url: upstreamUrl,
            enabled: enabled ? 1 : 0,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error)) throw RACED_COLLECTION();
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'api_collection.created',
        target: { type: 'api_collection', id: row.id },
        details: { name, prefix, upstreamUrl, enabled },
      });
      await this.epochs.bump(tx, 'platform');
      return row.id;
    });
    return this.findCollection(id);
  }

  async updateCollection(
    ref: number | string,
    input: CollectionInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiCollection> {
    this.require(principal);
    const changes: Partial<
      Record<'name' | 'name_key' | 'prefix' | 'description' | 'upstream_url', string>
    > & { enabled?: number } = {};
    const details: Record<string, unknown> = {};
    if (input.name !== undefined) {
      changes.name = validateName(input.name, 'Collection name');
      changes.name_key = nameKey(changes.name);
    }
    if (input.prefix !== undefined) changes.prefix = validatePrefix(input.prefix);
    if (input.upstreamUrl !== undefined)
      changes.upstream_url = validateHttpUrl(input.upstreamUrl, 'upstreamUrl', 'The upstream URL');
    if (input.description !== undefined) changes.description = validateDescription(input.description);
    if (input.enabled !== undefined) changes.enabled = validateEnabled(input.enabled) ? 1 : 0;
    if (Object.keys(changes).length === 0)
      throw new ValidationError('Nothing to change: give name, prefix, description, upstreamUrl or enabled.');
    const id = await this.ctx.store.transaction(async (tx) => {
      const before = await this.findCollection(ref, tx);
      await this.checkCollectionUnique(tx, changes.name, changes.prefix, before.id);
      try {
        await tx
          .updateTable('api_collections')
          .set({ ...changes, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error)) throw RACED_COLLECTION();
        throw error;
      }
      if (changes.name !== undefined) details.name = { from: before.name, to: changes.name };
      if (changes.prefix !== undefined) details.prefix = { from: before.prefix, to: changes.prefix };
      if (changes.upstream_url !== undefined)
        details.upstreamUrl = { from: before.upstreamUrl, to: changes.upstream_url };
      if (changes.description !== undefined) details.description = changes.description;
      if (changes.enabled !== undefined) details.enabled = changes.enabled === 1;
      await this.audit.record(tx, {
        actor,
        action: 'api_collection.updated',
        target: { type: 'api_collection', id: before.id },
        details,
      });
      await this.epochs.bump(tx, 'platform');
      return before.id;
    });
    return this.findCollection(id);
  }

  /** Deletes a collection with its endpoints; profiles lose it from their lists. */
  async deleteCollection(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.ctx.store.transaction(async (tx) => {
      const collection = await this.findCollection(ref, tx);
      await tx.deleteFrom('api_endpoints').where('collection_id', '=', collection.id).execute();
      await tx.deleteFrom('access_profile_collections').where('collection_id', '=', collection.id).execute();
      await tx.deleteFrom('api_collections').where('id', '=', collection.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'api_collection.deleted',
        target: { type: 'api_collection', id: collection.id },
        details: {
          name: collection.name,
          prefix: collection.prefix,
          endpointCount: collection.endpointCount,
        },
      });
      await this.epochs.bump(tx, 'platform');
    });
  }

  /** 409 naming the field when another collection has the name or prefix. */
  private async checkCollectionUnique(
    tx: Executor,
    name: string | undefined,
    prefix: string | undefined,
    except = -1,
  ): Promise<void> {
    if (prefix !== undefined) {
      const taken = await tx
        .selectFrom('api_collections')
        .select('id')
        .where('prefix', '=', prefix)
        .where('id', '!=', except)
        .executeTakeFirst();
      if (taken)
        throw new ConflictError(`Another API collection has the prefix "${prefix}".`, { field: 'prefix' });
    }
    if (name !== undefined) {
      const taken = await tx
        .selectFrom('api_collections')
        .select('id')
        .where('name_key', '=', nameKey(name))
        .where('id', '!=', except)
        .executeTakeFirst();
      if (taken)
        throw new ConflictError(`An API collection named "${name}" already exists.`, { field: 'name' });
    }
  }

  // ---- endpoints ----

  private async findEndpoint(
    collectionId: number,
    ref: number | string,
    executor: Executor = this.db,
  ): Promise<ApiEndpoint> {
    const id = rowId(ref);
    const row =
      id === undefined
        ? undefined
        : await executor
            .selectFrom('api_endpoints')
            .selectAll()
            .where('id', '=', id)
            .where('collection_id', '=', collectionId)
            .executeTakeFirst();
    if (!row) throw new NotFoundError('Endpoint', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return toEndpoint(row);
  }

  async listEndpoints(
    collectionRef: number | string,
    query: ListQuery,
    principal: Principal,
  ): Promise<Page<ApiEndpoint>> {
    this.require(principal);
    const collection = await this.findCollection(collectionRef);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.db.selectFrom('api_endpoints').selectAll().where('collection_id', '=', collection.id);
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, toEndpoint, (row) => row.id);
  }

  async getEndpoint(
    collectionRef: number | string,
    ref: number | string,
    principal: Principal,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const collection = await this.findCollection(collectionRef);
    return this.findEndpoint(collection.id, ref);
  }

  async createEndpoint(
    collectionRef: number | string,
    input: EndpointInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const fields = this.endpointFields(input, undefined);
    const id = await this.ctx.store.transaction(async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const now = this.now();
      let row: { id: number };
      try {
        row = await tx
          .insertInto('api_endpoints')
          .values({ collection_id: collection.id, ...fields, created_at: now, updated_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error)) throw this.endpointConflict(fields.method, fields.path);
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'api_endpoint.created',
        target: { type: 'api_endpoint', id: row.id },
        details: {
          collectionId: collection.id,
          name: fields.name,
          method: fields.method,
          path: fields.path,
          upstreamPath: fields.upstream_path,
        },
      });
      await this.epochs.bump(tx, 'platform');
      return { collectionId: collection.id, id: row.id };
    });
    return this.findEndpoint(id.collectionId, id.id);
  }

  async updateEndpoint(
    collectionRef: number | string,
    ref: number | string,
    input: EndpointInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const given = Object.entries(input).filter(([, v]) => v !== undefined);
    if (given.length === 0)
      throw new ValidationError(
        'Nothing to change: give name, method, path, upstreamPath, timeoutMs or enabled.',
      );
    const id = await this.ctx.store.transaction(async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const before = await this.findEndpoint(collection.id, ref, tx);
      const fields = this.endpointFields(input, before);
      try {
        await tx
          .updateTable('api_endpoints')
          .set({ ...fields, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error)) throw this.endpointConflict(fields.method, fields.path);
        throw error;
      }
      const details: Record<string, unknown> = { collectionId: collection.id };
      for (const [key, value] of given) details[key] = value;
      await this.audit.record(tx, {
        actor,
        action: 'api_endpoint.updated',
        target: { type: 'api_endpoint', id: before.id },
        details,
      });
      await this.epochs.bump(tx, 'platform');
      return { collectionId: collection.id, id: before.id };
    });
    return this.findEndpoint(id.collectionId, id.id);
  }

  async deleteEndpoint(
    collectionRef: number | string,
    ref: number | string,
    principal: Principal,
    actor: Actor,
  ): Promise<void> {
    this.require(principal);
    await this.ctx.store.transaction(async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const endpoint = await this.findEndpoint(collection.id, ref, tx);
      await tx.deleteFrom('api_endpoints').where('id', '=', endpoint.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'api_endpoint.deleted',
        target: { type: 'api_endpoint', id: endpoint.id },
        details: {
          collectionId: collection.id,
          name: endpoint.name,
          method: endpoint.method,
          path: endpoint.path,
        },
      });
      await this.epochs.bump(tx, 'platform');
    });
  }

  /** The columns of an endpoint from `input` over `before` (an update), every field checked. */
  private endpointFields(input: EndpointInput, before: ApiEndpoint | undefined) {
    const name = input.name !== undefined ? validateName(input.name, 'Endpoint name') : before?.name;
    if (name === undefined) throw new ValidationError('Endpoint name must not be empty.', { field: 'name' });
    const method =
      input.method !== undefined
        ? validateMethod(input.method)
        : (before?.method ?? validateMethod(undefined));
    const pathText = input.path !== undefined ? input.path : before?.path;
    const segments = parsePathPattern(pathText, 'path', 'The path');
    const upstreamText =
      input.upstreamPath !== undefined && input.upstreamPath !== null
        ? input.upstreamPath
        : input.path !== undefined
          ? pathText
          : (before?.upstreamPath ?? pathText);
    const upstream = parsePathPattern(upstreamText, 'upstreamPath', 'The upstream path');
    const params = new Set(segments.flatMap((s) => (typeof s === 'string' ? [] : [s.param])));
    const unknown = upstream.find((s) => typeof s !== 'string' && !params.has(s.param));
    if (unknown !== undefined && typeof unknown !== 'string')
      throw new ValidationError(`The upstream path uses ":${unknown.param}", which the path does not have.`, {
        field: 'upstreamPath',
      });
    const timeoutMs =
      input.timeoutMs !== undefined
        ? validateTimeout(input.timeoutMs)
        : (before?.timeoutMs ?? DEFAULT_ENDPOINT_TIMEOUT_MS);
    const enabled = input.enabled !== undefined ? validateEnabled(input.enabled) : (before?.enabled ?? true);
    return {
      name,
      method,
      path: pathText as string,
      path_key: pathKeyOf(segments),
      upstream_path: upstreamText as string,
      timeout_ms: timeoutMs,
      enabled: enabled ? 1 : 0,
    };
  }

  private endpointConflict(method: string, path: string): ConflictError {
    return new ConflictError(
      `The collection has an endpoint for ${method} ${path} already (parameter names aside).`,
      {
        field: 'path',
      },
    );
  }

  // ---- access profiles ----

  private async profileView(row: ProfileRow, executor: Executor = this.db): Promise<AccessProfile> {
    const collections = await executor
      .selectFrom('access_profile_collections')
      .innerJoin('api_collections', 'api_collections.id', 'access_profile_collections.collection_id')
      .select(['api_collections.id', 'api_collections.name', 'api_collections.prefix'])
      .where('access_profile_collections.profile_id', '=', row.id)
      .orderBy('api_collections.id')
      .execute();
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      authMethod: row.auth_method,
      collections,
      ipAllowList: JSON.parse(row.ip_allow) as string[],
      policyId: row.policy_id,
      enabled: row.enabled === 1,
      clientId: row.client_id === null ? null : row.client_id.slice(0, CLIENT_REF_LENGTH),
      tokenPrefix: row.token_prefix,
      jwt: jwtOf(row),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private async findProfileRow(ref: number | string, executor: Executor = this.db): Promise<ProfileRow> {
    const id = rowId(ref);
    const row =
      id !== undefined
        ? await executor.selectFrom('access_profiles').selectAll().where('id', '=', id).executeTakeFirst()
        : typeof ref === 'string' && ref.trim() !== '' && ref.length <= 1000
          ? await executor
              .selectFrom('access_profiles')
              .selectAll()
              .where('name_key', '=', nameKey(ref))
              .executeTakeFirst()
          : undefined;
    if (!row) throw new NotFoundError('Access profile', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return row;
  }

  /** By id or name. */
  async getProfile(ref: number | string, principal: Principal): Promise<AccessProfile> {
    this.require(principal);
    return this.profileView(await this.findProfileRow(ref));
  }

  async listProfiles(query: ListQuery, principal: Principal): Promise<Page<AccessProfile>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.db.selectFrom('access_profiles').selectAll();
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const page = toPage(
      rows,
      limit,
      (row) => row,
      (row) => row.id,
    );
    return {
      items: await Promise.all(page.items.map((row) => this.profileView(row))),
      nextCursor: page.nextCursor,
    };
  }

  /** Collection ids (or prefixes) → ids; 400 naming the first unknown one. */
  private async collectionIds(value: unknown, tx: Executor): Promise<number[]> {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.length > 500)
      throw new ValidationError('"collections" must be a list of collection ids or prefixes (at most 500).', {
        field: 'collections',
      });
    const ids: number[] = [];
    for (const ref of value) {
      if (typeof ref !== 'number' && typeof ref !== 'string')
        throw new ValidationError('"collections" must be a list of collection ids or prefixes.', {
          field: 'collections',
        });
      try {
        ids.push((await this.findCollection(ref, tx)).id);
      } catch (error) {
        if (error instanceof NotFoundError)
          throw new ValidationError(`Unknown API collection "${String(ref).slice(0, 64)}".`, {
            field: 'collections',
          });
        throw error;
      }
    }
    return [...new Set(ids)];
  }

  private async setCollections(tx: Executor, profileId: number, ids: readonly number[]): Promise<void> {
    await tx.deleteFrom('access_profile_collections').where('profile_id', '=', profileId).execute();
    if (ids.length > 0)
      await tx
        .insertInto('access_profile_collections')
        .values(ids.map((id) => ({ profile_id: profileId, collection_id: id })))
        .execute();
  }

  private newApiToken(): { token: string; hash: string; prefix: string } {
    const token = `${API_TOKEN_PREFIX}${randomToken(32)}`;
    return {
      token,
      hash: this.ctx.keyring.hashSecret(API_TOKEN_PURPOSE, token),
      prefix: token.slice(0, API_TOKEN_PREFIX.length + API_TOKEN_SHOWN),
    };
  }

  /** The API client of an oauth2 profile: named after it, scope `gateway` only. */
  private clientInput(name: string, input: ProfileInput) {
    return {
      name: `Access profile: ${name}`.slice(0, MAX_NAME_LENGTH),
      description: 'The credentials of an API platform access profile (gatehouse platform profiles).',
      scopes: [GATEWAY_SCOPE],
      owner: input.owner,
    };
  }

  async createProfile(input: ProfileInput, principal: Principal, actor: Actor): Promise<IssuedProfile> {
    this.require(principal);
    const name = validateName(input.name, 'Profile name');
    const description = validateDescription(input.description);
    const authMethod = validateAuthMethod(input.authMethod);
    const ipAllowList = validateIpAllowList(input.ipAllowList);
    const enabled = input.enabled === undefined ? true : validateEnabled(input.enabled);
    const jwt = authMethod === 'jwt' ? validateJwt(input.jwt) : undefined;
    if (authMethod !== 'jwt' && input.jwt !== undefined && input.jwt !== null)
      throw new ValidationError('"jwt" is only for profiles whose authMethod is jwt.', { field: 'jwt' });
    const { id, credentials } = await this.ctx.store.transaction(async (tx) => {
      const collections = await this.collectionIds(input.collections, tx);
      const now = this.now();
      let credentials: ProfileCredentials = { type: 'jwt' };
      let clientId: string | null = null;
      let token: ReturnType<PlatformService['newApiToken']> | undefined;
      if (authMethod === 'oauth2') {
        const issued = await this.clients.createIn(tx, this.clientInput(name, input), actor);
        clientId = issued.clientId;
        credentials = { type: 'oauth2', clientId: issued.clientId, clientSecret: issued.clientSecret };
      } else if (authMethod === 'token') {
        token = this.newApiToken();
        credentials = { type: 'token', apiToken: token.token };
      }
      let row: { id: number };
      try {
        row = await tx
          .insertInto('access_profiles')
          .values({
            name,
            name_key: nameKey(name),
            description,
            auth_method: authMethod,
            client_id: clientId,
            token_hash: token?.hash ?? null,
            token_prefix: token?.prefix ?? null,
            jwt_jwks_url: jwt?.jwksUrl ?? null,
            jwt_issuer: jwt?.issuer ?? null,
            jwt_audience: jwt?.audience ?? null,
            jwt_required_claims: JSON.stringify(jwt?.requiredClaims ?? {}),
            ip_allow: JSON.stringify(ipAllowList),
            policy_id: null,
            enabled: enabled ? 1 : 0,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ConflictError(`An access profile named "${name}" already exists.`, { field: 'name' });
        throw error;
      }
      await this.setCollections(tx, row.id, collections);
      await this.audit.record(tx, {
        actor,
        action: 'access_profile.created',
        target: { type: 'access_profile', id: row.id },
        details: {
          name,
          authMethod,
          collections,
          ipAllowList,
          enabled,
          ...(clientId ? { clientId } : {}),
          ...(jwt ? { jwt } : {}),
        },
      });
      await this.epochs.bump(tx, 'platform');
      return { id: row.id, credentials };
    });
    return { profile: await this.profileView(await this.findProfileRow(id)), credentials };
  }

  /** Changes name, description, collections, IP allow-list, enabled, and a jwt profile's IdP settings (not the method). */
  async updateProfile(
    ref: number | string,
    input: ProfileInput,
    principal: Principal,
    actor: Actor,
  ): Promise<AccessProfile> {
    this.require(principal);
    if (input.authMethod !== undefined)
      throw new ValidationError(
        'The authentication method of a profile cannot change: create another profile.',
        { field: 'authMethod' },
      );
    if (input.owner !== undefined)
      throw new ValidationError('"owner" is given only when an oauth2 profile is created.', {
        field: 'owner',
      });
    const changes: Partial<Record<'name' | 'name_key' | 'description' | 'ip_allow', string>> & {
      enabled?: number;
    } = {};
    const details: Record<string, unknown> = {};
    if (input.name !== undefined) {
      changes.name = validateName(input.name, 'Profile name');
      changes.name_key = nameKey(changes.name);
      details.name = changes.name;
    }
    if (input.description !== undefined)
      changes.description = details.description = validateDescription(input.description);
    if (input.ipAllowList !== undefined) {
      const list = validateIpAllowList(input.ipAllowList);
      changes.ip_allow = JSON.stringify(list);
      details.ipAllowList = list;
    }
    if (input.enabled !== undefined) {
      changes.enabled = validateEnabled(input.enabled) ? 1 : 0;
      details.enabled = changes.enabled === 1;
    }
    const given =
      Object.keys(changes).length > 0 || input.collections !== undefined || input.jwt !== undefined;
    if (!given)
      throw new ValidationError(
        'Nothing to change: give name, description, collections, ipAllowList, enabled or jwt.',
      );
    const id = await this.ctx.store.transaction(async (tx) => {
      const before = await this.findProfileRow(ref, tx);
      const jwtChanges: Partial<ProfileRow> = {};
      if (input.jwt !== undefined) {
        if (before.auth_method !== 'jwt')
          throw new ValidationError('"jwt" is only for profiles whose authMethod is jwt.', { field: 'jwt' });
        const jwt = validateJwt(input.jwt);
        Object.assign(jwtChanges, {
          jwt_jwks_url: jwt.jwksUrl,
          jwt_issuer: jwt.issuer,
          jwt_audience: jwt.audience,
          jwt_required_claims: JSON.stringify(jwt.requiredClaims),
        });
        details.jwt = jwt;
      }
      try {
        await tx
          .updateTable('access_profiles')
          .set({ ...changes, ...jwtChanges, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ConflictError(`An access profile named "${changes.name}" already exists.`, {
            field: 'name',
          });
        throw error;
      }
      if (input.collections !== undefined) {
        const ids = await this.collectionIds(input.collections, tx);
        await this.setCollections(tx, before.id, ids);
        details.collections = ids;
      }
      await this.audit.record(tx, {
        actor,
        action: 'access_profile.updated',
        target: { type: 'access_profile', id: before.id },
        details,
      });
      await this.epochs.bump(tx, 'platform');
      return before.id;
    });
    return this.profileView(await this.findProfileRow(id));
  }

  /**
   * New credentials, shown once: oauth2 → a new client secret (the client's rotation, the old
   * secret ends at once unless `graceSeconds` says otherwise); token → a new API token (the old
   * one stops at once). A jwt profile has no credential of its own: 409.
   */
  async regenerateCredentials(
    ref: number | string,
    options: { graceSeconds?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<IssuedProfile> {
    this.require(principal);
    const row = await this.findProfileRow(ref);
    let credentials: ProfileCredentials;
    if (row.auth_method === 'oauth2' && row.client_id !== null) {
      // The profile's client is managed through the profile: gateway.manage, not client ownership.
      const rotated = await this.clients.rotateSecret(
        row.client_id,
        { graceSeconds: options.graceSeconds ?? 0 },
        actor,
        OPERATOR,
      );
      credentials = { type: 'oauth2', clientId: rotated.clientId, clientSecret: rotated.clientSecret };
    } else if (row.auth_method === 'token') {
      const token = this.newApiToken();
      await this.ctx.store.transaction(async (tx) => {
        await tx
          .updateTable('access_profiles')
          .set({ token_hash: token.hash, token_prefix: token.prefix, updated_at: this.now() })
          .where('id', '=', row.id)
          .execute();
        await this.audit.record(tx, {
          actor,
          action: 'access_profile.token_regenerated',
          target: { type: 'access_profile', id: row.id },
          details: { prefix: token.prefix },
        });
        await this.epochs.bump(tx, 'platform');
      });
      credentials = { type: 'token', apiToken: token.token };
    } else {
      throw new ConflictError(
        'A jwt profile has no credentials of its own: its identity provider issues the tokens.',
      );
    }
    return { profile: await this.profileView(await this.findProfileRow(row.id)), credentials };
  }

  /** Deletes a profile; an oauth2 profile's API client is revoked in the same transaction. */
  async deleteProfile(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findProfileRow(ref, tx);
      await tx.deleteFrom('access_profiles').where('id', '=', row.id).execute();
      if (row.client_id !== null) await this.clients.revokeIn(tx, row.client_id, actor);
      await this.audit.record(tx, {
        actor,
        action: 'access_profile.deleted',
        target: { type: 'access_profile', id: row.id },
        details: {
          name: row.name,
          authMethod: row.auth_method,
          ...(row.client_id ? { clientId: row.client_id } : {}),
        },
      });
      await this.epochs.bump(tx, 'platform');
    });
  }

  // ---- for the gateway and the guard ----

  /** The catalog as of the last platform change (one load per change per process). */
  catalog(): Promise<GatewayCatalog> {
    return this.catalogCache.get('catalog', () => this.loadCatalog());
  }

  /** The access profile of a static API token (any enabled state), or undefined. */
  async profileOfApiToken(token: string): Promise<CatalogProfile | undefined> {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return undefined;
    const catalog = await this.catalog();
    return catalog.profileByTokenHash.get(this.ctx.keyring.hashSecret(API_TOKEN_PURPOSE, token));
  }

  /** The oauth2 access profile whose API client is `clientId`, or undefined. */
  async profileOfClient(clientId: string): Promise<CatalogProfile | undefined> {
    return (await this.catalog()).profileByClientId.get(clientId);
  }

  /**
   * The enabled jwt profile an outside IdP's token is for, with the verified claims: the token's
   * `iss` names the candidates, then signature (the profile's JWKS), `exp`/`nbf`, audience and
   * required claims decide. Undefined when none accepts it.
   */
  async verifyIdpJwt(token: string): Promise<{ profile: CatalogProfile; claims: JWTPayload } | undefined> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    if (issuer === undefined) return undefined;
    const candidates = (await this.catalog()).jwtProfilesByIssuer.get(issuer) ?? [];
    for (const profile of candidates) {
      const settings = profile.jwt;
      if (settings === null) continue;
      try {
        const { payload } = await jwtVerify(token, this.keySet(settings.jwksUrl), {
          issuer: settings.issuer,
          ...(settings.audience === null ? {} : { audience: settings.audience }),
          clockTolerance: IDP_JWT_CLOCK_SKEW_SECONDS,
          currentDate: this.ctx.clock.now(),
        });
        if (claimsSatisfied(payload, settings.requiredClaims)) return { profile, claims: payload };
      } catch (error) {
        this.ctx.log.debug(
          { err: error, profile: profile.id },
          'an outside JWT did not verify for an access profile',
        );
      }
    }
    return undefined;
  }

  private keySet(url: string): ReturnType<typeof createRemoteJWKSet> {
    let set = this.keySets.get(url);
    if (!set) {
      set = createRemoteJWKSet(new URL(url), {
        cooldownDuration: this.ctx.config.gatewayJwksCooldownSeconds * 1000,
        cacheMaxAge: 10 * 60_000,
        timeoutDuration: 5000,
      });
      this.keySets.set(url, set);
    }
    return set;
  }

  private async loadCatalog(): Promise<GatewayCatalog> {
    const [collections, endpoints, profiles, links] = await Promise.all([
      this.db.selectFrom('api_collections').selectAll().where('enabled', '=', 1).execute(),
      this.db.selectFrom('api_endpoints').selectAll().where('enabled', '=', 1).orderBy('id').execute(),
      this.db.selectFrom('access_profiles').selectAll().execute(),
      this.db.selectFrom('access_profile_collections').selectAll().execute(),
    ]);
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
      };
      profileMap.set(row.id, profile);
      if (row.client_id !== null) byClient.set(row.client_id, profile);
      if (row.token_hash !== null) byToken.set(row.token_hash, profile);
      if (profile.jwt !== null && profile.enabled)
        byIssuer.set(profile.jwt.issuer, [...(byIssuer.get(profile.jwt.issuer) ?? []), profile]);
    }
    return new GatewayCatalog(collectionMap, profileMap, byClient, byToken, byIssuer);
  }
}

/** Whether a JWT names an issuer other than `own` (cheap, unverified: which resolver it belongs to). */
export function foreignIssuer(token: string, own: string): boolean {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' && iss !== own;
  } catch {
    return false;
  }
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
