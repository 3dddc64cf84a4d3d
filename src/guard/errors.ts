/**
 * The guard's answers for bearer credentials (RFC 6750): the same 401 and 403 bodies and
 * `WWW-Authenticate` headers for every API behind it.
 */
import { BearerError } from '../errors.js';
import { findGrant, type GrantId } from '../services/grants.js';

export const REALM = 'gatehouse';

/** RFC 6750 §3: attribute values may not hold `"`, `\\` or non-ASCII characters. */
function quote(value: string): string {
  return value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** 401 for missing credentials: no `error` attribute (RFC 6750 §3.1). */
export function missingCredentials(): BearerError {
  return new BearerError(
    401,
    'unauthenticated',
    'Authentication required: send Authorization: Bearer <access token>.',
    {
      'www-authenticate': `Bearer realm="${REALM}"`,
    },
  );
}

/** 401 for malformed, expired, revoked or unknown credentials. */
export function invalidToken(description = 'The access token is invalid, expired or revoked.'): BearerError {
  return new BearerError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${quote(description)}"`,
  });
}

/** 403 naming the missing grant or scope. */
export function insufficientScope(
  scope: string,
  missing: { grant: GrantId } | { scope: string },
): BearerError {
  const message =
    'grant' in missing
      ? `The token's user lacks the grant "${missing.grant}" (${findGrant(missing.grant)?.name ?? missing.grant}).`
      : `The access token lacks the scope "${missing.scope}".`;
  return new BearerError(
    403,
    'insufficient_scope',
    message,
    { 'www-authenticate': `Bearer error="insufficient_scope", scope="${quote(scope)}"` },
    missing,
  );
}
