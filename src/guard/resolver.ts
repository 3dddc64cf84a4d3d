/**
 * The resolver chain's two contracts: a `CredentialResolver` turns one kind of credential
 * into a `Principal`; a `Surface` (the admin API, the bearer APIs under /v1, later the
 * gateway and the data APIs) says which kinds it accepts and how it answers without one.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../services/principal.js';

/** The credential kinds Gatehouse knows; later resolvers (access-profile API tokens, outside IdPs) add theirs. */
export type CredentialKind = 'session' | 'developer_token' | 'client_jwt' | (string & {});

/** Where a resolver sits in the chain: explicit headers before the ambient session cookie. */
export const PRECEDENCE = {
  /** A header with a recognisable prefix or name (`gh_dev_…`, `X-DOMO-Developer-Token`). */
  prefixedHeader: 10,
  /** Any other `Authorization: Bearer` token (client JWTs). Resolvers for other bearer formats go before it. */
  anyBearer: 50,
  /** The session cookie: a browser sends it on its own, so any explicit credential wins over it. */
  cookie: 90,
} as const;

export interface CredentialResolver {
  readonly kind: CredentialKind;
  /** Lower runs first; the first resolver that finds its credential decides (see `PRECEDENCE`). */
  readonly precedence: number;
  /**
   * What `find` needs loaded before it can decide (e.g. the instance's own issuers, which change
   * with the custom domains): undefined when it is loaded already (no I/O), else a promise the
   * guard awaits first.
   */
  ready?(): Promise<unknown> | undefined;
  /**
   * The credential of this kind the request carries, or undefined. No I/O; throws a 401 when
   * the credential is there but malformed.
   */
  find(request: FastifyRequest): string | undefined;
  /**
   * The principal for a found credential, with the user's live facts. Throws a 401 for a
   * wrong one; undefined to answer as if the request had no credentials (an expired session).
   */
  resolve(credential: string, request: FastifyRequest): Promise<Principal | undefined>;
}

/** An API surface: which credential kinds it takes and its 401 answers. */
export interface Surface {
  readonly name: string;
  readonly accepts: readonly CredentialKind[];
  /** The request carries no credential (or an expired session). */
  missing(): Error;
  /** The request carries a credential of a kind this surface does not take. */
  refused(kind: CredentialKind): Error;
}
