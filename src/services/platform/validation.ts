/**
 * Checks of every field an API collection, endpoint or access profile takes: each returns the
 * value in its canonical form or throws a ValidationError naming the field.
 */
import net from 'node:net';
import type { JWTPayload } from 'jose';
import { ValidationError } from '../../errors.js';
import type { AccessProfileAuthMethod } from '../../store/schema/index.js';
import { normaliseName } from '../text.js';
import {
  AUTH_METHODS,
  DEFAULT_ENDPOINT_TIMEOUT_MS,
  ENDPOINT_METHODS,
  type EndpointMethod,
  type JwtSettings,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENDPOINT_TIMEOUT_MS,
  MAX_IP_RULES,
  MAX_NAME_LENGTH,
  MAX_PATH_LENGTH,
  MAX_REQUIRED_CLAIMS,
  MAX_URL_LENGTH,
  MIN_ENDPOINT_TIMEOUT_MS,
  type ConcurrencySetting,
  MAX_CONCURRENCY_LIMIT,
  MAX_QUEUE_SIZE,
  MAX_QUEUE_WAIT_MS,
  MAX_QUOTA_LIMIT,
  MAX_RATE_LIMIT,
  QUOTA_UNITS,
  type QuotaSetting,
  RATE_UNITS,
  type RateLimitSetting,
  RESERVED_PREFIXES,
} from './model.js';

/** A prefix: one lower-case path segment of letters, digits and `-`/`_`/`.`, starting with a letter or digit. */
export const PREFIX_SHAPE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** A literal path segment: RFC 3986 unreserved characters and a few sub-delimiters. */
const LITERAL_SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=@-]+$/;
const PARAM_SEGMENT = /^:([A-Za-z_][A-Za-z0-9_]{0,63})$/;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function validateName(value: unknown, label: string): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError(`${label} must not be empty.`, { field: 'name' });
  const name = normaliseName(value, 'name', label);
  if (name.length > MAX_NAME_LENGTH)
    throw new ValidationError(`${label} must be at most ${MAX_NAME_LENGTH} characters.`, { field: 'name' });
  return name;
}

export function validateDescription(value: unknown): string {
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

export function validateEnabled(value: unknown): boolean {
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
export function validateHttpUrl(value: unknown, field: string, label: string, loopbackHttp = false): string {
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

export type Segment = string | { param: string };

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

export function pathKeyOf(segments: readonly Segment[]): string {
  return `/${segments.map((s) => (typeof s === 'string' ? s : ':')).join('/')}`;
}

export function validateMethod(value: unknown): EndpointMethod {
  const method = typeof value === 'string' ? value.trim().toUpperCase() : value;
  if (typeof method !== 'string' || !(ENDPOINT_METHODS as readonly string[]).includes(method))
    throw new ValidationError(`"method" must be one of ${ENDPOINT_METHODS.join(', ')}.`, { field: 'method' });
  return method as EndpointMethod;
}

export function validateTimeout(value: unknown): number {
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

export function validateAuthMethod(value: unknown): AccessProfileAuthMethod {
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

export function validateIpAllowList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new ValidationError('"ipAllowList" must be a list of CIDRs.', { field: 'ipAllowList' });
  if (value.length > MAX_IP_RULES)
    throw new ValidationError(`"ipAllowList" may hold at most ${MAX_IP_RULES} rules.`, {
      field: 'ipAllowList',
    });
  return [...new Set(value.map(validateCidr))];
}

export function blockListOf(cidrs: readonly string[]): net.BlockList | null {
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

export function validateJwt(value: unknown): JwtSettings {
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

export function claimsSatisfied(payload: JWTPayload, required: JwtSettings['requiredClaims']): boolean {
  for (const [name, expected] of Object.entries(required)) {
    const actual = payload[name];
    if (Array.isArray(actual) ? !actual.includes(expected) : actual !== expected) return false;
  }
  return true;
}

// ---- policies ----

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integerIn(value: unknown, min: number, max: number, field: string, label: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new ValidationError(`${label} must be a whole number from ${min} to ${max}.`, { field });
  return value;
}

function onlyKeys(value: Record<string, unknown>, keys: readonly string[], field: string): void {
  const extra = Object.keys(value).find((k) => !keys.includes(k));
  if (extra !== undefined)
    throw new ValidationError(
      `"${field}" takes ${keys.map((k) => `"${k}"`).join(', ')}; not "${extra.slice(0, 64)}".`,
      {
        field,
      },
    );
}

/** `{limit, per: second | minute}`; null: no rate limit. */
export function validateRateLimit(value: unknown): RateLimitSetting | null {
  if (value === null) return null;
  if (!isObject(value))
    throw new ValidationError('"rateLimit" must be {"limit": n, "per": "second" | "minute"} or null.', {
      field: 'rateLimit',
    });
  onlyKeys(value, ['limit', 'per'], 'rateLimit');
  const limit = integerIn(value.limit, 1, MAX_RATE_LIMIT, 'rateLimit.limit', 'The rate limit');
  if (!RATE_UNITS.includes(value.per as never))
    throw new ValidationError(`"rateLimit.per" must be one of ${RATE_UNITS.join(', ')}.`, {
      field: 'rateLimit.per',
    });
  return { limit, per: value.per as RateLimitSetting['per'] };
}

/** `{limit, per: day | month}`; null: no quota. */
export function validateQuota(value: unknown): QuotaSetting | null {
  if (value === null) return null;
  if (!isObject(value))
    throw new ValidationError('"quota" must be {"limit": n, "per": "day" | "month"} or null.', {
      field: 'quota',
    });
  onlyKeys(value, ['limit', 'per'], 'quota');
  const limit = integerIn(value.limit, 1, MAX_QUOTA_LIMIT, 'quota.limit', 'The quota');
  if (!QUOTA_UNITS.includes(value.per as never))
    throw new ValidationError(`"quota.per" must be one of ${QUOTA_UNITS.join(', ')}.`, {
      field: 'quota.per',
    });
  return { limit, per: value.per as QuotaSetting['per'] };
}

/** `{limit, queueSize?, maxWaitMs?}` (queue default: none); null: no concurrency limit. */
export function validateConcurrency(value: unknown): ConcurrencySetting | null {
  if (value === null) return null;
  if (!isObject(value))
    throw new ValidationError(
      '"concurrency" must be {"limit": n, "queueSize"?: n, "maxWaitMs"?: ms} or null.',
      {
        field: 'concurrency',
      },
    );
  onlyKeys(value, ['limit', 'queueSize', 'maxWaitMs'], 'concurrency');
  const limit = integerIn(
    value.limit,
    1,
    MAX_CONCURRENCY_LIMIT,
    'concurrency.limit',
    'The concurrency limit',
  );
  const queueSize =
    value.queueSize === undefined
      ? 0
      : integerIn(value.queueSize, 0, MAX_QUEUE_SIZE, 'concurrency.queueSize', 'The queue size');
  const maxWaitMs =
    value.maxWaitMs === undefined
      ? 0
      : integerIn(
          value.maxWaitMs,
          0,
          MAX_QUEUE_WAIT_MS,
          'concurrency.maxWaitMs',
          'The longest wait in the queue (ms)',
        );
  if (queueSize > 0 && maxWaitMs === 0)
    throw new ValidationError('A queue needs "maxWaitMs" above 0: how long a queued call waits for a slot.', {
      field: 'concurrency.maxWaitMs',
    });
  return { limit, queueSize, maxWaitMs };
}
