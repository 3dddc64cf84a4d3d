/**
 * The authorization server's route schemas. The parameters are read and checked
 * by the endpoints themselves (`readParameters`, `readCredentials`,
 * `checkGrantType`), because RFC 6749 prescribes the error bodies and a repeated
 * parameter must be an `invalid_request`, not a schema message; so in the OAuth
 * scope these request schemas document and do not validate (src/oauth/index.ts
 * turns validation off there), and their property names are the endpoints'
 * parameter lists (oauth/schemas.test.ts checks both agree).
 *
 * The bodies are written by `sendJson` as ready-made strings in the vendors' key
 * order, so they reach the wire byte-for-byte; the response schemas describe
 * them (and the tests check every answer against them). Examples are the spec
 * documents' own (spec 001/002 for Domo, spec 003 for Workato).
 */
import { Type } from '@sinclair/typebox';
import { NoBody, Obj } from '../schemas.js';
import { SCOPES } from '../tokens/scopes.js';

const GrantType = Type.Literal('client_credentials', {
  description: 'The only grant: client credentials (RFC 6749 §4.4).',
});
const ScopeParameter = Type.String({
  description:
    `Space-separated (commas accepted) subset of the client's scopes: ${SCOPES.join(', ')}. ` +
    "Absent or empty: all the client's scopes.",
  examples: ['data user'],
});
const ClientId = Type.String({
  description: '`client_secret_post`: the client ID in the body (not with HTTP Basic).',
});
const ClientSecret = Type.String({
  description: '`client_secret_post`: the client secret in the body (not with HTTP Basic).',
});

/** The no-store and security headers of spec 001, on every token-bearing answer. */
const NO_STORE_HEADERS = {
  'Cache-Control': Type.Literal('no-store'),
  Pragma: Type.Literal('no-cache'),
  'Strict-Transport-Security': Type.Literal('max-age=31536000; includeSubDomains'),
  'X-Content-Type-Options': Type.Literal('nosniff'),
  'X-Frame-Options': Type.Literal('DENY'),
  'X-XSS-Protection': Type.Literal('1; mode=block'),
};

/** Both token URLs take the form and the JSON body. */
const TOKEN_CONSUMES = ['application/x-www-form-urlencoded', 'application/json'];

export const TokenQuery = Type.Object({ grant_type: GrantType, scope: Type.Optional(ScopeParameter) });

export const TokenBody = Type.Object({
  grant_type: GrantType,
  scope: Type.Optional(ScopeParameter),
  client_id: Type.Optional(ClientId),
  client_secret: Type.Optional(ClientSecret),
});

/** Spec 001's response example (Domo `GET /oauth/token`). */
export const DOMO_TOKEN_EXAMPLE = {
  access_token:
    'GhX52tNtsnyQQybNBtjrc9KbH4DhKTxPbdHcvfHnX3NYGjBWSzdP9kNxWbwDdNMSYqt3VKSBxVXAMYjBAhtvMpscB9edmSjd8BE3gfpGw8uAZhwAHccekG2yBZMse7CPHQkv8JSKcykz4gbcuWak8RpPkVCc8cCZzAzmE7bXQrAGwmPG6wh7YMmBEB6ZPtz8ZYgBNH7S5MYwsJ295A99Bqz7Jn83U333cfT5JT5s5RSF9sUebAKw5cedBU4kf6qq9pFxJ3pcPKqbtZdzRVz4WtRDXsd87FjSVCFk36TRS6Q9GDdM2WZXJjKpEUtCDpX2GSBwsBJgWdWGe3VnTp9U46Fw5dsbBQwDZ4VSQuk9UKJdqfkR5WrfYueVReUKSjCHS6CXjs5RRBSSAmejE7wtDWfdJ2FGnZ9sBDK4eUgWCz8NXSXtWhQtQdenSM47rbSsWF9r8QwChDdQ93NBWYFfsxKcgBa9J6UyaG3T2GWMvgTHc8vTPMhhsS6ceMfEUJUKpQkuHsgtcC7uWWrYnnJFenR34Dr2GNAxkU3CPjys4M3xQNJRkbXyRwtEsEs275MnKQbyF4bayZKU7uJFQhVSjujmf2KRQrsnKamhNSfhJhyttaG48ZuYnTCnCVUvdJF7ATUh',
  customer: 'acmecompany',
  expires_in: 3599,
  jti: '81dece4c-df73-4569-853c-2d1a328897fd',
  role: 'Admin',
  scope: 'data user',
  token_type: 'bearer',
  userId: 964382593,
};

