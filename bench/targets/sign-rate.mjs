/**
 * The signing limit: JWS signatures per second with node:crypto, one busy loop per core
 * in worker threads, over a signing input the size of a Gatehouse access token.
 * Usage: node sign-rate.mjs <RS256|ES256|EdDSA> <seconds> <threads>; prints JSON.
 */
import crypto from 'node:crypto';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

function keyFor(alg) {
  if (alg === 'RS256') return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  if (alg === 'ES256') return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return crypto.generateKeyPairSync('ed25519').privateKey;
}

function signLoop(alg, seconds) {
  const key = keyFor(alg);
  const claims = {
    role: 'Admin',
    scope: ['data', 'user'],
    exp: 1_900_000_000,
    env: 'prod1',
    userId: 1,
    jti: crypto.randomUUID(),
    client_id: crypto.randomUUID(),
    customer: 'gatehouse',
    iss: 'http://localhost:8080',
    sub: crypto.randomUUID(),
    aud: 'http://localhost:8080',
    iat: 1_800_000_000,
  };
  const header = { alg, kid: 'x'.repeat(43), typ: 'at+jwt' };
  const input = Buffer.from(
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`,
  );
  const hash = alg === 'EdDSA' ? null : 'sha256';
  const options = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  const end = performance.now() + seconds * 1000;
  let count = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i += 1) crypto.sign(hash, input, options);
    count += 10;
  }
  return count;
}

if (isMainThread) {
  const [alg = 'RS256', seconds = '3', threads = '1'] = process.argv.slice(2);
  const counts = await Promise.all(
    Array.from(
      { length: Number(threads) },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(new URL(import.meta.url), {
            workerData: { alg, seconds: Number(seconds) },
          });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({ alg, threads: Number(threads), signaturesPerSecond: total / Number(seconds) }),
  );
} else {
  parentPort.postMessage(signLoop(workerData.alg, workerData.seconds));
}
