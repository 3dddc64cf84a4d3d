/**
 * Client authentication for the token, introspection and revocation endpoints:
 * HTTP Basic (`client_secret_basic`, the ID and secret form-url-encoded before
 * base64 per RFC 6749 §2.3.1) or `client_id`/`client_secret` in the body
 * (`client_secret_post`), never both. Every failure is the same 401
 * `invalid_client`, with `WWW-Authenticate: Basic` when Basic was used.
 */
import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { ClientOwner, ClientRecord, ClientsService } from '../services/clients.js';
import type { OAuthParameters } from './http.js';
import type { ClientAuthThrottle } from './throttle.js';

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

/** Step: where the credentials are. Both places → invalid_request; unreadable or none → invalid_client. */
export function readCredentials(request: FastifyRequest, params: OAuthParameters): PresentedCredentials {
  const header = request.headers.authorization;
  const inBody = params.client_id !== undefined || params.client_secret !== undefined;
  if (header !== undefined && inBody) {
    throw new OAuthError('invalid_request', 'Send client credentials either in the Authorization header or in the body, not both.');
  }
  if (header !== undefined) {
    const credentials = parseBasic(header);
    if (!credentials || credentials.clientId === '') throw invalidClient('basic');
    return credentials;
  }
  if (inBody) {
    if (!params.client_id || params.client_secret === undefined) throw invalidClient('body');
    return { clientId: params.client_id, clientSecret: params.client_secret, via: 'body' };
  }
  throw invalidClient('none');
}

/** Step: the client and its owner, both active, with a live secret; throttled per client ID. */
export async function authenticateClient(
  credentials: PresentedCredentials,
  deps: { clients: ClientsService; throttle: ClientAuthThrottle },
): Promise<AuthenticatedClient> {
  deps.throttle.check(credentials.clientId);
  const result = await deps.clients.authenticate(credentials.clientId, credentials.clientSecret);
  if (!result) {
    deps.throttle.recordFailure(credentials.clientId);
    throw invalidClient(credentials.via);
  }
  deps.throttle.recordSuccess(credentials.clientId);
  return { ...result, via: credentials.via };
}
