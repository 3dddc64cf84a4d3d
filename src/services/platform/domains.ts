/**
 * Custom domains of the API platform (issue 14, spec 003): host names the instance answers to,
 * each optionally with its own TLS certificate and key.
 *
 * - A request whose `Host` is an enabled domain gets tokens whose `iss` is that domain's issuer
 *   (`https://<hostname>`), and the OAuth metadata names it; any other `Host` gets the configured
 *   issuer (GATEHOUSE_ISSUER): a Host header is never reflected into `iss` unless registered.
 * - The guard accepts Gatehouse's tokens of its own issuers only: the configured one and those of
 *   the enabled domains. A domain disabled or deleted takes its tokens with it from the next call.
 * - When Gatehouse serves HTTPS, a TLS client naming a domain with a certificate (SNI) gets that
 *   certificate; every other name gets the default (GATEHOUSE_TLS_CERT).
 *
 * What every request needs is one in-memory `DomainTable` per process, loaded on first use after a
 * change (the `domains` cache epoch: at once on this node, by NOTIFY or the poll on the others):
 * no query per request. Every write needs `gateway.manage`, runs in one transaction, writes an audit
 * event (`platform_domain.*`, never the key) and bumps the epoch. The private key is stored
 * encrypted with the secret key and is never returned.
 */
