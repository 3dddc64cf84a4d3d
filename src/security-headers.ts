/**
 * Response headers shared by every surface that answers with secrets or session state:
 * the OAuth endpoints (spec 001's exact set) and every admin API answer (client secrets,
 * passwords, CSRF tokens, the signed-in user).
 */

/** Spec 001's response headers for token-bearing answers; `Content-Type` is set with the body. */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
});

/**
 * Every admin API answer: never cached (by the browser, a proxy or the back button), never
 * sniffed into something executable, never framed, no referrer leaked, and — being JSON — allowed
 * to load nothing if a browser ever renders it.
 */
export const ADMIN_API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...NO_STORE_HEADERS,
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
});
