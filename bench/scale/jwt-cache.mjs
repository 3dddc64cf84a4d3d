/**
 * The verified-JWT cache at scale (issue 17): the bearer-guarded GET /v1/workflows with one
 * client JWT, against 100k distinct JWTs presented in turn. The cache keeps the
 * GATEHOUSE_TOKEN_CACHE_SIZE (10,000) most recently used tokens, so at 100k in turn every request
 * is a miss: its cost should be one signature check, not a cache rebuild. The `signature check`
 * row times jose's ES256 verification alone in this process, the floor a miss cannot go below.
 */
import { issueTokens, rotating, startPair, stopPair, throughputRow } from '../lib/scale-served.mjs';

export const id = 'jwt-cache';
export const title = 'Bearer GET with 1 vs 100k distinct tokens in turn';

export async function run(options) {
  const count = options.quick ? 10_000 : 100_000;
  const pair = await startPair(options, id);
  try {
    const issueStart = performance.now();
    const [one] = await issueTokens(pair.small, 'workflow', 1);
    const many = await issueTokens(pair.large, 'workflow', count);
    options.log(
      `issued ${count.toLocaleString('en-US')} tokens in ${((performance.now() - issueStart) / 1000).toFixed(1)} s`,
    );
    const url = (gh) => `${gh.url}/v1/workflows`;
    const results = await options.measureInterleaved(
      options.autocannon,
      [
        {
          key: 'small',
          request: { url: url(pair.small), headers: { authorization: `Bearer ${one}` } },
          rss: pair.small.rss,
        },
        {
          key: 'large',
          request: rotating(
            url(pair.large),
            'authorization',
            many.map((t) => `Bearer ${t}`),
          ),
          rss: pair.large.rss,
        },
      ],
      options,
    );
    return [
      throughputRow('GET /v1/workflows, Bearer JWT', results, ['1 token', `${count / 1000}k tokens in turn`]),
      await signatureCheckRow(options, pair.large.url, many),
    ];
  } finally {
    await stopPair(pair);
  }
}

/** jose's ES256 verification of the same tokens against the instance's JWKS, per token. */
async function signatureCheckRow(options, url, tokens) {
  const { createLocalJWKSet, jwtVerify } = await import(
    `${options.root}/node_modules/jose/dist/webapi/index.js`
  );
  const jwks = createLocalJWKSet(await (await fetch(`${url}/.well-known/jwks.json`)).json());
  const sample = tokens.slice(0, 2000);
  for (const token of sample.slice(0, 100)) await jwtVerify(token, jwks);
  const start = performance.now();
  for (const token of sample) await jwtVerify(token, jwks);
  const perToken = (performance.now() - start) / sample.length;
  return {
    measure: 'one ES256 signature check (jose, one core)',
    small: undefined,
    large: perToken,
    unit: 'ms',
    smallLabel: '—',
    largeLabel: `${(1000 / perToken).toFixed(0)}/s per core`,
  };
}
