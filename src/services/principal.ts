/**
 * Who is calling: one `Principal` for every surface (admin API, `/v1/*`, the gateway and
 * data APIs that come later, the CLI), and one check, `can(principal, grant, scope?)`.
 *
 * The guard (src/guard/) turns a request's credential into a Principal through one
 * resolver chain (one resolver per credential kind) and one cache of live user facts;
 * services take the Principal and decide with `can`. A principal always carries the
 * grants the user's role holds *now* (for a client token: its owner's), so a removed
 * grant or a disabled user counts from the very next request.
 *
 * "Admin" is not a role name: it is holding every grant of the catalog (`isAdmin`).
 */
import type { Scope } from '../tokens/scopes.js';
import type { Actor } from './context.js';
import { GRANTS, type GrantId } from './grants.js';
import type { LiveUser } from './live-users.js';
import type { User } from './users.js';

/**
 * How the principal proved who it is: `api_token` is an access profile's static token
 * (`api-token` header), `idp_jwt` a JWT from an access profile's outside identity provider.
 */
export type AuthMethod = 'session' | 'developer_token' | 'client_jwt' | 'api_token' | 'idp_jwt' | 'cli';

/** The access profile (API platform) a credential acts for. */
export interface ProfileRef {
  readonly id: number;
  readonly name: string;
}

export interface Principal {
  /**
   * `user`: a person (session or developer token) acting with their own grants;
   * `client`: a program with a client JWT, limited by its scopes and its owner's grants;
   * `operator`: the local CLI, which has the data directory or database URL and so holds everything;
   * `profile`: an access profile's API token or outside-IdP JWT, which may call the profile's API
   *   collections and nothing else (no user, no grants, no scopes).
   */
  readonly kind: 'user' | 'client' | 'operator' | 'profile';
  /** The acting user (for a client: its owner); null for the operator. */
  readonly user: User | null;
  /** The grants the user's role holds now (for a client: the owner's); every grant for the operator. */
  readonly grants: ReadonlySet<GrantId>;
  /** A client token's scopes; null when the credential is not scope-limited (sessions, developer tokens, CLI). */
  readonly scopes: ReadonlySet<Scope> | null;
  readonly via: AuthMethod;
  /** The API client's id, for `client` principals. */
  readonly clientId?: string;
  /** The session id (the HMAC of the cookie), for `via: 'session'`. */
  readonly sessionId?: string;
  /** The developer token's id, for `via: 'developer_token'`. */
  readonly tokenId?: number;
  /**
   * The access profile the credential acts for: every `profile` principal, and a `client` whose
   * API client belongs to an oauth2 access profile.
   */
  readonly profile?: ProfileRef;
  /**
   * Who the caller is to the upstream (X-Gatehouse-Client-Id): the API client's id, or an outside
   * IdP token's `client_id` / `azp` / `sub`. Unset for static API tokens.
   */
  readonly callerId?: string;
}

const ALL_GRANTS: ReadonlySet<GrantId> = new Set(GRANTS.map((g) => g.id));

/** The local CLI: whoever can open the store holds every grant. Audited as actor `cli`. */
export const OPERATOR: Principal = Object.freeze({
  kind: 'operator',
  user: null,
  grants: ALL_GRANTS,
  scopes: null,
  via: 'cli',
});

/** A person acting with their own grants (signed in, or with a developer token). */
export function userPrincipal(
  live: LiveUser,
  via: 'session' | 'developer_token',
  ids: { sessionId?: string; tokenId?: number } = {},
): Principal {
  return { kind: 'user', user: live.user, grants: live.grants, scopes: null, via, ...ids };
}

/**
 * A program with a client JWT: its owner's grants now, limited by the token's scopes; with the
 * access profile when the client is an oauth2 profile's.
 */
export function clientPrincipal(
  owner: LiveUser,
  clientId: string,
  scopes: Iterable<Scope>,
  profile?: ProfileRef,
): Principal {
  const base = {
    kind: 'client',
    user: owner.user,
    grants: owner.grants,
    scopes: new Set(scopes),
    via: 'client_jwt',
    clientId,
  } as const;
  return profile === undefined ? base : { ...base, profile, callerId: clientId };
}

const NO_GRANTS: ReadonlySet<GrantId> = new Set();
const NO_SCOPES: ReadonlySet<Scope> = new Set();

/**
 * An access profile's static API token or outside-IdP JWT: it may call the profile's collections
 * through the gateway and nothing else. No grants and an empty scope set, so `can` refuses it any
 * API that names a scope; the surfaces refuse its credential kinds before that.
 */
export function profilePrincipal(
  profile: ProfileRef,
  via: 'api_token' | 'idp_jwt',
  callerId?: string,
): Principal {
  const base = { kind: 'profile', user: null, grants: NO_GRANTS, scopes: NO_SCOPES, via, profile } as const;
  return callerId === undefined ? base : { ...base, callerId };
}

/** The audit actor of a principal: a client as `client`, a person as `user`, the operator as `cli`. */
export function actorFor(principal: Principal, ip?: string): Actor {
  // A profile principal changes nothing it could be audited for; `system` rather than `cli` if it ever did.
  if (principal.kind === 'profile') return { type: 'system' };
  if (principal.kind === 'operator' || principal.user === null) return { type: 'cli' };
  if (principal.kind === 'client') {
    return {
      type: 'client',
      clientId: principal.clientId ?? '',
      userId: principal.user.id,
      ...(ip === undefined ? {} : { ip }),
    };
  }
  return {
    type: 'user',
    userId: principal.user.id,
    label: principal.user.email,
    ...(ip === undefined ? {} : { ip }),
  };
}

/** The acting user's id; null for the operator. */
export function userIdOf(principal: Principal): number | null {
  return principal.user?.id ?? null;
}

/**
 * The one authorization check: the principal holds `grant`, and, when `scope` is given and the
 * principal is scope-limited (a client token), the token carries `scope` too. A `null` grant asks
 * for the scope only (any active user may, e.g. list users with scope `user`, as in Domo).
 */
export function can(principal: Principal, grant: GrantId | null, scope?: Scope): boolean {
  if (grant !== null && !principal.grants.has(grant)) return false;
  if (scope !== undefined && principal.scopes !== null && !principal.scopes.has(scope)) return false;
  return true;
}

/** Holds every grant of the catalog (the system role Admin does, and so may a custom role). */
export function isAdmin(principal: Principal): boolean {
  return holdsAll(principal.grants, ALL_GRANTS);
}

/** True when `held` contains every grant in `wanted`. */
export function holdsAll(held: ReadonlySet<GrantId>, wanted: Iterable<GrantId>): boolean {
  for (const grant of wanted) if (!held.has(grant)) return false;
  return true;
}

/** The grants in `wanted` that `held` lacks, in catalog order (for "you lack X" messages). */
export function missingGrants(held: ReadonlySet<GrantId>, wanted: Iterable<GrantId>): GrantId[] {
  const want = new Set(wanted);
  return GRANTS.map((g) => g.id).filter((id) => want.has(id) && !held.has(id));
}
