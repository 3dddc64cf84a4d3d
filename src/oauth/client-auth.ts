/**
 * Client authentication for the token, introspection and revocation endpoints:
 * HTTP Basic (`client_secret_basic`, the ID and secret form-url-encoded before
 * base64 per RFC 6749 §2.3.1) or `client_id`/`client_secret` in the body
 * (`client_secret_post`), never both. Every failure is the same 401
 * `invalid_client`, with `WWW-Authenticate: Basic` when Basic was used; too many
 * failures are 429 `slow_down`.
 */
import type { FastifyRequest } from 'fastify';
import type { ThrottleLimits } from '../config.js';
import { OAuthError } from '../errors.js';
import type { ClientOwner, ClientRecord, ClientsService } from '../services/clients.js';
import {
  isThrottled,
  rateLimitHeaders,
  type Throttled,
  type ThrottleRule,
  type ThrottleService,
  throttleKey,
} from '../services/throttle.js';
import type { OAuthParameters } from './http.js';
import { countClientAuthFailure } from '../metrics.js';

export const BASIC_CHALLENGE = 'Basic realm="gatehouse"';

export interface PresentedCredentials {
  clientId: string;
  clientSecret: string;
  via: 'basic' | 'body';
}

export interface AuthenticatedClient {
  client: ClientRecord;
  owner: ClientOwner;
  via: PresentedCredentials['via'];
}

export function invalidClient(via: PresentedCredentials['via'] | 'none'): OAuthError {
  return new OAuthError(
    'invalid_client',
    'Client authentication failed.',
    401,
    via === 'body' ? undefined : { 'www-authenticate': BASIC_CHALLENGE },
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** application/x-www-form-urlencoded decoding of one Basic credential part. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function parseBasic(header: string): PresentedCredentials | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match || match[1]!.length % 4 !== 0) return undefined;
  let decoded: string;
  try {
    decoded = utf8.decode(Buffer.from(match[1]!, 'base64'));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const clientSecret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || clientSecret === undefined) return undefined;
  return { clientId, clientSecret, via: 'basic' };
}

/** An `invalid_client` for credentials that cannot even be read (counted as `malformed`). */
function malformedCredentials(via: PresentedCredentials['via'] | 'none'): OAuthError {
  countClientAuthFailure('malformed');
  return invalidClient(via);
}

/** Step: where the credentials are. Both places → invalid_request; unreadable or none → invalid_client. */
export function readCredentials(request: FastifyRequest, params: OAuthParameters): PresentedCredentials {
  const header = request.headers.authorization;
  const inBody = params.client_id !== undefined || params.client_secret !== undefined;
  if (header !== undefined && inBody) {
    throw new OAuthError(
      'invalid_request',
      'Send client credentials either in the Authorization header or in the body, not both.',
    );
  }
  if (header !== undefined) {
    const credentials = parseBasic(header);
    if (!credentials || credentials.clientId === '') throw malformedCredentials('basic');
    return credentials;
  }
  if (inBody) {
    if (!params.client_id || params.client_secret === undefined) throw malformedCredentials('body');
    return { clientId: params.client_id, clientSecret: params.client_secret, via: 'body' };
  }
  throw malformedCredentials('none');
}

/**
 * The client-authentication throttle rules (limits from config), most specific
 * first: the (client ID, address) pair, the source address over all client IDs,
 * and the client ID from everywhere (the global ceiling). Only failures are
 * counted (see `authenticateClient`); a success forgets the pair's failures.
 */
export function clientAuthRules(limits: ThrottleLimits, clientId: string, ip: string): ThrottleRule[] {
  return [
    {
      name: 'client',
      key: throttleKey('client:pair', clientId, ip),
      limit: limits.client,
      onSuccess: 'reset',
    },
    {
      name: 'client_address',
      key: throttleKey('client:ip', ip),
      limit: limits.clientAddress,
      onSuccess: 'release',
    },
    {
      name: 'client_id',
      key: throttleKey('client:id', clientId),
      limit: limits.clientId,
      onSuccess: 'release',
    },
  ];
}

