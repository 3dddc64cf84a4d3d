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

/**
 * The admin UI's Content-Security-Policy: everything from Gatehouse itself, no inline script or
 * style, no eval, no framing, no <base>, forms post only back here.
 */
export const ADMIN_UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Every admin UI answer (the page and its assets): the strict CSP, never framed, never sniffed. */
export const ADMIN_UI_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': ADMIN_UI_CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': NO_STORE_HEADERS['strict-transport-security']!,
});

/** The UI's page itself (index.html): never cached, so a new build is picked up at once. */
export const ADMIN_UI_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  ...ADMIN_UI_HEADERS,
  'cache-control': 'no-store',
});