import crypto, { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import url from 'node:url';
import type { Selectable } from 'kysely';
import type { Config } from '../../config.js';
import { ConflictError, MissingGrantError, NotFoundError, ValidationError } from '../../errors.js';
import { type CacheEpochs, epochsOf } from '../../store/epochs.js';
import { type Executor, isUniqueViolation } from '../../store/index.js';
import type { PlatformDomainsTable } from '../../store/schema/index.js';
import type { AuditService } from '../audit.js';
import type { Actor, ServiceContext } from '../context.js';
import { decodeCursor, type Page, pageSize, toPage } from '../pagination.js';
import { can, type Principal } from '../principal.js';
import { NO_SUCH_ROW, rowIdOf } from '../row-id.js';
import { validateEnabled } from './validation.js';

/** Longest host name (RFC 1035: 253 characters written without the final dot). */
export const MAX_HOSTNAME_LENGTH = 253;
/** Largest PEM certificate chain accepted, in characters. */
export const MAX_CERTIFICATE_LENGTH = 100_000;
/** Largest PEM private key accepted, in characters. */
export const MAX_PRIVATE_KEY_LENGTH = 20_000;
/** Most certificates in one chain. */
export const MAX_CHAIN_LENGTH = 10;

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Characters that never belong in a host name and that the IDNA mapping would otherwise rewrite (`%41`, `[::1]`, `a/b`). */
const NOT_IN_A_HOSTNAME = /[\s%/\\:@[\]?#*_,;"'<>]/u;
const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----/;

// ---- views ----------------------------------------------------------------------------------

/** What a domain's certificate says (the key is never shown). */
export interface CertificateSummary {
  subject: string;
  /** DNS names of the subject alternative name extension. */
  subjectAltNames: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 fingerprint of the server certificate, as `openssl x509 -fingerprint -sha256` writes it. */
  fingerprint256: string;
}

export interface PlatformDomain {
  id: number;
  /** Lower-case IDNA (punycode) form. */
  hostname: string;
  /** The `iss` of tokens asked for at this host (while enabled). */
  issuer: string;
  enabled: boolean;
  /** null: TLS clients naming this host get the instance's default certificate. */
  certificate: CertificateSummary | null;
  createdAt: string;
  updatedAt: string;
}

export interface DomainInput {
  hostname?: unknown;
  /** PEM chain, server certificate first; null (update): remove the certificate and key. */
  certificate?: unknown;
  /** PEM private key of the certificate (unencrypted); given with `certificate`. */
  privateKey?: unknown;
  enabled?: unknown;
}

export interface DomainListQuery {
  limit?: number;
  cursor?: string;
}

// ---- the in-memory table every request reads --------------------------------------------------

interface DomainEntry {
  readonly id: number;
  readonly hostname: string;
  readonly issuer: string;
  readonly certPem: string | null;
  readonly keySealed: string | null;
  /** Built on the first TLS handshake that names the host; undefined: not yet, null: none or unusable. */
  context?: tls.SecureContext | null;
}

/** The enabled domains and the instance's own issuers, as of the last `domains` change. */
export class DomainTable {
  /** The configured issuer and every enabled domain's. */
  readonly issuers: ReadonlySet<string>;

  constructor(
    readonly defaultIssuer: string,
    private readonly byHost: ReadonlyMap<string, DomainEntry>,
  ) {
    this.issuers = new Set([defaultIssuer, ...[...byHost.values()].map((d) => d.issuer)]);
  }

  /** The enabled domain of a request's host name (any case, a final dot ignored), or undefined. */
  entry(host: string | undefined): DomainEntry | undefined {
    if (host === undefined || host === '') return undefined;
    return this.byHost.get(hostKey(host));
  }

  /** The issuer for a request to `host`: its domain's when registered and enabled, else the configured one. */
  issuerForHost(host: string | undefined): string {
    return this.entry(host)?.issuer ?? this.defaultIssuer;
  }
}

function hostKey(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * What makes `issuer` one of this instance's own issuers, if it is: GATEHOUSE_ISSUER, or a
 * registered custom domain's (enabled or not: one enabled later would be). A jwt access profile
 * must never name one: the guard gives tokens of its own issuers to its own check, so such a profile
 * would take no token while the domain is enabled, and Gatehouse's own tokens of that host (signed
 * with its key) while it is disabled.
 */
export async function ownIssuerSource(
  db: Executor,
  config: Pick<Config, 'tls' | 'trustProxy' | 'issuer'>,
  issuer: string,
): Promise<string | undefined> {
  if (issuer === config.issuer) return 'GATEHOUSE_ISSUER';
  const prefix = `${domainScheme(config)}://`;
  if (!issuer.startsWith(prefix)) return undefined;
  const domain = await db
    .selectFrom('platform_domains')
    .select('hostname')
    .where('hostname', '=', issuer.slice(prefix.length))
    .executeTakeFirst();
  return domain ? `the custom domain ${domain.hostname}` : undefined;
}

/**
 * The scheme of a domain's issuer, one for the whole instance (so a domain has one issuer, not one
 * per request): https when Gatehouse serves TLS, when a trusted proxy in front terminates it, or
 * when the configured issuer is https; plain http only for a plain-http development instance.
 */
export function domainScheme(config: Pick<Config, 'tls' | 'trustProxy' | 'issuer'>): 'https' | 'http' {
  return config.tls !== undefined || config.trustProxy || config.issuer.startsWith('https:')
    ? 'https'
    : 'http';
}

// ---- validation -----------------------------------------------------------------------------

/**
 * A host name as stored: trimmed, one final dot dropped, IDNA-mapped to lower-case ASCII
 * (punycode), 2+ labels of letters, digits and inner hyphens, at most 253 characters, and not an
 * IP address (a last label of digits only, as `1.2.3` or `10.0.0.1`, reads as one).
 */
export function normaliseHostname(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError('"hostname" must be a host name such as api.example.com.', {
      field: 'hostname',
    });
  const raw = value.trim().replace(/\.$/, '');
  const shown = raw.slice(0, 80);
  if (raw.length > MAX_HOSTNAME_LENGTH * 4)
    throw new ValidationError(`"hostname" must be at most ${MAX_HOSTNAME_LENGTH} characters.`, {
      field: 'hostname',
    });
  if (net.isIP(raw) !== 0 || net.isIP(raw.replace(/^\[(.*)\]$/, '$1')) !== 0)
    throw new ValidationError(`"${shown}" is an IP address; a custom domain is a DNS name.`, {
      field: 'hostname',
    });
  if (NOT_IN_A_HOSTNAME.test(raw))
    throw new ValidationError(
      `"${shown}" is not a host name: letters, digits, "-" and "." only (no scheme, port, path or wildcard).`,
      { field: 'hostname' },
    );
  const ascii = url.domainToASCII(raw);
  const labels = ascii.split('.');
  const last = labels[labels.length - 1] ?? '';
  if (ascii === '' || net.isIP(ascii) !== 0 || /^\d+$/.test(last) || /^0x[0-9a-f]*$/i.test(last))
    throw new ValidationError(`"${shown}" is not a DNS name (an IP address, or not a valid name).`, {
      field: 'hostname',
    });
  if (ascii.length > MAX_HOSTNAME_LENGTH)
    throw new ValidationError(`"hostname" must be at most ${MAX_HOSTNAME_LENGTH} characters.`, {
      field: 'hostname',
    });
  if (labels.length < 2 || !labels.every((label) => LABEL.test(label)))
    throw new ValidationError(
      `"${shown}" is not a DNS name: two or more labels of 1–63 letters, digits and inner hyphens (api.example.com).`,
      { field: 'hostname' },
    );
  return ascii;
}

interface CheckedCertificate {
  /** The chain as stored: each certificate re-encoded as PEM, the server certificate first. */
  certPem: string;
  /** The key as stored before sealing: PKCS#8 PEM. */
  keyPem: string;
  summary: CertificateSummary;
}

function dnsNames(certificate: X509Certificate): string[] {
  return (certificate.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((name) => name.startsWith('DNS:'))
    .map((name) => name.slice(4));
}

function summaryOf(certificate: X509Certificate): CertificateSummary {
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    subjectAltNames: dnsNames(certificate),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
    fingerprint256: certificate.fingerprint256,
  };
}

/**
 * The certificate chain and key of `hostname`, checked: both PEM, the key unencrypted and the
 * certificate's, the certificate names the host (a DNS subject alternative name, wildcards as TLS
 * clients match them; the subject's CN is not enough, as for browsers), not expired, and the pair
 * loads as a TLS secure context. Messages never quote the key.
 */
export function checkCertificate(
  hostname: string,
  certificate: unknown,
  privateKey: unknown,
  now: Date,
): CheckedCertificate {
  if (typeof certificate !== 'string' || certificate.length > MAX_CERTIFICATE_LENGTH)
    throw new ValidationError(
      `"certificate" must be a PEM certificate chain (at most ${MAX_CERTIFICATE_LENGTH} characters).`,
      { field: 'certificate' },
    );
  if (typeof privateKey !== 'string' || privateKey.length > MAX_PRIVATE_KEY_LENGTH)
    throw new ValidationError(
      `"privateKey" must be the certificate's PEM private key (at most ${MAX_PRIVATE_KEY_LENGTH} characters).`,
      { field: 'privateKey' },
    );
  const blocks = certificate.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0)
    throw new ValidationError('"certificate" holds no PEM certificate (-----BEGIN CERTIFICATE-----).', {
      field: 'certificate',
    });
  if (blocks.length > MAX_CHAIN_LENGTH)
    throw new ValidationError(`"certificate" may hold at most ${MAX_CHAIN_LENGTH} certificates.`, {
      field: 'certificate',
    });
  const chain = blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new ValidationError(
        `Certificate ${index + 1} of "certificate" is not a valid X.509 certificate.`,
        {
          field: 'certificate',
        },
      );
    }
  });
  const leaf = chain[0]!;
  const marker = KEY_BLOCK.exec(privateKey);
  if (!marker)
    throw new ValidationError('"privateKey" holds no PEM private key (-----BEGIN PRIVATE KEY-----).', {
      field: 'privateKey',
    });
  if (marker[1]?.includes('ENCRYPTED'))
    throw new ValidationError('"privateKey" is encrypted; give it without a passphrase.', {
      field: 'privateKey',
    });
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: privateKey, format: 'pem' });
  } catch {
    throw new ValidationError('"privateKey" is not a usable PEM private key.', { field: 'privateKey' });
  }
  if (!leaf.checkPrivateKey(key))
    throw new ValidationError('"privateKey" is not the private key of the certificate.', {
      field: 'privateKey',
    });
  if (leaf.checkHost(hostname, { subject: 'never' }) === undefined) {
    const names = dnsNames(leaf);
    throw new ValidationError(
      `The certificate does not cover ${hostname}: its DNS names are ${names.length === 0 ? 'none' : names.join(', ')}.`,
      { field: 'certificate', subjectAltNames: names },
    );
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime())
    throw new ValidationError(`The certificate expired on ${notAfter.toISOString()}.`, {
      field: 'certificate',
    });
  const certPem = chain.map((c) => c.toString().trim()).join('\n');
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    tls.createSecureContext({ cert: certPem, key: keyPem });
  } catch (error) {
    throw new ValidationError(`The certificate and key cannot serve TLS (${(error as Error).message}).`, {
      field: 'certificate',
    });
  }
  return { certPem: `${certPem}\n`, keyPem, summary: summaryOf(leaf) };
}

