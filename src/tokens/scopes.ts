/**
 * The scope catalog (Domo's six API scopes, spec 001, plus `workflow` and `gateway`) and the
 * parsing of a requested `scope` parameter.
 */
import { OAuthError, ValidationError } from '../errors.js';

export const SCOPES = [
  'account',
  'audit',
  'buzz',
  'dashboard',
  'data',
  'gateway',
  'user',
  'workflow',
] as const;
export type Scope = (typeof SCOPES)[number];

/** What each scope lets a token reach (the admin UI labels its check-boxes with these; GET /api/admin/v1/scopes). */
export const SCOPE_DESCRIPTIONS: Readonly<Record<Scope, string>> = {
  account: 'Accounts: read and manage the connection accounts of the instance.',
  audit: 'Audit: read the activity log.',
  buzz: 'Buzz: read and post messages in channels.',
  dashboard: 'Dashboards: read and manage pages and cards.',
  data: 'Data: read, write and query data sets.',
  gateway:
    "API platform: call the API collections of the client's access profile (oauth2 access profiles' clients hold it).",
  user: 'Users and groups: read and manage people and groups.',
  workflow: 'Workflows: list, start and cancel workflow runs (the Workflows API).',
};

const ORDER = new Map<string, number>(SCOPES.map((s, i) => [s, i]));

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && ORDER.has(value);
}

/** Distinct scopes in catalog order. */
export function inCatalogOrder(scopes: Iterable<Scope>): Scope[] {
  return [...new Set(scopes)].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!);
}

/** A client's scopes at creation: a non-empty list (or space/comma separated string) of catalog scopes. */
export function validateClientScopes(value: unknown): Scope[] {
  const list = typeof value === 'string' ? splitScopes(value) : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ValidationError(`"scopes" must name at least one of: ${SCOPES.join(', ')}.`, {
      field: 'scopes',
    });
  }
  const unknown = list.filter((s) => !isScope(s));
  if (unknown.length > 0) {
    throw new ValidationError(`Unknown scope: ${unknown.map((s) => JSON.stringify(s)).join(', ')}.`, {
      field: 'scopes',
      unknown,
      allowed: SCOPES,
    });
  }
  return inCatalogOrder(list as Scope[]);
}

/** Space-separated per RFC 6749 §3.3; commas are accepted too, as spec 001's example writes them. */
export function splitScopes(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s !== '');
}

/**
 * The scopes granted for a token request: absent or empty → all the client's
 * scopes; anything outside them → `invalid_scope`.
 */
export function grantScopes(requested: string | undefined, allowed: readonly Scope[]): Scope[] {
  if (requested === undefined) return [...allowed];
  const names = splitScopes(requested);
  if (names.length === 0) return [...allowed];
  const unknown = names.filter((name) => !isScope(name));
  if (unknown.length > 0) {
    throw new OAuthError(
      'invalid_scope',
      `${quoteSome(unknown)} ${unknown.length === 1 ? 'is not a known scope' : 'are not known scopes'}; the scopes are: ${SCOPES.join(', ')}.`,
    );
  }
  const outside = names.filter((name) => !allowed.includes(name as Scope));
  if (outside.length > 0) {
    throw new OAuthError('invalid_scope', `The client may not request scope ${quoteSome(outside)}.`);
  }
  return inCatalogOrder(names as Scope[]);
}

/** At most five names, each cut to 40 characters, quoted: an error message must not echo a flood. */
function quoteSome(names: readonly string[]): string {
  return names
    .slice(0, 5)
    .map((s) => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s))
    .join(', ');
}