function slowDown(throttled: Throttled): OAuthError {
  countClientAuthFailure('throttled');
  const seconds = throttled.retryAfterSeconds;
  return new OAuthError(
    'slow_down',
    `Too many failed authentication attempts for this client; try again in ${seconds} seconds.`,
    429,
    rateLimitHeaders(throttled),
  );
}

/**
 * Step: the client and its owner, both active, with a live secret; a throttled
 * attempt is 429 `slow_down` with Retry-After and the RateLimit-* headers.
 *
 * Unlike admin sign-in, the secret is checked FIRST, and only a failure is
 * counted:
 * - wrong (or an unknown, disabled or orphaned client): the attempt is reserved
 *   under the three rules exactly as `ThrottleService.reserve` always did, one
 *   atomic increment that is the failure count: refused → 429, counted → 401;
 * - right: the three counters are read at one moment, counting nothing
 *   (`admitVerified`: one SELECT, or one Redis script): any rule at its limit →
 *   the same 429, else success; the only write is resetting the pair's count
 *   when it has failures to forget. A success with clean counters writes nothing
 *   (it used to insert or update three rows and then give them back: with many
 *   clients asking, fresh rows on cold pages for every request).
 *
 * Why this is as exact as reserving first (the guarantees in the header of
 * src/services/throttle.ts): order every attempt by its one atomic step on the
 * counters (a wrong one's increment, a right one's read). Wrong attempts are
 * counted as before, so of N concurrent wrong guesses exactly the allowed number
 * get 401 and the rest 429, and a refused one is counted nowhere. A right one is
 * answered 200 only when the counts at its read were below every limit, i.e. at
 * a position where reserving would have given it a slot (position ≤ limit) and
 * its success would then have given the slot back; at or past a limit it gets
 * the 429 a wrong guess gets there. So the answers are those of the serial
 * reserve-check-release order: a 429 says nothing about the secret it came with,
 * and only attempts within the budget learn whether they were right. What
 * changes is in a legitimate client's favour: a right attempt holds no
 * reservation while its secret is checked, so any number of concurrent requests
 * of one client with the right secret succeed (more than the pair's limit used to
 * get 429 `slow_down`), and they never make a concurrent failure look over the
 * limit.
 *
 * This is sound because a client secret is 256-bit random and checking it is
 * one HMAC and a constant-time compare (no slow hash to spare): what it costs is
 * that the secret is now also checked for attempts that are then refused (a
 * microsecond, plus the cached record lookup), and that at a limit a right
 * secret's 429 costs a read where a wrong one's costs a refused increment, a
 * timing difference that could tell a locked-out caller whether a guess was
 * right. For a 256-bit random secret that is worth nothing (no guessing gets
 * near it); for human passwords it would matter, so sign-in keeps
 * reserve-first. Unknown client, wrong secret and right secret do the same
 * cryptographic work as before (ClientsService.verify compares an unknown
 * client against a dummy hash).
 */
export async function authenticateClient(
  credentials: PresentedCredentials,
  ip: string,
  deps: { clients: ClientsService; throttle: ThrottleService; limits: ThrottleLimits },
): Promise<AuthenticatedClient> {
  const rules = clientAuthRules(deps.limits, credentials.clientId, ip);
  const result = await deps.clients.verify(credentials.clientId, credentials.clientSecret);
  if (!('failure' in result)) {
    const throttled = await deps.throttle.admitVerified(rules);
    if (throttled) throw slowDown(throttled);
    return { ...result, via: credentials.via };
  }
  const reservation = await deps.throttle.reserve(rules);
  if (isThrottled(reservation)) throw slowDown(reservation);
  countClientAuthFailure(result.failure);
  throw invalidClient(credentials.via);
}
