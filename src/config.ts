/**
 * Every Gatehouse setting, its default and its validation.
 *
 * `loadConfig` is pure: it is handed the environment (only `src/main.ts` reads
 * `process.env`) and returns a frozen object. An unusable value throws a
 * `ConfigError` naming the variable; `main.ts` prints that one line and exits 1.
 * The README's configuration table is copied from `SETTINGS` below.
 *
 * Every variable is read through a `SettingsReader`, which also records the value in effect and
 * where it came from (default, environment, or a command-line flag); `inspectConfig` returns
 * that record for `gatehouse config show`, secrets masked.
 */
import os from 'node:os';
import path from 'node:path';
import type { TlsFiles } from './tls.js';
import { MIN_WORKER_HEAP_MB } from './worker-heap.js';

export type TokenAlg = 'RS256' | 'ES256' | 'EdDSA';
export const TOKEN_ALGS: readonly TokenAlg[] = ['RS256', 'ES256', 'EdDSA'];
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
export type LogFormat = 'auto' | 'json' | 'pretty';
const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];
/** The port Prometheus exporters conventionally use for an application's metrics (OpenTelemetry's exporter too). */
export const DEFAULT_METRICS_PORT = 9464;

export interface Config {
  /** TCP port the HTTP server listens on. */
  readonly port: number;
  /** Address the HTTP server binds. */
  readonly host: string;
  /** Absolute path of the data directory (SQLite file, generated secret key). */
  readonly dataDir: string;
  /** `postgres://…` URL, or undefined for the embedded SQLite file. */
  readonly databaseUrl: string | undefined;
  /** PostgreSQL schema to work in (tests use a fresh one per run); undefined = server default. */
  readonly databaseSchema: string | undefined;
  /** Raw bytes of GATEHOUSE_SECRET_KEY, or undefined when it must be generated/read from the data dir. */
  readonly secretKey: Buffer | undefined;
  /** Serve HTTPS with these PEM files (both set), or plain HTTP (neither). */
  readonly tls: TlsFiles | undefined;
  /** Public base URL (no trailing slash); the `iss` of every token. */
  readonly issuer: string;
  /** `aud` of every access token. */
  readonly audience: string;
  /** Instance / customer name put in tokens (`customer` claim). */
  readonly customer: string;
  /** Environment label put in tokens (`env` claim). */
  readonly environment: string;
  readonly logLevel: LogLevel;
  /** `auto`: human-readable (pino-pretty) when stdout is a terminal, JSON lines otherwise. */
  readonly logFormat: LogFormat;
  /**
   * Port of the metrics listener (`GET /metrics`, Prometheus text), or null when it is off.
   * A listener of its own rather than a route of the main app: Prometheus scrapes it without a
   * credential, and it stays out of reach as long as it is bound to loopback (the default) or to
   * an internal interface; the main port can face the internet without exposing it.
   */
  readonly metricsPort: number | null;
  /** Address the metrics listener binds (loopback by default; anything else logs a warning). */
  readonly metricsHost: string;
  readonly adminEmail: string | undefined;
  readonly adminPassword: string | undefined;
  /** Default access-token lifetime in seconds for new API clients. */
  readonly tokenTtlSeconds: number;
  readonly tokenAlg: TokenAlg;
  /** Rotate the signing key automatically every N days; 0 = never. */
  readonly keyRotationDays: number;
  /** Delete audit events older than N days (in small batches, by the serving process); 0 = keep all. */
  readonly auditRetentionDays: number;
  /** Delete API platform call logs and their per-minute and per-hour counters older than N days (hourly, in small batches); 0 = keep all. */
  readonly platformLogRetentionDays: number;
  /** Number of HTTP worker processes; 1 = a single process. */
  readonly workers: number;
  /** Maximum workflow instances running at once per node. */
  readonly workflowConcurrency: number;
  /**
   * Each cluster worker's V8 old-space limit in MB: null = computed from the cache sizes and
   * workflow limits (src/worker-heap.ts), 0 = V8's own default.
   */
  readonly workerHeapMb: number | null;
  /** How often each process polls the cache epochs (the safety net behind the cluster relay and NOTIFY). */
  readonly cachePollMs: number;
  /** Hosts a workflow `http` step may call (exact host names, or `*.example.com`). */
  readonly workflowHttpAllow: readonly string[];
  /** Trust X-Forwarded-* headers (behind a reverse proxy). */
  readonly trustProxy: boolean;
  /** Verified access tokens kept per process (least recently used dropped first). */
  readonly tokenCacheSize: number;
  /** API clients (with their secret hashes) kept per process (least recently used dropped first). */
  readonly clientCacheSize: number;
  /** Deepest nesting of arrays and objects a JSON request body may have. */
  readonly maxJsonDepth: number;
  /** Wall-clock limit of one batch of workflow expression evaluations; the thread is killed past it. */
  readonly workflowExpressionTimeoutMs: number;
  /** Heap cap (MB) of each workflow expression thread. */
  readonly workflowExpressionHeapMb: number;
  /** Largest JSON size (bytes) of one workflow variable, step output or log line. */
  readonly workflowMaxValueBytes: number;
  /** Largest JSON size (bytes) of a run's whole state: variables, outputs and log lines. */
  readonly workflowMaxRunBytes: number;
  /** Largest CSV upload to a dataset (bytes after gzip is undone); the body is streamed, memory stays bounded. */
  readonly datasetMaxUploadBytes: number;
  /** Wall-clock limit of one dataset query. */
  readonly datasetQueryTimeoutMs: number;
  /** Most rows one dataset query may return (more → 400). */
  readonly datasetQueryMaxRows: number;
  /**
   * Hours an ACTIVE stream execution may go without a part, commit or abort before the background
   * maintenance aborts it and drops its parts: uploaded parts hold staging tables (disk), and a
   * client that crashed for good never comes back to abort. A day leaves room to resume after a
   * crash or a night; 0 < N.
   */
  readonly streamExecutionTtlHours: number;
  /**
   * API platform, jwt access profiles: the least time between two fetches of an identity
   * provider's JWKS when a token names a key id it does not have (jose's cooldown).
   */
  readonly gatewayJwksCooldownSeconds: number;
  /**
   * API platform, OpenAPI import from a URL: the URL prefixes a document may be fetched from
   * (empty: URL import off). The list is the whole SSRF boundary: nothing else is fetched, and a
   * redirect is followed only to a URL on it.
   */
  readonly platformImportUrls: readonly string[];
  /** `redis://…`: keep the throttle counters in Redis instead of the database. */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key Gatehouse writes (instances sharing one Redis need different ones). */
  readonly redisPrefix: string;
  /** Failed-attempt limits of sign-in and client authentication. */
  readonly throttle: ThrottleLimits;
}

