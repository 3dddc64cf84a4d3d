/**
 * Runs the official Domo Node SDK (npm `domo-sdk`), unmodified, in its own Node process for
 * test/e2e/domo-sdk.test.ts. The process trusts the test's self-signed certificate the way an
 * operator would make any Node program trust a private CA: NODE_EXTRA_CA_CERTS, set by the test
 * (certificate verification stays on; nothing here touches TLS).
 *
 * argv: clientId clientSecret host [scope …]. Standard input: one JSON call per line,
 * `{"id": 1, "call": "datasets.create", "args": [...]}` (an argument `{"$gzip": text}` is passed as
 * the gzip Buffer of text); standard output: one JSON answer per line,
 * `{"id": 1, "ok": true, "value": …}` or `{"id": 1, "ok": false, "error": {message, statusCode, body}}`.
 */
const readline = require('node:readline');
const zlib = require('node:zlib');
const { DomoClient } = require('domo-sdk');
const { API_SCOPE } = require('domo-sdk/dist/common/Constants');

const [clientId, clientSecret, host, ...scopes] = process.argv.slice(2);
const client = new DomoClient(
  clientId,
  clientSecret,
  scopes.map((name) => API_SCOPE[name]),
  host,
);

function reply(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const { id, call, args: given } = JSON.parse(line);
  // JSON carries no bytes: `{"$gzip": text}` is the gzip Buffer of text (for uploadCompressedPart).
  const args = given.map((arg) =>
    arg !== null && typeof arg === 'object' && typeof arg.$gzip === 'string' ? zlib.gzipSync(arg.$gzip) : arg,
  );
  const [area, method] = call.split('.');
  try {
    const value = await client[area][method](...args);
    reply({ id, ok: true, value: value === undefined ? null : value });
  } catch (error) {
    // The SDK wraps request's StatusCodeError in RequestException.error.
    const cause = error.error ?? error;
    reply({
      id,
      ok: false,
      error: {
        message: error.message,
        statusCode: cause.statusCode ?? null,
        body: cause.error ?? null,
        cause: cause === error ? null : String(cause.message ?? cause),
      },
    });
  }
});