/** Domo's body (spec 001/002), in Domo's key order. */
export const DomoTokenResponse = Obj(
  {
    access_token: Type.String({ description: 'The signed JWT (header `{alg, kid, typ: "at+jwt"}`).' }),
    customer: Type.String({ description: 'Instance / customer name (`GATEHOUSE_CUSTOMER`).' }),
    expires_in: Type.Integer({
      description: 'Seconds until `exp`: the TTL − 1 (3599 by default), as Domo answers.',
    }),
    jti: Type.String({ description: 'Token id; `/oauth/revoke` and the revocation list use it.' }),
    role: Type.String({ description: "The client owner's role name." }),
    scope: Type.String({ description: 'Granted scopes, space-separated, in catalog order.' }),
    token_type: Type.Literal('bearer'),
    userId: Type.Integer({ description: "The client owner's user id." }),
  },
  { description: 'Access token (Domo shape)', headers: NO_STORE_HEADERS, examples: [DOMO_TOKEN_EXAMPLE] },
);

/** Spec 003's answer (Workato `POST /oauth2/token`), plus the granted scope Gatehouse adds. */
export const OAUTH2_TOKEN_EXAMPLE = {
  access_token: '12cb1a7d52322fa0f669cd1f320e24ea2bf52b42b7345b924f7c2fa700b2e563',
  token_type: 'bearer',
  expires_in: 3599,
  scope: 'data user',
};

export const OAuth2TokenResponse = Obj(
  {
    access_token: Type.String({ description: 'The signed JWT.' }),
    token_type: Type.Literal('bearer'),
    expires_in: Type.Integer({ description: 'Seconds until `exp` (3599 by default).' }),
    scope: Type.String({ description: 'Granted scopes, space-separated.' }),
  },
  {
    description: 'Access token (Workato shape)',
    headers: NO_STORE_HEADERS,
    examples: [OAUTH2_TOKEN_EXAMPLE],
  },
);

export const IntrospectBody = Type.Object({
  token: Type.String({ description: 'The access token to describe.' }),
  token_type_hint: Type.Optional(Type.String({ description: 'Accepted and ignored (RFC 7662 §2.1).' })),
  client_id: Type.Optional(ClientId),
  client_secret: Type.Optional(ClientSecret),
});

/** The claims of spec 002's decoded example token, as introspection answers them. */
const INTROSPECTION_EXAMPLE = {
  active: true,
  scope: 'data user',
  client_id: '441e307a-b2a1-4a99-8561-174e5b193eea',
  token_type: 'bearer',
  exp: 1501783519,
  iat: 1501779919,
  sub: '441e307a-b2a1-4a99-8561-174e5b193eea',
  aud: 'https://gatehouse.example.com',
  iss: 'https://gatehouse.example.com',
  jti: '81dece4c-df73-4569-853c-2d1a328897fd',
  role: 'Admin',
  userId: 964382590,
  customer: 'training',
  env: 'prod1',
};

const ActiveToken = Obj(
  {
    active: Type.Literal(true),
    scope: Type.String(),
    client_id: Type.String(),
    token_type: Type.Literal('bearer'),
    exp: Type.Integer(),
    iat: Type.Integer(),
    sub: Type.String(),
    aud: Type.String(),
    iss: Type.String(),
    jti: Type.String(),
    role: Type.String(),
    userId: Type.Integer(),
    customer: Type.String(),
    env: Type.String(),
  },
  { title: 'Active token' },
);

