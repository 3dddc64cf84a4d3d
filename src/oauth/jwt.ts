/**
 * JWT access tokens (RFC 9068, `typ: at+jwt`) carrying Domo's claims (spec 002).
 * Signing goes through jose's WebCrypto path, which runs on libuv's threadpool,
 * so the event loop is not blocked while an RSA signature is computed.
 */
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import type { SigningKey, VerificationKey } from '../services/keys.js';
import type { Scope } from './scopes.js';

export const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Longer strings are not tokens we issued; refuse before parsing. */
export const MAX_TOKEN_LENGTH = 8192;

/** Claims in the order Domo's tokens carry them, then RFC 9068's. */
export interface AccessTokenClaims {
  role: string;
  scope: Scope[];
  exp: number;
  env: string;
  userId: number;
  jti: string;
  client_id: string;
  customer: string;
  iss: string;
  sub: string;
  aud: string;
  iat: number;
}

export async function signAccessToken(key: SigningKey, claims: AccessTokenClaims): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE }).sign(key.privateKey);
}

/** The `kid` of a compact JWS, or undefined when the string is not one. */
export function tokenKid(token: string): string | undefined {
  if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) return undefined;
  try {
    const header = decodeProtectedHeader(token);
    return typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Verifies signature, `typ`, `iss`, `aud` and `exp` (at `now`, no tolerance), and
 * that the claims have the shapes we issue. Returns undefined for anything else.
 */
export async function verifyAccessTokenJwt(
  token: string,
  key: VerificationKey,
  expected: { issuer: string; audience: string; now: Date },
): Promise<AccessTokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [key.alg],
      typ: ACCESS_TOKEN_TYPE,
      issuer: expected.issuer,
      audience: expected.audience,
      currentDate: expected.now,
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
    });
    const c = payload as Record<string, unknown>;
    if (
      typeof c.jti !== 'string' ||
      typeof c.client_id !== 'string' ||
      c.sub !== c.client_id ||
      typeof c.userId !== 'number' ||
      typeof c.role !== 'string' ||
      !Array.isArray(c.scope) ||
      !c.scope.every((s) => typeof s === 'string')
    ) {
      return undefined;
    }
    return payload as unknown as AccessTokenClaims;
  } catch {
    return undefined;
  }
}
