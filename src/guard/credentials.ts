/**
 * Reading credentials from headers, shared by the resolvers that take them. Cheap and
 * without I/O: deciding which resolver a request belongs to must not cost a lookup.
 */
import type { FastifyRequest } from 'fastify';
import { invalidToken } from './errors.js';

export const DEVELOPER_TOKEN_HEADER = 'x-domo-developer-token';

/**
 * The token of `Authorization: Bearer <token>`; undefined when there is no Authorization
 * header or it uses another scheme (e.g. Basic: RFC 6750 treats that as no bearer
 * credentials). A malformed Bearer header is a 401 invalid_token.
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  // Two resolvers read the header of every bearer call (idp-jwt, client-jwt): the last one parsed is kept.
  if (header === lastBearer.header) return lastBearer.token;
  if (header.trim() === '') return undefined;
  const value = header.trim();
  // "Bearer", in any case, not followed by a letter: `Bearer: <token>` and `Bearer=<token>` are
  // attempts at the Bearer scheme, malformed, not another scheme.
  if (!/^bearer(?![a-z])/i.test(value)) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(value);
  if (!match) throw invalidToken('The Authorization header must be: Bearer <token>.');
  lastBearer = { header, token: match[1] };
  return match[1];
}

let lastBearer: { header: string | undefined; token: string | undefined } = {
  header: undefined,
  token: undefined,
};

const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;
let lastShaped: string | undefined;

/** Three base64url parts joined by dots (whether it could be a compact JWS at all); the last match is kept. */
export function isJwtShaped(token: string): boolean {
  if (token === lastShaped) return true;
  if (!JWT_SHAPE.test(token)) return false;
  lastShaped = token;
  return true;
}

/** The value of `X-DOMO-Developer-Token`; undefined when absent, 401 when empty or not a `gh_dev_…` token. */
export function developerTokenHeader(request: FastifyRequest): string | undefined {
  const developer = request.headers[DEVELOPER_TOKEN_HEADER];
  if (developer === undefined) return undefined;
  const value = Array.isArray(developer) ? developer[0] : developer;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalidToken('The X-DOMO-Developer-Token header is empty.');
  if (!value.trim().startsWith('gh_dev_'))
    throw invalidToken('X-DOMO-Developer-Token takes a developer access token (gh_dev_...).');
  return value.trim();
}