/** At most `max` failed attempts per fixed window of `windowSeconds` (counted from the first attempt). */
export interface RateLimit {
  readonly max: number;
  readonly windowSeconds: number;
}

export interface ThrottleLimits {
  /** Admin sign-in, per account (email) and source address. */
  readonly signIn: RateLimit;
  /** Admin sign-in, per account from all addresses together (the global ceiling). */
  readonly signInAccount: RateLimit;
  /** Admin sign-in, per source address over all accounts. */
  readonly signInAddress: RateLimit;
  /** Client authentication (token endpoints, introspection, revocation), per client ID and source address. */
  readonly client: RateLimit;
  /** Client authentication, per client ID from all addresses together (the global ceiling). */
  readonly clientId: RateLimit;
  /** Client authentication, per source address over all client IDs. */
  readonly clientAddress: RateLimit;
}

/** The variable, default and meaning of each throttle limit (the README lists them). */
const THROTTLE_SETTINGS: ReadonlyArray<{ variable: string; default: string; meaning: string }> = [
  {
    variable: 'GATEHOUSE_THROTTLE_SIGNIN',
    default: '5/15m',
    meaning: 'failed admin sign-ins per account and source address',
  },
  {
    variable: 'GATEHOUSE_THROTTLE_SIGNIN_ACCOUNT',
    default: '100/1h',
    meaning: 'failed admin sign-ins per account from all addresses (global ceiling)',
  },
  {
    variable: 'GATEHOUSE_THROTTLE_SIGNIN_ADDRESS',
    default: '20/15m',
    meaning: 'failed admin sign-ins per source address over all accounts',
  },
  {
    variable: 'GATEHOUSE_THROTTLE_CLIENT',
    default: '20/1m',
    meaning:
      'failed client authentications (token, introspection, revocation) per client ID and source address',
  },
  {
    variable: 'GATEHOUSE_THROTTLE_CLIENT_ID',
    default: '1000/1h',
    meaning: 'failed client authentications per client ID from all addresses (global ceiling)',
  },
  {
    variable: 'GATEHOUSE_THROTTLE_CLIENT_ADDRESS',
    default: '100/1m',
    meaning: 'failed client authentications per source address over all client IDs',
  },
];

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Documentation of every variable; the README table is generated from this. */
export const SETTINGS: ReadonlyArray<{ variable: string; default: string; meaning: string }> = [
  { variable: 'PORT', default: '8080', meaning: 'TCP port to listen on (0–65535)' },
  {
    variable: 'HOST',
    default: '127.0.0.1',
    meaning: 'address to bind; plain HTTP on a non-loopback address logs a warning',
  },
  {
    variable: 'GATEHOUSE_DATA_DIR',
    default: './data',
    meaning: 'where the SQLite file and generated local secrets live',
  },
  {
    variable: 'GATEHOUSE_DATABASE_URL',
    default: 'unset → SQLite file `<data dir>/gatehouse.db`',
    meaning: '`postgres://…` switches to PostgreSQL',
  },
  {
    variable: 'GATEHOUSE_DATABASE_SCHEMA',
    default: "unset → the server's search path (normally `public`)",
    meaning:
      'PostgreSQL schema to keep the tables in (created if missing); lets instances share one database',
  },
  {
    variable: 'GATEHOUSE_SECRET_KEY',
    default: 'generated into `<data dir>/secret.key` (mode 0600) on first SQLite start',
    meaning:
      '32+ random bytes, base64; keys the HMAC of stored secrets and encrypts private signing keys. Required with PostgreSQL',
  },
  {
    variable: 'GATEHOUSE_TLS_CERT / GATEHOUSE_TLS_KEY',
    default: 'unset → plain HTTP',
    meaning:
      'PEM certificate chain and private key: serve HTTPS (HTTP/1.1). Both or neither; checked at start-up (the key must match), read again on SIGHUP without dropping connections. `gatehouse tls self-signed` writes a development pair',
  },
  {
    variable: 'GATEHOUSE_ISSUER',
    default: '`http://localhost:<PORT>` (`https://…` with TLS)',
    meaning: 'public base URL of this instance (`iss`)',
  },
  { variable: 'GATEHOUSE_AUDIENCE', default: 'the issuer', meaning: '`aud` claim of access tokens' },
  { variable: 'GATEHOUSE_CUSTOMER', default: 'gatehouse', meaning: 'instance / customer name put in tokens' },
  { variable: 'GATEHOUSE_ENV', default: 'prod1', meaning: 'environment label put in tokens' },
  {
    variable: 'GATEHOUSE_LOG_LEVEL',
    default: 'info',
    meaning: 'pino level: fatal, error, warn, info, debug, trace, silent',
  },
  {
    variable: 'GATEHOUSE_LOG_FORMAT',
    default: 'auto',
    meaning:
      '`pretty` (human-readable lines, pino-pretty), `json` (one JSON object per line), or `auto`: pretty when stdout is a terminal, JSON otherwise',
  },
  {
    variable: 'GATEHOUSE_METRICS_PORT',
    default: String(DEFAULT_METRICS_PORT),
    meaning:
      'port of the Prometheus metrics listener (`GET /metrics`, every worker added up; nothing else is served there); `off` disables it, `0` takes a free port. Already in use → a warning, and Gatehouse serves without metrics',
  },
  {
    variable: 'GATEHOUSE_METRICS_HOST',
    default: '127.0.0.1',
    meaning:
      'address the metrics listener binds; it has no authentication, so anything but loopback logs a warning (bind an internal interface only)',
  },
  {
    variable: 'GATEHOUSE_ADMIN_EMAIL / GATEHOUSE_ADMIN_PASSWORD',
    default: 'unset',
    meaning: 'bootstrap admin on first start (else `admin@localhost` with a generated password printed once)',
  },
  {
    variable: 'GATEHOUSE_TOKEN_TTL',
    default: '3600',
    meaning: 'default access-token lifetime in seconds (60–86400)',
  },
  {
    variable: 'GATEHOUSE_TOKEN_ALG',
    default: 'RS256',
    meaning: 'access-token signing algorithm: RS256, ES256 or EdDSA',
  },
  {
    variable: 'GATEHOUSE_KEY_ROTATION_DAYS',
    default: '0',
    meaning: 'rotate the signing key every N days (0 = only by hand)',
  },
  {
    variable: 'GATEHOUSE_AUDIT_RETENTION_DAYS',
    default: '400',
    meaning:
      'delete audit events older than N days (0–36500; 0 = keep everything), 1,000 per statement, hourly; archive first with `gatehouse audit export`',
  },
  {
    variable: 'GATEHOUSE_WORKERS',
    default: 'number of cores',
    meaning: 'HTTP worker processes (1 = single process)',
  },
  {
    variable: 'GATEHOUSE_WORKER_HEAP_MB',
    default: 'auto',
    meaning:
      "each cluster worker's V8 heap limit in MB (`--max-old-space-size`; ≥ 64, or 0 = V8's own default, about a sixth of the machine's memory). auto: computed from the cache sizes, the workflow limits and a measured baseline: 299 MB at the defaults (README › Scale: worker memory). A node flag given in NODE_OPTIONS wins; a single process (GATEHOUSE_WORKERS=1) is not bounded",
  },
  {
    variable: 'GATEHOUSE_CACHE_POLL_MS',
    default: '300',
    meaning:
      'how often each process re-reads the cache epochs (10–3600000 ms); the safety net behind the cluster relay and PostgreSQL NOTIFY',
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_CONCURRENCY',
    default: '8',
    meaning: 'workflow instances running at once per serving process (each cluster worker runs an engine)',
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_HTTP_ALLOW',
    default: 'empty',
    meaning:
      'comma-separated hosts a workflow `http` step may call (`api.example.com`, `*.example.com`, `127.0.0.1:9000`)',
  },
  {
    variable: 'GATEHOUSE_TRUST_PROXY',
    default: 'false',
    meaning: 'trust X-Forwarded-For/-Proto from a reverse proxy',
  },
  {
    variable: 'GATEHOUSE_TOKEN_CACHE_SIZE',
    default: '10000',
    meaning:
      'access tokens whose verified signature each process remembers (1–1000000, about 1.1 KB each); past it the least recently used is dropped and costs one signature check when it returns',
  },
  {
    variable: 'GATEHOUSE_CLIENT_CACHE_SIZE',
    default: '100000',
    meaning:
      'API clients each process remembers for the token endpoint (1–1000000, about 0.3 KB each: 100,000 take ~30 MB per worker); past it the least recently used is dropped and costs one query when it returns. Set it above the number of clients that ask within a token lifetime',
  },
  {
    variable: 'GATEHOUSE_MAX_JSON_DEPTH',
    default: '64',
    meaning:
      'deepest nesting of arrays/objects in a JSON request body (deeper → 400), and in a workflow value (8–512)',
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS',
    default: '1000',
    meaning:
      "wall-clock limit of one step's expression evaluation; past it the expression thread is killed and the run fails (10–60000)",
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB',
    default: '64',
    meaning: 'heap cap of each workflow expression thread, in MB (16–4096)',
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES',
    default: '1048576 (1 MiB)',
    meaning: 'largest JSON size of one workflow variable, step output (http response included) or log line',
  },
  {
    variable: 'GATEHOUSE_WORKFLOW_MAX_RUN_BYTES',
    default: '16777216 (16 MiB)',
    meaning: "largest JSON size of a run's whole state: variables, outputs and log lines together",
  },
  {
    variable: 'GATEHOUSE_DATASET_MAX_UPLOAD_BYTES',
    default: '1073741824 (1 GiB)',
    meaning: 'largest CSV upload to a dataset, counted after gzip is undone (streamed: memory stays bounded)',
  },
  {
    variable: 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS',
    default: '10000',
    meaning:
      'wall-clock limit of one dataset query (POST /v1/datasets/query/execute/{id}), waiting for a free query slot included; past it the query is stopped (PostgreSQL statement_timeout; SQLite: its process is killed) → 400 query_timeout (10–600000)',
  },
  {
    variable: 'GATEHOUSE_DATASET_QUERY_MAX_ROWS',
    default: '100000',
    meaning: 'most rows one dataset query may return; more → 400 query_result_too_large (1–10000000)',
  },
  {
    variable: 'GATEHOUSE_STREAM_EXECUTION_TTL_HOURS',
    default: '24',
    meaning:
      'an ACTIVE stream execution with no part, commit or abort for this long is aborted and its parts dropped (1–8760)',
  },
  {
    variable: 'GATEHOUSE_PLATFORM_LOG_RETENTION_DAYS',
    default: '30',
    meaning:
      'API platform: delete call logs and their per-minute and per-hour counters older than N days (0–36500; 0 = keep everything), 1,000 per statement, hourly; see [Call logs and counters](#call-logs-and-counters)',
  },
  {
    variable: 'GATEHOUSE_GATEWAY_JWKS_COOLDOWN_SECONDS',
    default: '30',
    meaning:
      "API platform, jwt access profiles: least seconds between two fetches of an identity provider's JWKS when a token names an unknown key id (0–3600; keys are otherwise cached 10 minutes)",
  },
  {
    variable: 'GATEHOUSE_PLATFORM_IMPORT_URLS',
    default: 'empty → URL import off',
    meaning:
      'API platform: comma-separated http(s) URL prefixes an OpenAPI document may be imported from (`POST …/collections/{id}/import` with `{"url"}`); nothing else is fetched, redirects only to URLs on the list',
  },
  {
    variable: 'GATEHOUSE_REDIS_URL',
    default: 'unset → throttle counters in the database',
    meaning:
      '`redis://…` or `rediss://…`: keep the throttle counters and the API platform policy counters in Redis (shared by every worker and node)',
  },
  {
    variable: 'GATEHOUSE_REDIS_PREFIX',
    default: 'gatehouse:',
    meaning: 'prefix of every Redis key; give instances that share one Redis different prefixes',
  },
  ...THROTTLE_SETTINGS.map(({ variable, default: fallback, meaning }) => ({
    variable,
    default: fallback,
    meaning: `${meaning}; \`<count>/<window>\`, the window in \`s\`, \`m\` or \`h\``,
  })),
];

