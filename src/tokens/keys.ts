/**
 * The shapes of signing and verification keys: what the JWT primitives need to sign
 * and verify. The keys service (services/keys.ts) loads and rotates them.
 */
import type crypto from 'node:crypto';
import type { importPKCS8, JWK } from 'jose';
import type { TokenAlg } from '../config.js';

export type KeyObjectLike = Awaited<ReturnType<typeof importPKCS8>>;

export interface SigningKey {
  kid: string;
  alg: TokenAlg;
  /** A node:crypto key: signing calls `crypto.sign` on a signer thread (see tokens/signer.ts). */
  privateKey: crypto.KeyObject;
}

export interface VerificationKey {
  kid: string;
  alg: TokenAlg;
  publicKey: KeyObjectLike;
  /** null while the key is active; after that the key verifies only until this time. */
  retireAfter: string | null;
  jwk: JWK;
}