// ---- rows -----------------------------------------------------------------------------------

type DomainRow = Selectable<PlatformDomainsTable>;

const idCursor = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Associated data the sealed key is bound to: a key copied onto another host's row does not open. */
export const domainKeyContext = (hostname: string) => `platform_domain_key:${hostname}`;

// ---- the service ----------------------------------------------------------------------------

export class DomainsService {
  private readonly epochs: CacheEpochs;
  /** The table as of the last change, once loaded; undefined after a change until loaded again. */
  private fresh: DomainTable | undefined;
  private loading: Promise<DomainTable> | undefined;
  /** Moves on every change, so a load that started before one is not kept. */
  private generation = 0;
  private readonly scheme: 'https' | 'http';

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.scheme = domainScheme(ctx.config);
    this.epochs.subscribe(['domains'], () => {
      this.generation++;
      this.fresh = undefined;
      this.loading = undefined;
    });
  }

  private get db() {
    return this.ctx.store.db;
  }

  private require(principal: Principal): void {
    if (!can(principal, 'gateway.manage')) throw new MissingGrantError('gateway.manage');
  }

  private now(): string {
    return this.ctx.clock.now().toISOString();
  }

  /** The issuer of tokens asked for at `hostname`. */
  issuerOf(hostname: string): string {
    return `${this.scheme}://${hostname}`;
  }

  // ---- for requests: the table ----

  /** The table as of the last change (one query per change per process). */
  table(): Promise<DomainTable> {
    if (this.fresh) return Promise.resolve(this.fresh);
    if (this.loading) return this.loading;
    const generation = this.generation;
    const loading = this.loadTable().then(
      (table) => {
        if (generation === this.generation) {
          this.fresh = table;
          this.loading = undefined;
        }
        return table;
      },
      (error: unknown) => {
        if (this.loading === loading) this.loading = undefined;
        throw error;
      },
    );
    this.loading = loading;
    return loading;
  }

  /** The table when it is current (no I/O), else undefined: then `await table()`. */
  current(): DomainTable | undefined {
    return this.fresh;
  }

  /** Whether `iss` is one of this instance's issuers, by the current table (call `table()` first). */
  isOwnIssuer(iss: string): boolean {
    return iss === this.ctx.config.issuer || (this.fresh?.issuers.has(iss) ?? false);
  }

  /** The issuer for a request to `host` (`request.hostname`). */
  async issuerForHost(host: string | undefined): Promise<string> {
    return (this.fresh ?? (await this.table())).issuerForHost(host);
  }

  /**
   * The TLS secure context for a client that named `servername` (SNI): the enabled domain's own
   * certificate when it has one, else undefined (the default certificate). Built once per change.
   */
  async secureContextFor(servername: string): Promise<tls.SecureContext | undefined> {
    let table = this.fresh;
    if (table === undefined) {
      try {
        table = await this.table();
      } catch (error) {
        this.ctx.log.warn(
          { err: error, servername },
          'cannot read the custom domains; serving the default certificate',
        );
        return undefined;
      }
    }
    const entry = table.entry(servername);
    if (!entry || entry.certPem === null || entry.keySealed === null) return undefined;
    if (entry.context === undefined) {
      try {
        const key = this.ctx.keyring.decrypt(entry.keySealed, domainKeyContext(entry.hostname));
        entry.context = tls.createSecureContext({ cert: entry.certPem, key });
      } catch (error) {
        // Only if the secret key changed under the stored row; the message carries no key.
        this.ctx.log.error(
          { hostname: entry.hostname, err: { message: (error as Error).message } },
          "cannot use a custom domain's certificate; serving the default one",
        );
        entry.context = null;
      }
    }
    return entry.context ?? undefined;
  }

  private async loadTable(): Promise<DomainTable> {
    const rows = await this.db
      .selectFrom('platform_domains')
      .select(['id', 'hostname', 'cert_pem', 'key_sealed'])
      .where('enabled', '=', 1)
      .execute();
    const byHost = new Map<string, DomainEntry>();
    for (const row of rows) {
      byHost.set(row.hostname, {
        id: row.id,
        hostname: row.hostname,
        issuer: this.issuerOf(row.hostname),
        certPem: row.cert_pem,
        keySealed: row.key_sealed,
      });
    }
    return new DomainTable(this.ctx.config.issuer, byHost);
  }

  // ---- admin ----

  private toDomain(row: DomainRow): PlatformDomain {
    return {
      id: row.id,
      hostname: row.hostname,
      issuer: this.issuerOf(row.hostname),
      enabled: row.enabled === 1,
      certificate:
        row.cert_pem === null
          ? null
          : {
              subject: row.cert_subject ?? '',
              subjectAltNames: JSON.parse(row.cert_names ?? '[]') as string[],
              issuer: row.cert_issuer ?? '',
              notBefore: row.cert_not_before ?? '',
              notAfter: row.cert_not_after ?? '',
              fingerprint256: row.cert_fingerprint ?? '',
            },
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** By id, or by host name (any case, Unicode or punycode). */
  private async findRow(ref: number | string, executor: Executor = this.db): Promise<DomainRow> {
    const id = rowIdOf(ref);
    let row: DomainRow | undefined;
    if (typeof id === 'number') {
      row = await executor.selectFrom('platform_domains').selectAll().where('id', '=', id).executeTakeFirst();
    } else if (id !== NO_SUCH_ROW) {
      let hostname: string | undefined;
      try {
        hostname = normaliseHostname(ref);
      } catch {
        hostname = undefined;
      }
      if (hostname !== undefined)
        row = await executor
          .selectFrom('platform_domains')
          .selectAll()
          .where('hostname', '=', hostname)
          .executeTakeFirst();
    }
    if (!row) throw new NotFoundError('Custom domain', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return row;
  }

  async get(ref: number | string, principal: Principal): Promise<PlatformDomain> {
    this.require(principal);
    return this.toDomain(await this.findRow(ref));
  }

  /** By id, cursor-paged. */
  async list(query: DomainListQuery, principal: Principal): Promise<Page<PlatformDomain>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.db.selectFrom('platform_domains').selectAll();
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (row) => this.toDomain(row),
      (row) => row.id,
    );
  }

  /** The certificate columns for a checked pair (the key sealed), or all null. */
  private certificateColumns(hostname: string, checked: CheckedCertificate | null) {
    if (checked === null)
      return {
        cert_pem: null,
        key_sealed: null,
        cert_subject: null,
        cert_names: null,
        cert_issuer: null,
        cert_not_before: null,
        cert_not_after: null,
        cert_fingerprint: null,
      };
    const { summary } = checked;
    return {
      cert_pem: checked.certPem,
      key_sealed: this.ctx.keyring.encrypt(checked.keyPem, domainKeyContext(hostname)),
      cert_subject: summary.subject,
      cert_names: JSON.stringify(summary.subjectAltNames),
      cert_issuer: summary.issuer,
      cert_not_before: summary.notBefore,
      cert_not_after: summary.notAfter,
      cert_fingerprint: summary.fingerprint256,
    };
  }

  /** `certificate` and `privateKey` both, or neither (undefined); null for both: none. */
  private certificateOf(hostname: string, input: DomainInput): CheckedCertificate | null | undefined {
    const { certificate, privateKey } = input;
    if (certificate === undefined && privateKey === undefined) return undefined;
    if (certificate === null && (privateKey === null || privateKey === undefined)) return null;
    if (certificate === undefined || certificate === null)
      throw new ValidationError('"privateKey" comes with "certificate": give both.', {
        field: 'certificate',
      });
    if (privateKey === undefined || privateKey === null)
      throw new ValidationError('"certificate" needs its "privateKey": give both.', { field: 'privateKey' });
    return checkCertificate(hostname, certificate, privateKey, this.ctx.clock.now());
  }

  private conflict(hostname: string): ConflictError {
    return new ConflictError(`The custom domain ${hostname} is registered already.`, { field: 'hostname' });
  }

  async create(input: DomainInput, principal: Principal, actor: Actor): Promise<PlatformDomain> {
    this.require(principal);
    const hostname = normaliseHostname(input.hostname);
    if (
      this.issuerOf(hostname) === this.ctx.config.issuer ||
      hostname === new URL(this.ctx.config.issuer).hostname
    )
      throw new ValidationError(
        `${hostname} is the instance's own host (GATEHOUSE_ISSUER); it needs no custom domain.`,
        { field: 'hostname' },
      );
    const checked = this.certificateOf(hostname, input) ?? null;
    const enabled = input.enabled === undefined ? true : validateEnabled(input.enabled);
    const id = await this.ctx.store.transaction(async (tx) => {
      const taken = await tx
        .selectFrom('platform_domains')
        .select('id')
        .where('hostname', '=', hostname)
        .executeTakeFirst();
      if (taken) throw this.conflict(hostname);
      const issuer = this.issuerOf(hostname);
      const claimedBy = await tx
        .selectFrom('access_profiles')
        .select('name')
        .where('jwt_issuer', '=', issuer)
        .executeTakeFirst();
      if (claimedBy)
        throw new ConflictError(
          `${issuer} is the issuer of the jwt access profile "${claimedBy.name}"; as a custom domain it would be one of Gatehouse's own issuers, whose tokens no jwt profile checks. Give the profile its identity provider's issuer first.`,
          { field: 'hostname' },
        );
      const now = this.now();
      let row: { id: number };
      try {
        row = await tx
          .insertInto('platform_domains')
          .values({
            hostname,
            enabled: enabled ? 1 : 0,
            ...this.certificateColumns(hostname, checked),
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error)) throw this.conflict(hostname);
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'platform_domain.created',
        target: { type: 'platform_domain', id: row.id },
        details: { hostname, enabled, certificate: auditedCertificate(checked) },
      });
      await this.epochs.bump(tx, 'domains');
      return row.id;
    });
    return this.toDomain(await this.findRow(id));
  }

  /** Replaces or removes the certificate and key, or enables/disables the domain; the host name stays. */
  async update(
    ref: number | string,
    input: DomainInput,
    principal: Principal,
    actor: Actor,
  ): Promise<PlatformDomain> {
    this.require(principal);
    if (input.hostname !== undefined)
      throw new ValidationError("A domain's host name cannot change: register the other name as a domain.", {
        field: 'hostname',
      });
    const enabled = input.enabled === undefined ? undefined : validateEnabled(input.enabled);
    if (enabled === undefined && input.certificate === undefined && input.privateKey === undefined)
      throw new ValidationError('Nothing to change: give certificate and privateKey, or enabled.');
    const id = await this.ctx.store.transaction(async (tx) => {
      const before = await this.findRow(ref, tx);
      const checked = this.certificateOf(before.hostname, input);
      const details: Record<string, unknown> = { hostname: before.hostname };
      if (enabled !== undefined) details.enabled = enabled;
      if (checked !== undefined) details.certificate = auditedCertificate(checked);
      await tx
        .updateTable('platform_domains')
        .set({
          ...(enabled === undefined ? {} : { enabled: enabled ? 1 : 0 }),
          ...(checked === undefined ? {} : this.certificateColumns(before.hostname, checked)),
          updated_at: this.now(),
        })
        .where('id', '=', before.id)
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'platform_domain.updated',
        target: { type: 'platform_domain', id: before.id },
        details,
      });
      await this.epochs.bump(tx, 'domains');
      return before.id;
    });
    return this.toDomain(await this.findRow(id));
  }

  /** Deletes a domain: its tokens are refused from the next call, its TLS clients get the default certificate. */
  async delete(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(ref, tx);
      await tx.deleteFrom('platform_domains').where('id', '=', row.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'platform_domain.deleted',
        target: { type: 'platform_domain', id: row.id },
        details: { hostname: row.hostname },
      });
      await this.epochs.bump(tx, 'domains');
    });
  }
}

/** What the audit log keeps of a certificate: which one it was, never the key. */
function auditedCertificate(checked: CheckedCertificate | null) {
  return checked === null
    ? null
    : {
        fingerprint256: checked.summary.fingerprint256,
        subjectAltNames: checked.summary.subjectAltNames,
        notAfter: checked.summary.notAfter,
      };
}
