/** Self-signed certificates for TLS tests, made as `gatehouse tls self-signed` makes them (the `selfsigned` library). */
import { randomBytes, X509Certificate } from 'node:crypto';
import selfsigned from 'selfsigned';

export interface TestCertificate {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
  /** SHA-256 fingerprint, as `getPeerX509Certificate().fingerprint256` gives it. */
  fingerprint: string;
}

/**
 * An ECDSA P-256 certificate for `hosts` (DNS names as subject alternative names), valid from
 * `notBefore` for `days`. Each has a subject of its own (`CN=<first host>, O=test <random>`): a
 * client trusting several certificates finds its anchor by subject, and two with the same subject
 * would be mistaken for each other.
 */
export async function selfSignedCertificate(
  hosts: readonly string[],
  options: { notBefore?: Date; days?: number } = {},
): Promise<TestCertificate> {
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const subject = [
    { name: 'commonName', value: hosts[0] ?? 'localhost' },
    { name: 'organizationName', value: `test ${randomBytes(4).toString('hex')}` },
  ];
  const pems = await selfsigned.generate(subject, {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(notBefore.getTime() + (options.days ?? 30) * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: hosts.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
