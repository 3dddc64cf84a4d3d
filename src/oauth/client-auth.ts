/**
 * Client authentication for the token, introspection and revocation endpoints:
 * HTTP Basic (`client_secret_basic`, the ID and secret form-url-encoded before
 * base64 per RFC 6749 §2.3.1) or `client_id`/`client_secret` in the body
 * (`client_secret_post`), never both. Every failure is the same 401
 * `invalid_client`, with `WWW-Authenticate: Basic` when Basic was used.
 */
import type { FastifyRequest } from 'fastify';
import type { ThrottleLimits } from '../config.js';
import { OAuthError } from '../errors.js';
import type { ClientOwner, ClientRecord, ClientsService } from '../services/clients.js';
import {
  isThrottled,
  rateLimitHeaders,
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
    throw new OAuthError('invalid_request', 'Send client credentials either in the Authorization header or in the body, not both.');
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
 * and the client ID from everywhere (the global ceiling). A success forgets the pair's failures
 * and gives back its own reservation under the other two.
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

/**
 * Step: the client and its owner, both active, with a live secret. The attempt
 * is reserved under the throttle before the secret is looked at; a refused one
 * is 429 `slow_down` with Retry-After and the RateLimit-* headers.
 */
export async function authenticateClient(
  credentials: PresentedCredentials,
  ip: string,
  deps: { clients: ClientsService; throttle: ThrottleService; limits: ThrottleLimits },
): Promise<AuthenticatedClient> {
  const reservation = await deps.throttle.reserve(clientAuthRules(deps.limits, credentials.clientId, ip));
  if (isThrottled(reservation)) {
    countClientAuthFailure('throttled');
    const seconds = reservation.retryAfterSeconds;
    throw new OAuthError(
      'slow_down',
      `Too many failed authentication attempts for this client; try again in ${seconds} seconds.`,
      429,
      rateLimitHeaders(reservation),
    );
  }
  const result = await deps.clients.authenticate(credentials.clientId, credentials.clientSecret);
  if (!result) throw invalidClient(credentials.via);
  // Always the same release, whatever earlier attempts did, so a success costs the same.
  await reservation.succeeded();
  return { ...result, via: credentials.via };
}
