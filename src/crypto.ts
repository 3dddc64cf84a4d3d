/**
 * Secret handling in one place: keyed hashes of generated secrets, password
 * hashing, encryption of private keys at rest, and random token generation.
 *
 * Generated secrets carry 256 bits of entropy, so an HMAC-SHA-256 keyed by
 * GATEHOUSE_SECRET_KEY is the right stored form (fast, constant-time to compare,
 * useless without the key). Human passwords get scrypt.
 */
import crypto from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

/** Keys derived from the master secret, one per purpose, so no key does two jobs. */
export class SecretKeyring {
  private readonly hmacKey: Buffer;
  private readonly encryptionKey: Buffer;

  constructor(masterKey: Buffer) {
    if (masterKey.length < 32) throw new Error('secret key must be at least 32 bytes');
    this.hmacKey = Buffer.from(
      crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), 'gatehouse/hmac/v1', 32),
    );
    this.encryptionKey = Buffer.from(
      crypto.hkdfSync('sha256', masterKey, Buffer.alloc(0), 'gatehouse/key-encryption/v1', 32),
    );
  }

  /** Stored form of a generated secret: base64url HMAC-SHA-256, labelled by purpose. */
  hashSecret(purpose: string, secret: string): string {
    return crypto
      .createHmac('sha256', this.hmacKey)
      .update(purpose)
      .update('\0')
      .update(secret)
      .digest('base64url');
  }

  /** Constant-time check of a presented secret against a stored hash. */
  verifySecret(purpose: string, secret: string, storedHash: string): boolean {
    return constantTimeEqual(this.hashSecret(purpose, secret), storedHash);
  }

  /** AES-256-GCM; output `v1.<iv>.<tag>.<ciphertext>` in base64url. `context` is bound as AAD. */
  encrypt(plaintext: string, context: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.encryptionKey, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  decrypt(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('unrecognised ciphertext');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.encryptionKey, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare equal-length buffers always, so the time does not depend on where they differ.
  if (left.length !== right.length) {
    crypto.timingSafeEqual(left, left);
    return false;
  }
  return crypto.timingSafeEqual(left, right);
}

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  return crypto.randomBytes(bytes).toString('hex');
}

/** `bytes` random bytes as base64url. */
export function randomToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** A password a person can type: 20 characters from an unambiguous alphabet (~115 bits). */
export function generatePassword(length = 20): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[crypto.randomInt(alphabet.length)];
  return out;
}

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, keylen: 32 } as const;

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scryptAsync(password.normalize('NFKC'), salt, SCRYPT.keylen, {
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: 128 * SCRYPT.N * SCRYPT.r * 2,
  });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

// A real hash of a random password, so checking an unknown account costs the same as a known one.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (stored === null && dummyHash === undefined) dummyHash = hashPassword(randomToken(16));
  const target = stored ?? (await dummyHash!);
  const [scheme, n, r, p, salt, hash] = target.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scryptAsync(
    password.normalize('NFKC'),
    Buffer.from(salt, 'base64url'),
    expected.length,
    {
      N: Number(n),
      r: Number(r),
      p: Number(p),
      maxmem: 128 * Number(n) * Number(r) * 2,
    },
  );
  return crypto.timingSafeEqual(actual, expected) && stored !== null;
}
