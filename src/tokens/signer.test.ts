/** The batched signer: real signatures on real threads, verified with the public keys. */
import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { TokenAlg } from '../config.js';
import { BatchSigner, type SignerKey } from './signer.js';

function keyPair(alg: TokenAlg): { key: SignerKey; publicKey: crypto.KeyObject } {
  const pair =
    alg === 'RS256'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : crypto.generateKeyPairSync('ed25519');
  return {
    key: { kid: `${alg}-${crypto.randomUUID()}`, alg, privateKey: pair.privateKey },
    publicKey: pair.publicKey,
  };
}

/** Verifies a JWS signature as a relying party does (RFC 7518 §3.4: ES256 as raw r‖s). */
function verifies(alg: TokenAlg, publicKey: crypto.KeyObject, input: string, signature: string): boolean {
  const bytes = Buffer.from(signature, 'base64url');
  if (alg === 'EdDSA') return crypto.verify(null, Buffer.from(input), publicKey, bytes);
  const key = alg === 'ES256' ? { key: publicKey, dsaEncoding: 'ieee-p1363' as const } : publicKey;
  return crypto.verify('sha256', Buffer.from(input), key, bytes);
}

describe('BatchSigner', () => {
  const signer = new BatchSigner(2);
  afterAll(() => signer.close());

  it.each(['RS256', 'ES256', 'EdDSA'] as const)(
    'signs %s: each signature verifies for its own input',
    async (alg) => {
      const { key, publicKey } = keyPair(alg);
      const inputs = Array.from(
        { length: 40 },
        (_, i) => `header.${Buffer.from(`payload ${i}`).toString('base64url')}`,
      );
      // Issued together, so they travel in batches; each answer must belong to its own input.
      const signatures = await Promise.all(inputs.map((input) => signer.sign(key, input)));
      expect(
        signatures.every((signature, i) => verifies(alg, publicKey, inputs[i] as string, signature)),
      ).toBe(true);
      expect(verifies(alg, publicKey, inputs[1] as string, signatures[0] as string)).toBe(false);
      if (alg === 'ES256') expect(Buffer.from(signatures[0] as string, 'base64url')).toHaveLength(64);
    },
  );

  it('keeps keys apart when one batch mixes several (a rotation in progress)', async () => {
    const a = keyPair('ES256');
    const b = keyPair('RS256');
    const [sa, sb] = await Promise.all([signer.sign(a.key, 'x.a'), signer.sign(b.key, 'x.b')]);
    expect(verifies('ES256', a.publicKey, 'x.a', sa)).toBe(true);
    expect(verifies('RS256', b.publicKey, 'x.b', sb)).toBe(true);
  });

  it('still signs after a key has been forgotten for room (more keys than a thread keeps)', async () => {
    const one = new BatchSigner(1);
    try {
      const pairs = Array.from({ length: 20 }, () => keyPair('EdDSA'));
      for (const pair of pairs) {
        expect(verifies('EdDSA', pair.publicKey, 'k.x', await one.sign(pair.key, 'k.x'))).toBe(true);
      }
      const first = pairs[0]!;
      expect(verifies('EdDSA', first.publicKey, 'k.y', await one.sign(first.key, 'k.y'))).toBe(true);
    } finally {
      await one.close();
    }
  });

  it('fails a signature with a clear error for a key it cannot use, and goes on signing', async () => {
    const { key } = keyPair('EdDSA');
    const wrong: SignerKey = { ...key, alg: 'RS256' }; // an Ed25519 key cannot sign RS256
    await expect(signer.sign(wrong, 'a.b')).rejects.toThrow(/^signing failed: /);
    const good = keyPair('ES256');
    expect(verifies('ES256', good.publicKey, 'a.b', await signer.sign(good.key, 'a.b'))).toBe(true);
  });

  it('a thread that dies fails the signatures it held, and a new thread takes over', async () => {
    const fragile = new BatchSigner(1);
    try {
      const { key, publicKey } = keyPair('RS256');
      const held = fragile.sign(key, 'a.b');
      await new Promise((resolve) => setImmediate(resolve)); // the batch is now on the thread
      const { threads } = fragile as unknown as {
        threads: Array<{ worker: { terminate(): Promise<number> } } | undefined>;
      };
      await threads[0]?.worker.terminate();
      await expect(held).rejects.toThrow(/^the signer thread stopped/);
      expect(verifies('RS256', publicKey, 'c.d', await fragile.sign(key, 'c.d'))).toBe(true);
    } finally {
      await fragile.close();
    }
  });

  it('refuses to sign once closed', async () => {
    const closing = new BatchSigner(1);
    const { key } = keyPair('ES256');
    await closing.sign(key, 'a.b');
    await closing.close();
    await expect(closing.sign(key, 'a.b')).rejects.toThrow('the signer is closed');
  });
});