export type Env = Readonly<Record<string, string | undefined>>;

/** Where the value in effect came from. */
export type SettingSource = 'default' | 'environment' | 'flag';

/** One variable as `gatehouse config show` prints it; secrets are masked before they get here. */
export interface EffectiveSetting {
  readonly variable: string;
  /** The value in effect as text, masked when secret; null when unset. */
  readonly value: string | null;
  readonly source: SettingSource;
  /** What an unset value means here (e.g. where the secret key is read from instead). */
  readonly note?: string;
}

/** How a value is shown: as is, hidden entirely, or a URL with its password hidden. */
type Mask = 'none' | 'secret' | 'url';

export const MASKED = '********';

/** A URL with its password (and any `password=` query parameter) replaced by `********`. */
export function maskUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return MASKED;
  }
  if (url.password !== '') url.password = MASKED;
  for (const key of [...url.searchParams.keys()]) {
    if (/pass|secret|key/i.test(key)) url.searchParams.set(key, MASKED);
  }
  return url.toString().replace(/%2A/g, '*');
}

/**
 * The environment, with command-line flags over it, as loadConfig reads it. It remembers each
 * variable read, the value in effect and its source, in the order read.
 */
class SettingsReader {
  readonly effective = new Map<string, EffectiveSetting>();

  constructor(
    private readonly env: Env,
    private readonly flags: Env,
  ) {}