export const IntrospectionResponse = Type.Union(
  [ActiveToken, Obj({ active: Type.Literal(false) }, { title: 'Inactive token' })],
  {
    description:
      'RFC 7662: the claims of a live token the caller may see (its own, or any when its owner holds ' +
      '`api.clients.manage_all`); `{"active": false}` for everything else.',
    headers: NO_STORE_HEADERS,
    examples: [INTROSPECTION_EXAMPLE, { active: false }],
  },
);

export const RevokeBody = Type.Object({
  token: Type.String({ description: 'An access token of the calling client.' }),
  token_type_hint: Type.Optional(Type.String({ description: 'Accepted and ignored (RFC 7009 §2.1).' })),
  client_id: Type.Optional(ClientId),
  client_secret: Type.Optional(ClientSecret),
});

const Jwk = Obj(
  {
    kty: Type.Union([Type.Literal('RSA'), Type.Literal('EC'), Type.Literal('OKP')]),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    kid: Type.String({ description: 'RFC 7638 thumbprint of the key.' }),
    alg: Type.Union([Type.Literal('RS256'), Type.Literal('ES256'), Type.Literal('EdDSA')]),
    use: Type.Literal('sig'),
  },
  { title: 'JWK' },
);

export const JwksResponse = Obj(
  { keys: Type.Array(Jwk) },
  {
    description:
      'RFC 7517 key set: the active key and every earlier key that may still have signed a live token. ' +
      '`Cache-Control: public, max-age=300`; fetch again on an unknown `kid`.',
  },
);

export const MetadataResponse = Obj(
  {
    issuer: Type.String(),
    token_endpoint: Type.String(),
    jwks_uri: Type.String(),
    scopes_supported: Type.Array(Type.String()),
    response_types_supported: Type.Array(Type.String()),
    grant_types_supported: Type.Array(Type.String()),
    token_endpoint_auth_methods_supported: Type.Array(Type.String()),
    introspection_endpoint: Type.String(),
    introspection_endpoint_auth_methods_supported: Type.Array(Type.String()),
    revocation_endpoint: Type.String(),
    revocation_endpoint_auth_methods_supported: Type.Array(Type.String()),
  },
  { description: 'RFC 8414 authorization server metadata. `Cache-Control: public, max-age=300`.' },
);

/** Route schemas, one per endpoint. */
export const tokenGetSchema = {
  summary: 'Access token (Domo style, query parameters)',
  description:
    'Spec 001: `GET /oauth/token?grant_type=client_credentials&scope=data%20user` with HTTP Basic. ' +
    'Client credentials never go in the URL.',
  querystring: TokenQuery,
  response: { 200: DomoTokenResponse },
};

export const tokenPostSchema = {
  summary: 'Access token (Domo body)',
  description:
    'The same answer as the GET, with the parameters in a form or JSON body; Basic or body credentials.',
  consumes: TOKEN_CONSUMES,
  body: TokenBody,
  response: { 200: DomoTokenResponse },
};

export const oauth2TokenSchema = {
  summary: 'Access token (Workato style)',
  description: 'Spec 003: `POST /oauth2/token` with HTTP Basic or `client_id`/`client_secret` in the body.',
  consumes: TOKEN_CONSUMES,
  body: TokenBody,
  response: { 200: OAuth2TokenResponse },
};

export const introspectSchema = {
  summary: 'Token introspection (RFC 7662)',
  consumes: TOKEN_CONSUMES,
  body: IntrospectBody,
  response: { 200: IntrospectionResponse },
};

export const revokeSchema = {
  summary: 'Token revocation (RFC 7009)',
  description:
    "Revokes one of the calling client's tokens; `200` with an empty body whether or not the token was known. " +
    'Gatehouse refuses the token at once; offline verifiers accept it until its `exp`.',
  consumes: TOKEN_CONSUMES,
  body: RevokeBody,
  response: { 200: { ...NoBody('Revoked (or unknown); empty body.'), headers: NO_STORE_HEADERS } },
};

export const jwksSchema = { summary: 'Public signing keys (RFC 7517)', response: { 200: JwksResponse } };
export const metadataSchema = {
  summary: 'Authorization server metadata (RFC 8414)',
  response: { 200: MetadataResponse },
};
