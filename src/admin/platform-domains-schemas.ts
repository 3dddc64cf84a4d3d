/**
 * Schemas of the custom-domain admin routes (src/admin/platform-domains.ts), built like
 * src/admin/platform-schemas.ts: request schemas fix the shape, the service
 * (src/services/domains.ts) checks the values; the private key is only ever in a request.
 */
import { Type } from '@sinclair/typebox';
import { Cursor, CursorLimit, NoBody, Nullable, Obj, Page, Timestamp } from '../schemas.js';
import {
  MAX_CERTIFICATE_LENGTH,
  MAX_HOSTNAME_LENGTH,
  MAX_PRIVATE_KEY_LENGTH,
} from '../services/platform/domains.js';

/** Request bodies carry a PEM chain and key: larger than the admin API's 64 KiB default. */
export const DOMAIN_BODY_LIMIT = 256 * 1024;

const CertificateSummary = Obj(
  {
    subject: Type.String({ examples: ['CN=api.example.com'] }),
    subjectAltNames: Type.Array(Type.String(), {
      description: 'The DNS names it is valid for.',
      examples: [['api.example.com']],
    }),
    issuer: Type.String(),
    notBefore: Timestamp,
    notAfter: Timestamp,
    fingerprint256: Type.String({ description: 'SHA-256 fingerprint of the server certificate.' }),
  },
  { description: 'What the certificate says; its private key is never shown.' },
);

export const PlatformDomain = Obj(
  {
    id: Type.Integer(),
    hostname: Type.String({ description: 'Lower-case IDNA (punycode) form.', examples: ['api.example.com'] }),
    issuer: Type.String({
      description: 'The `iss` of tokens asked for at this host while it is enabled.',
      examples: ['https://api.example.com'],
    }),
    enabled: Type.Boolean(),
    certificate: Nullable(CertificateSummary, {
      description: "null: TLS clients naming this host get the instance's default certificate.",
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Custom domain' },
);

const Hostname = Type.String({
  maxLength: MAX_HOSTNAME_LENGTH * 4,
  description: 'A DNS name (not an IP address); Unicode names are stored in punycode.',
});
const Certificate = Type.String({
  maxLength: MAX_CERTIFICATE_LENGTH,
  description:
    'PEM certificate chain, server certificate first; it must name the host (subject alternative name, wildcards allowed) and not be expired.',
});
const PrivateKey = Type.String({
  maxLength: MAX_PRIVATE_KEY_LENGTH,
  description: "The certificate's PEM private key, unencrypted; stored encrypted, never shown again.",
});
const Enabled = Type.Boolean({
  description:
    "false: the host gets the default issuer and certificate, and its domain's tokens are refused.",
});

export const DomainParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 1000, description: 'The domain id or host name.' }),
});
const ListQuery = Type.Object(
  { limit: Type.Optional(CursorLimit), cursor: Type.Optional(Cursor) },
  { additionalProperties: false },
);

export const CreateDomainBody = Type.Object(
  {
    hostname: Hostname,
    certificate: Type.Optional(Certificate),
    privateKey: Type.Optional(PrivateKey),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false, examples: [{ hostname: 'api.example.com' }] },
);
export const UpdateDomainBody = Type.Object(
  {
    certificate: Type.Optional(
      Nullable(Certificate, { description: 'With privateKey; null (both): remove them.' }),
    ),
    privateKey: Type.Optional(Nullable(PrivateKey)),
    enabled: Type.Optional(Enabled),
  },
  { additionalProperties: false },
);

export const listDomainsSchema = {
  summary: 'List custom domains',
  description: 'Needs `gateway.manage`. By id.',
  querystring: ListQuery,
  response: { 200: Page(PlatformDomain) },
};
export const createDomainSchema = {
  summary: 'Register a custom domain',
  description:
    'Tokens asked for at `https://<hostname>/oauth2/token` then carry `iss: https://<hostname>`. With a certificate and key, HTTPS clients naming the host (SNI) get that certificate. 409 when the host is registered already.',
  body: CreateDomainBody,
  response: { 201: PlatformDomain },
};
export const getDomainSchema = {
  summary: 'A custom domain',
  params: DomainParams,
  response: { 200: PlatformDomain },
};
export const updateDomainSchema = {
  summary: 'Change a custom domain',
  description:
    'Replace (or remove) its certificate and key, or enable/disable it; on every node from the next request. The host name cannot change.',
  params: DomainParams,
  body: UpdateDomainBody,
  response: { 200: PlatformDomain },
};
export const deleteDomainSchema = {
  summary: 'Delete a custom domain',
  description: 'Its tokens are refused from the next call; its TLS clients get the default certificate.',
  params: DomainParams,
  response: { 204: NoBody('Done; no body.') },
};