  /** The raw text of `variable` (a flag over the environment), or undefined when unset or blank. */
  raw(variable: string): string | undefined {
    for (const layer of [this.flags, this.env]) {
      const value = layer[variable];
      if (value !== undefined && value.trim() !== '') return value;
    }
    return undefined;
  }

  private source(variable: string): SettingSource {
    const set = (layer: Env) => layer[variable] !== undefined && layer[variable]!.trim() !== '';
    return set(this.flags) ? 'flag' : set(this.env) ? 'environment' : 'default';
  }

  /** Records the value in effect for `variable`; returns it. */
  note<T>(variable: string, value: T, options: { mask?: Mask; text?: string; note?: string } = {}): T {
    let text: string | null = options.text ?? displayValue(value);
    if (text !== null && options.mask === 'secret') text = MASKED;
    if (text !== null && options.mask === 'url') text = maskUrl(text);
    this.effective.set(variable, {
      variable,
      value: text,
      source: this.source(variable),
      ...(options.note !== undefined && text === null ? { note: options.note } : {}),
    });
    return value;
  }
}

function displayValue(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (Array.isArray(value)) return value.length === 0 ? null : value.join(',');
  return String(value);
}

function readInt(env: SettingsReader, variable: string, fallback: number, min: number, max: number): number {
  const raw = env.raw(variable);
  if (raw === undefined) return env.note(variable, fallback);
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(variable, `must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max)
    throw new ConfigError(variable, `must be between ${min} and ${max}, got ${value}`);
  return env.note(variable, value);
}

/** The trimmed text of `variable`, or undefined when unset or blank (not recorded: the caller notes the value in effect). */
function readText(env: SettingsReader, variable: string): string | undefined {
  return env.raw(variable)?.trim();
}

/** A plain text setting, trimmed, with its default. */
function readString(env: SettingsReader, variable: string, fallback: string): string {
  return env.note(variable, readText(env, variable) ?? fallback);
}

function readUrl(env: SettingsReader, variable: string, protocols: readonly string[]): string | undefined {
  const raw = env.raw(variable);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // The text may hold a password: never echo that part.
    throw new ConfigError(
      variable,
      `is not a valid URL: "${raw.replace(/(\/\/[^/@:]*:)[^@/]*@/, `$1${MASKED}@`)}"`,
    );
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `must use ${protocols.join(' or ')}, got "${url.protocol}"`);
  }
  return raw.trim();
}

function readBool(env: SettingsReader, variable: string, fallback: boolean): boolean {
  const raw = env.raw(variable)?.trim().toLowerCase();
  if (raw === undefined) return env.note(variable, fallback);
  if (['1', 'true', 'yes', 'on'].includes(raw)) return env.note(variable, true);
  if (['0', 'false', 'no', 'off'].includes(raw)) return env.note(variable, false);
  throw new ConfigError(variable, `must be true or false, got "${env.raw(variable)}"`);
}

const WINDOW_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/** `<count>/<window>`, e.g. `5/15m`: at most `count` (1–1,000,000) per window (1 s – 24 h). */
export function parseRateLimit(raw: string, variable: string): RateLimit {
  const match = /^\s*(\d{1,7})\s*\/\s*(\d{1,5})\s*([smh])\s*$/.exec(raw);
  if (!match)
    throw new ConfigError(variable, `must look like 5/15m (count/window in s, m or h), got "${raw}"`);
  const max = Number(match[1]);
  const windowSeconds = Number(match[2]) * WINDOW_UNITS[match[3]!]!;
  if (max < 1 || max > 1_000_000)
    throw new ConfigError(variable, `count must be between 1 and 1000000, got ${max}`);
  if (windowSeconds < 1 || windowSeconds > 86_400) {
    throw new ConfigError(variable, `window must be between 1s and 24h, got ${windowSeconds}s`);
  }
  return Object.freeze({ max, windowSeconds });
}

/** One throttle limit, its default from THROTTLE_SETTINGS. */
function readRateLimit(env: SettingsReader, variable: string): RateLimit {
  const fallback = THROTTLE_SETTINGS.find((setting) => setting.variable === variable)!.default;
  const text = readText(env, variable) ?? fallback;
  const limit = parseRateLimit(text, variable);
  env.note(variable, limit, { text: text.replace(/\s+/g, '') });
  return limit;
}

/** Decodes GATEHOUSE_SECRET_KEY (base64 or base64url) and insists on 32+ bytes. */
export function parseSecretKey(raw: string, variable = 'GATEHOUSE_SECRET_KEY'): Buffer {
  const text = raw.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new ConfigError(variable, 'must be base64');
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes.length < 32) {
    throw new ConfigError(
      variable,
      `must decode to at least 32 bytes, got ${bytes.length} (try: openssl rand -base64 32)`,
    );
  }
  return bytes;
}

/**
 * GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY: both or neither. The files are read and checked when
 * the server starts (src/tls.ts, with errors naming the variable), and read again on SIGHUP.
 */
function readTlsFiles(env: SettingsReader, cwd: string): TlsFiles | undefined {
  const certFile = readText(env, 'GATEHOUSE_TLS_CERT');
  const keyFile = readText(env, 'GATEHOUSE_TLS_KEY');
  const resolved = (file: string | undefined) => (file === undefined ? undefined : path.resolve(cwd, file));
  env.note('GATEHOUSE_TLS_CERT', resolved(certFile), { note: 'plain HTTP' });
  env.note('GATEHOUSE_TLS_KEY', resolved(keyFile), { note: 'plain HTTP' });
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined) {
    throw new ConfigError(
      'GATEHOUSE_TLS_CERT',
      'must be set with GATEHOUSE_TLS_KEY (the certificate for that key)',
    );
  }
  if (keyFile === undefined) {
    throw new ConfigError(
      'GATEHOUSE_TLS_KEY',
      'must be set with GATEHOUSE_TLS_CERT (the private key of that certificate)',
    );
  }
  return { certFile: path.resolve(cwd, certFile), keyFile: path.resolve(cwd, keyFile) };
}

/** The settings in effect, from the environment with command-line flags (e.g. `--data-dir`) over it. */
export function loadConfig(env: Env, cwd: string = process.cwd(), flags: Env = {}): Config {
  return inspectConfig(env, cwd, flags).config;
}

/**
 * `loadConfig`, plus every variable it read with the value in effect and where it came from
 * (secrets masked), in the order of `SETTINGS`.
 */
export function inspectConfig(
  env: Env,
  cwd: string = process.cwd(),
  flags: Env = {},
): { config: Config; settings: EffectiveSetting[] } {
  const reader = new SettingsReader(env, flags);
  const config = buildConfig(reader, cwd);
  const order = SETTINGS.flatMap((s) => s.variable.split(' / '));
  const rank = (variable: string) => (order.includes(variable) ? order.indexOf(variable) : order.length);
  const settings = [...reader.effective.values()].sort((a, b) => rank(a.variable) - rank(b.variable));
  return { config, settings };
}

function buildConfig(env: SettingsReader, cwd: string): Config {
  const port = readInt(env, 'PORT', 8080, 0, 65535);
  const host = readString(env, 'HOST', '127.0.0.1');
  const dataDir = path.resolve(cwd, readText(env, 'GATEHOUSE_DATA_DIR') ?? './data');
  env.note('GATEHOUSE_DATA_DIR', dataDir);
  const databaseUrl = readUrl(env, 'GATEHOUSE_DATABASE_URL', ['postgres:', 'postgresql:']);
  env.note('GATEHOUSE_DATABASE_URL', databaseUrl, {
    mask: 'url',
    note: `SQLite file ${path.join(dataDir, 'gatehouse.db')}`,
  });
  const databaseSchema = readText(env, 'GATEHOUSE_DATABASE_SCHEMA');
  if (databaseSchema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(databaseSchema)) {
    throw new ConfigError('GATEHOUSE_DATABASE_SCHEMA', 'must be a lower-case SQL identifier');
  }
  env.note('GATEHOUSE_DATABASE_SCHEMA', databaseSchema, {
    note: databaseUrl === undefined ? 'not used with SQLite' : "the server's search path",
  });
  const rawKey = env.raw('GATEHOUSE_SECRET_KEY');
  const secretKey = rawKey !== undefined ? parseSecretKey(rawKey) : undefined;
  if (databaseUrl !== undefined && secretKey === undefined) {
    throw new ConfigError(
      'GATEHOUSE_SECRET_KEY',
      'is required with PostgreSQL, since every node must share it (generate one with: openssl rand -base64 32)',
    );
  }
  env.note('GATEHOUSE_SECRET_KEY', secretKey, {
    mask: 'secret',
    note: `read from ${path.join(dataDir, 'secret.key')} (generated on first start)`,
  });
  const tls = readTlsFiles(env, cwd);
  const issuerRaw = readUrl(env, 'GATEHOUSE_ISSUER', ['http:', 'https:']);
  const issuer = env.note(
    'GATEHOUSE_ISSUER',
    (issuerRaw ?? `${tls ? 'https' : 'http'}://localhost:${port}`).replace(/\/+$/, ''),
  );
  const audience = readString(env, 'GATEHOUSE_AUDIENCE', issuer);
  const customer = readString(env, 'GATEHOUSE_CUSTOMER', 'gatehouse');
  const environment = readString(env, 'GATEHOUSE_ENV', 'prod1');
  const logLevel = (readText(env, 'GATEHOUSE_LOG_LEVEL')?.toLowerCase() ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      'GATEHOUSE_LOG_LEVEL',
      `must be one of ${LOG_LEVELS.join(', ')}, got "${env.raw('GATEHOUSE_LOG_LEVEL')}"`,
    );
  }
  env.note('GATEHOUSE_LOG_LEVEL', logLevel);
  const logFormat = (readText(env, 'GATEHOUSE_LOG_FORMAT')?.toLowerCase() ?? 'auto') as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) {
    throw new ConfigError(
      'GATEHOUSE_LOG_FORMAT',
      `must be one of ${LOG_FORMATS.join(', ')}, got "${env.raw('GATEHOUSE_LOG_FORMAT')}"`,
    );
  }
  env.note('GATEHOUSE_LOG_FORMAT', logFormat);
  const adminEmail = readText(env, 'GATEHOUSE_ADMIN_EMAIL');
  if (adminEmail !== undefined && !isPlausibleEmail(adminEmail)) {
    throw new ConfigError('GATEHOUSE_ADMIN_EMAIL', `is not a valid email address: "${adminEmail}"`);
  }
  env.note('GATEHOUSE_ADMIN_EMAIL', adminEmail, { note: 'admin@localhost (first start only)' });
  // Not trimmed: spaces may be part of a password.
  const adminPassword = env.raw('GATEHOUSE_ADMIN_PASSWORD');
  if (adminPassword !== undefined && adminPassword.length < 12) {
    throw new ConfigError('GATEHOUSE_ADMIN_PASSWORD', 'must be at least 12 characters');
  }
  env.note('GATEHOUSE_ADMIN_PASSWORD', adminPassword, {
    mask: 'secret',
    note: 'generated and printed once (first start only)',
  });
  const tokenTtlSeconds = readInt(env, 'GATEHOUSE_TOKEN_TTL', 3600, 60, 86400);
  const tokenAlg = (readText(env, 'GATEHOUSE_TOKEN_ALG') ?? 'RS256') as TokenAlg;
  if (!TOKEN_ALGS.includes(tokenAlg)) {
    throw new ConfigError(
      'GATEHOUSE_TOKEN_ALG',
      `must be one of ${TOKEN_ALGS.join(', ')}, got "${env.raw('GATEHOUSE_TOKEN_ALG')}"`,
    );
  }
  env.note('GATEHOUSE_TOKEN_ALG', tokenAlg);
  const cores = Math.max(1, os.availableParallelism());
  const workflowHttpAllow = (env.raw('GATEHOUSE_WORKFLOW_HTTP_ALLOW') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  for (const host of workflowHttpAllow) {
    if (!/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:]+\](:\d{1,5})?$/.test(host)) {
      throw new ConfigError('GATEHOUSE_WORKFLOW_HTTP_ALLOW', `"${host}" is not a host name`);
    }
  }
  env.note('GATEHOUSE_WORKFLOW_HTTP_ALLOW', workflowHttpAllow, { note: 'no host allowed' });
  const MiB = 1024 * 1024;
  const workflowMaxValueBytes = readInt(env, 'GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES', MiB, 1024, 256 * MiB);
  const workflowMaxRunBytes = readInt(env, 'GATEHOUSE_WORKFLOW_MAX_RUN_BYTES', 16 * MiB, 1024, 4096 * MiB);
  if (workflowMaxRunBytes < workflowMaxValueBytes) {
    throw new ConfigError(
      'GATEHOUSE_WORKFLOW_MAX_RUN_BYTES',
      `must be at least GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES (${workflowMaxValueBytes}), got ${workflowMaxRunBytes}`,
    );
  }
  const redisUrl = readUrl(env, 'GATEHOUSE_REDIS_URL', ['redis:', 'rediss:']);
  env.note('GATEHOUSE_REDIS_URL', redisUrl, { mask: 'url', note: 'throttle counters in the database' });
  return Object.freeze({
    port,
    host,
    dataDir,
    databaseUrl,
    databaseSchema,
    secretKey,
    tls,
    issuer,
    audience,
    customer,
    environment,
    logLevel,
    logFormat,
    metricsPort: readMetricsPort(env),
    metricsHost: readString(env, 'GATEHOUSE_METRICS_HOST', '127.0.0.1'),
    adminEmail,
    adminPassword,
    tokenTtlSeconds,
    tokenAlg,
    keyRotationDays: readInt(env, 'GATEHOUSE_KEY_ROTATION_DAYS', 0, 0, 3650),
    auditRetentionDays: readInt(env, 'GATEHOUSE_AUDIT_RETENTION_DAYS', 400, 0, 36_500),
    platformLogRetentionDays: readInt(env, 'GATEHOUSE_PLATFORM_LOG_RETENTION_DAYS', 30, 0, 36_500),
    workers: readInt(env, 'GATEHOUSE_WORKERS', cores, 1, 256),
    workflowConcurrency: readInt(env, 'GATEHOUSE_WORKFLOW_CONCURRENCY', 8, 1, 1000),
    workerHeapMb: readWorkerHeap(env),
    cachePollMs: readInt(env, 'GATEHOUSE_CACHE_POLL_MS', 300, 10, 3_600_000),
    workflowHttpAllow: Object.freeze(workflowHttpAllow),
    trustProxy: readBool(env, 'GATEHOUSE_TRUST_PROXY', false),
    tokenCacheSize: readInt(env, 'GATEHOUSE_TOKEN_CACHE_SIZE', 10_000, 1, 1_000_000),
    // 100,000: 100k clients asking in turn stay cached (each miss is a query; on PostgreSQL a round
    // trip), for ~30 MB of heap per worker (ENTRY_BYTES.client in worker-heap.ts).
    clientCacheSize: readInt(env, 'GATEHOUSE_CLIENT_CACHE_SIZE', 100_000, 1, 1_000_000),
    maxJsonDepth: readInt(env, 'GATEHOUSE_MAX_JSON_DEPTH', 64, 8, 512),
    workflowExpressionTimeoutMs: readInt(env, 'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS', 1000, 10, 60_000),
    workflowExpressionHeapMb: readInt(env, 'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB', 64, 16, 4096),
    workflowMaxValueBytes,
    workflowMaxRunBytes,
    datasetMaxUploadBytes: readInt(env, 'GATEHOUSE_DATASET_MAX_UPLOAD_BYTES', 1024 * MiB, 1024, 2 ** 50),
    datasetQueryTimeoutMs: readInt(env, 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS', 10_000, 10, 600_000),
    datasetQueryMaxRows: readInt(env, 'GATEHOUSE_DATASET_QUERY_MAX_ROWS', 100_000, 1, 10_000_000),
    streamExecutionTtlHours: readInt(env, 'GATEHOUSE_STREAM_EXECUTION_TTL_HOURS', 24, 1, 8760),
    gatewayJwksCooldownSeconds: readInt(env, 'GATEHOUSE_GATEWAY_JWKS_COOLDOWN_SECONDS', 30, 0, 3600),
    platformImportUrls: readImportUrls(env),
    redisUrl,
    redisPrefix: readRedisPrefix(env),
    throttle: Object.freeze({
      signIn: readRateLimit(env, 'GATEHOUSE_THROTTLE_SIGNIN'),
      signInAccount: readRateLimit(env, 'GATEHOUSE_THROTTLE_SIGNIN_ACCOUNT'),
      signInAddress: readRateLimit(env, 'GATEHOUSE_THROTTLE_SIGNIN_ADDRESS'),
      client: readRateLimit(env, 'GATEHOUSE_THROTTLE_CLIENT'),
      clientId: readRateLimit(env, 'GATEHOUSE_THROTTLE_CLIENT_ID'),
      clientAddress: readRateLimit(env, 'GATEHOUSE_THROTTLE_CLIENT_ADDRESS'),
    }),
  });
}

