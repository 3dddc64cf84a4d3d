/**
 * JWT access tokens (RFC 9068, `typ: at+jwt`) carrying Domo's claims (spec 002).
 * The compact JWS is three base64url strings; the signature is `node:crypto`'s
 * `sign` on a signer thread (tokens/signer.ts), so the event loop is never blocked
 * by it. (jose's SignJWT does the same through WebCrypto with more work per
 * token; the benchmark measured the difference.) Verification stays with jose.
 */
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { SigningKey, VerificationKey } from './keys.js';
import type { Scope } from './scopes.js';
import type { BatchSigner } from './signer.js';

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

/** `header.payload.signature`; the header is the same for every token of a key, so it is encoded once. */
const encodedHeaders = new WeakMap<SigningKey, string>();

/** A signed access token; the signature is made off the event loop by `signer` (tokens/signer.ts). */
export async function signAccessToken(
  signer: BatchSigner,
  key: SigningKey,
  claims: AccessTokenClaims,
): Promise<string> {
  let header = encodedHeaders.get(key);
  if (header === undefined) {
    header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })).toString(
      'base64url',
    );
    encodedHeaders.set(key, header);
  }
  const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${signingInput}.${await signer.sign(key, signingInput)}`;
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
 * Verifies signature, `typ`, `iss` (one of `issuers`), `aud` and `exp` (at `now`, no
 * tolerance), and that the claims have the shapes we issue. Returns undefined for anything else.
 */
export async function verifyAccessTokenJwt(
  token: string,
  key: VerificationKey,
  expected: { issuers: ReadonlySet<string>; audience: string; now: Date },
): Promise<AccessTokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(token, key.publicKey, {
      algorithms: [key.alg],
      typ: ACCESS_TOKEN_TYPE,
      audience: expected.audience,
      currentDate: expected.now,
      requiredClaims: ['exp', 'iat', 'iss', 'jti', 'sub', 'client_id'],
    });
    const c = payload as Record<string, unknown>;
    if (
      typeof c.iss !== 'string' ||
      !expected.issuers.has(c.iss) ||
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