/** GATEHOUSE_WORKER_HEAP_MB: `auto` (unset; null), 0 (V8's default), or a limit of at least 64 MB. */
function readWorkerHeap(env: SettingsReader): number | null {
  const variable = 'GATEHOUSE_WORKER_HEAP_MB';
  const raw = readText(env, variable)?.toLowerCase();
  if (raw === undefined || raw === 'auto') return env.note(variable, null, { text: 'auto' });
  const value = readInt(env, variable, 0, 0, 1_048_576);
  if (value !== 0 && value < MIN_WORKER_HEAP_MB)
    throw new ConfigError(variable, `must be 0, auto, or at least ${MIN_WORKER_HEAP_MB} (MB), got ${value}`);
  return value;
}

/** GATEHOUSE_METRICS_PORT: a port (0 = any free one), or `off`. */
function readMetricsPort(env: SettingsReader): number | null {
  const raw = readText(env, 'GATEHOUSE_METRICS_PORT')?.toLowerCase();
  if (raw === 'off') return env.note('GATEHOUSE_METRICS_PORT', null, { text: 'off' });
  if (raw !== undefined && !/^\d+$/.test(raw))
    throw new ConfigError(
      'GATEHOUSE_METRICS_PORT',
      `must be a port number (0–65535) or off, got "${env.raw('GATEHOUSE_METRICS_PORT')}"`,
    );
  return readInt(env, 'GATEHOUSE_METRICS_PORT', DEFAULT_METRICS_PORT, 0, 65535);
}

/** GATEHOUSE_PLATFORM_IMPORT_URLS: http(s) URL prefixes, comma- or space-separated, in their parsed form. */
function readImportUrls(env: SettingsReader): readonly string[] {
  const variable = 'GATEHOUSE_PLATFORM_IMPORT_URLS';
  const raw = readText(env, variable);
  const prefixes = (raw ?? '')
    .split(/[\s,]+/)
    .filter((entry) => entry !== '')
    .map((entry) => {
      let url: URL;
      try {
        url = new URL(entry);
      } catch {
        throw new ConfigError(variable, `"${entry.slice(0, 100)}" is not an absolute URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new ConfigError(variable, `"${entry.slice(0, 100)}" must be an http or https URL`);
      if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
        throw new ConfigError(variable, `"${url.origin}…" must have no credentials, query or fragment`);
      return url.href;
    });
  return Object.freeze(env.note(variable, prefixes, { text: prefixes.join(', ') }));
}

function readRedisPrefix(env: SettingsReader): string {
  const prefix = readText(env, 'GATEHOUSE_REDIS_PREFIX') ?? 'gatehouse:';
  if (!/^[A-Za-z0-9:._-]{1,64}$/.test(prefix)) {
    throw new ConfigError('GATEHOUSE_REDIS_PREFIX', 'must be 1–64 letters, digits or : . _ -');
  }
  return env.note('GATEHOUSE_REDIS_PREFIX', prefix);
}

/** Same rule the users service applies; kept here so config has no service import. */
export function isPlausibleEmail(value: string): boolean {
  return (
    value.length <= 254 &&
    /^[^\s@]+@[^\s@]+$/.test(value) &&
    !/[<>()[\]\\,;:"]/.test(value.split('@')[0] ?? '')
  );
}

/** A copy of the config with some fields replaced (tests, CLI flags). Frozen too. */
export function withOverrides(config: Config, overrides: Partial<Config>): Config {
  return Object.freeze({ ...config, ...overrides });
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
