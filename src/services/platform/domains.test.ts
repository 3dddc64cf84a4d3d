/**
 * Custom domains on both stores: host names normalised (case, final dot, IDNA) and refused when
 * they are no DNS name; certificates checked (PEM, key matches, names the host, not expired); the
 * key stored sealed and never in an answer or audit event; bad input, unknown ids and duplicates
 * change nothing; the in-memory table (issuers, SNI contexts) follows every change on this node
 * and, by the `domains` epoch, on another.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { selfSignedCertificate, type TestCertificate } from '../../../test/helpers/certificates.js';
import { asPrincipal, testServices } from '../../../test/helpers/services.js';
import { countRows, dialects, type TestStore } from '../../../test/helpers/stores.js';
import { CLI_ACTOR } from '../context.js';
import { DomainTable, domainScheme, normaliseHostname } from './domains.js';
import type { Services } from '../index.js';
import { OPERATOR } from '../principal.js';

describe('custom domain host names', () => {
  it('are stored lower-case, without a final dot, in IDNA (punycode) form', () => {
    expect(normaliseHostname('API.Example.COM.')).toBe('api.example.com');
    expect(normaliseHostname('  bücher.example ')).toBe('xn--bcher-kva.example');
    expect(normaliseHostname('xn--bcher-kva.example')).toBe('xn--bcher-kva.example');
    expect(normaliseHostname('ａｐｉ.example.com')).toBe('api.example.com');
  });

  it('refuse IP addresses, wildcards, ports, schemes and what is no DNS name, saying why', () => {
    const refused = (value: unknown) => {
      try {
        normaliseHostname(value);
      } catch (error) {
        return (error as { message: string; details: unknown }).message;
      }
      return 'accepted';
    };
    expect(refused('10.0.0.1')).toBe('"10.0.0.1" is an IP address; a custom domain is a DNS name.');
    expect(refused('::1')).toBe('"::1" is an IP address; a custom domain is a DNS name.');
    expect(refused('[2001:db8::1]')).toBe('"[2001:db8::1]" is an IP address; a custom domain is a DNS name.');
    for (const numeric of ['1.2.3', '0x7f.1', 'a.b.123'])
      expect(refused(numeric)).toBe(`"${numeric}" is not a DNS name (an IP address, or not a valid name).`);
    for (const value of [
      '*.example.com',
      'api.example.com:443',
      'https://api.example.com',
      'a_b.example.com',
      'ex%41mple.com',
      'a b.com',
    ])
      expect(refused(value)).toBe(
        `"${value}" is not a host name: letters, digits, "-" and "." only (no scheme, port, path or wildcard).`,
      );
    for (const value of ['localhost', 'foo..bar', '-a.example.com', `${'b'.repeat(64)}.com`])
      expect(refused(value)).toBe(
        `"${value}" is not a DNS name: two or more labels of 1–63 letters, digits and inner hyphens (api.example.com).`,
      );
    expect(refused(`${'a.'.repeat(127)}com`)).toBe('"hostname" must be at most 253 characters.');
    expect(refused('')).toBe('"hostname" must be a host name such as api.example.com.');
    expect(refused(42)).toBe('"hostname" must be a host name such as api.example.com.');
  });

  it('give https issuers unless the instance is plain http with no TLS proxy in front', () => {
    expect(domainScheme({ tls: undefined, trustProxy: false, issuer: 'http://localhost:8080' })).toBe('http');
    expect(domainScheme({ tls: undefined, trustProxy: false, issuer: 'https://gh.example.com' })).toBe(
      'https',
    );
    expect(domainScheme({ tls: undefined, trustProxy: true, issuer: 'http://localhost:8080' })).toBe('https');
    expect(
      domainScheme({
        tls: { certFile: 'c', keyFile: 'k' },
        trustProxy: false,
        issuer: 'http://localhost:8080',
      }),
    ).toBe('https');
  });
});

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`custom domains (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let api: TestCertificate;
    let apiRenewed: TestCertificate;
    let wildcard: TestCertificate;
    let other: TestCertificate;
    let expired: TestCertificate;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store, { config: { issuer: 'https://gatehouse.example.com' } }));
      [api, apiRenewed, wildcard, other, expired] = await Promise.all([
        selfSignedCertificate(['api.example.com']),
        selfSignedCertificate(['api.example.com', 'www.example.com']),
        selfSignedCertificate(['*.example.net']),
        selfSignedCertificate(['other.example.com']),
        // The services' clock says 2026-03-01: this one ended in January.
        selfSignedCertificate(['old.example.com'], { notBefore: new Date('2025-12-01T00:00:00Z'), days: 40 }),
      ]);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    const rows = () => countRows(ts.store, 'platform_domains');
    const events = () => countRows(ts.store, 'audit_events');

    it('registers a domain with its certificate; the key is sealed, never shown or audited', async () => {
      const created = await services.domains.create(
        { hostname: 'API.example.com', certificate: api.cert, privateKey: api.key },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(created).toEqual({
        id: expect.any(Number),
        hostname: 'api.example.com',
        issuer: 'https://api.example.com',
        enabled: true,
        certificate: {
          subject: expect.stringMatching(/^CN=api\.example\.com, O=test [0-9a-f]{8}$/),
          subjectAltNames: ['api.example.com'],
          issuer: expect.stringMatching(/^CN=api\.example\.com, O=test /),
          notBefore: expect.any(String),
          notAfter: expect.any(String),
          fingerprint256: api.fingerprint,
        },
        createdAt: '2026-03-01T12:00:00.000Z',
        updatedAt: '2026-03-01T12:00:00.000Z',
      });
      expect(await services.domains.get('api.example.com', OPERATOR)).toEqual(created);
      expect(await services.domains.get(String(created.id), OPERATOR)).toEqual(created);
      const row = await ts.store.db
        .selectFrom('platform_domains')
        .selectAll()
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      expect(row.key_sealed).toMatch(/^v1\./);
      expect(JSON.stringify(row)).not.toContain('PRIVATE KEY');
      const keyBody = api.key.split('\n')[1]!;
      expect(JSON.stringify(row)).not.toContain(keyBody);
      const [event] = (await services.audit.query({ limit: 1 })).items;
      expect(event).toMatchObject({
        action: 'platform_domain.created',
        target: { type: 'platform_domain', id: String(created.id) },
        details: {
          hostname: 'api.example.com',
          enabled: true,
          certificate: { fingerprint256: api.fingerprint, subjectAltNames: ['api.example.com'] },
        },
      });
      expect(JSON.stringify(event)).not.toContain('PRIVATE KEY');
    });

    it('takes a wildcard certificate for a host it covers, and a domain without certificate', async () => {
      const shop = await services.domains.create(
        { hostname: 'shop.example.net', certificate: wildcard.cert, privateKey: wildcard.key },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(shop.certificate?.subjectAltNames).toEqual(['*.example.net']);
      const plain = await services.domains.create(
        { hostname: 'bücher.example', enabled: false },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(plain).toMatchObject({
        hostname: 'xn--bcher-kva.example',
        issuer: 'https://xn--bcher-kva.example',
        enabled: false,
        certificate: null,
      });
      expect((await services.domains.get('BÜCHER.example', OPERATOR)).id).toBe(plain.id);
    });

    it('refuses bad host names, IPs, mismatched, foreign and expired certificates, duplicates and unknown ids, changing nothing', async () => {
      const before = [await rows(), await events()];
      const refusal = async (promise: Promise<unknown>) => {
        try {
          await promise;
        } catch (error) {
          const e = error as { status: number; message: string; details?: { field?: string } };
          return { status: e.status, field: e.details?.field, message: e.message };
        }
        return 'accepted';
      };
      const create = (input: Record<string, unknown>) =>
        refusal(services.domains.create(input, OPERATOR, CLI_ACTOR));
      expect(await create({ hostname: 'not a host' })).toMatchObject({ status: 400, field: 'hostname' });
      expect(await create({ hostname: '192.0.2.7' })).toMatchObject({ status: 400, field: 'hostname' });
      expect(await create({ hostname: 'gatehouse.example.com' })).toEqual({
        status: 400,
        field: 'hostname',
        message:
          "gatehouse.example.com is the instance's own host (GATEHOUSE_ISSUER); it needs no custom domain.",
      });
      expect(
        await create({ hostname: 'new.example.com', certificate: api.cert, privateKey: other.key }),
      ).toEqual({
        status: 400,
        field: 'privateKey',
        message: '"privateKey" is not the private key of the certificate.',
      });
      expect(
        await create({ hostname: 'new.example.com', certificate: other.cert, privateKey: other.key }),
      ).toEqual({
        status: 400,
        field: 'certificate',
        message: 'The certificate does not cover new.example.com: its DNS names are other.example.com.',
      });
      expect(
        await create({ hostname: 'a.b.example.net', certificate: wildcard.cert, privateKey: wildcard.key }),
      ).toEqual({
        status: 400,
        field: 'certificate',
        message: 'The certificate does not cover a.b.example.net: its DNS names are *.example.net.',
      });
      expect(
        await create({ hostname: 'old.example.com', certificate: expired.cert, privateKey: expired.key }),
      ).toMatchObject({
        status: 400,
        field: 'certificate',
        message: expect.stringMatching(/^The certificate expired on 2026-01-10T/),
      });
      expect(await create({ hostname: 'new.example.com', certificate: api.cert })).toMatchObject({
        status: 400,
        field: 'privateKey',
      });
      expect(await create({ hostname: 'new.example.com', privateKey: api.key })).toMatchObject({
        status: 400,
        field: 'certificate',
      });
      expect(
        await create({ hostname: 'new.example.com', certificate: 'junk', privateKey: api.key }),
      ).toMatchObject({
        status: 400,
        field: 'certificate',
      });
      const garbled = api.cert.replace(/\n([A-Za-z0-9+/]{10})/, '\n!!!!!!!!!!');
      expect(
        await create({ hostname: 'api.example.org', certificate: garbled, privateKey: api.key }),
      ).toMatchObject({
        status: 400,
        field: 'certificate',
      });
      expect(
        await create({
          hostname: 'new.example.com',
          certificate: api.cert,
          privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
        }),
      ).toEqual({
        status: 400,
        field: 'privateKey',
        message: '"privateKey" is not a usable PEM private key.',
      });
      expect(
        await create({
          hostname: 'new.example.com',
          certificate: api.cert,
          privateKey: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA',
        }),
      ).toMatchObject({
        status: 400,
        field: 'privateKey',
        message: '"privateKey" is encrypted; give it without a passphrase.',
      });
      expect(await create({ hostname: 'new.example.com', enabled: 'yes' })).toMatchObject({
        status: 400,
        field: 'enabled',
      });
      expect(await create({ hostname: 'Api.Example.com.' })).toEqual({
        status: 409,
        field: 'hostname',
        message: 'The custom domain api.example.com is registered already.',
      });
      // No message quotes the key.
      const messages = JSON.stringify(
        await create({ hostname: 'new.example.com', certificate: api.cert, privateKey: other.key }),
      );
      expect(messages).not.toContain(other.key.split('\n')[1]!);

      const update = (ref: string | number, input: Record<string, unknown>) =>
        refusal(services.domains.update(ref, input, OPERATOR, CLI_ACTOR));
      expect(
        await update('api.example.com', { certificate: other.cert, privateKey: other.key }),
      ).toMatchObject({
        status: 400,
        field: 'certificate',
      });
      expect(await update('api.example.com', { hostname: 'x.example.com' })).toMatchObject({
        status: 400,
        field: 'hostname',
      });
      expect(await update('api.example.com', {})).toMatchObject({ status: 400 });
      expect(await update('api.example.com', { certificate: null, privateKey: api.key })).toMatchObject({
        status: 400,
      });
      expect(await update('missing.example.com', { enabled: false })).toEqual({
        status: 404,
        field: undefined,
        message: expect.stringContaining('missing.example.com'),
      });
      for (const ref of [999_999, '999999', '9223372036854775808', 'not a host', ''])
        expect(await refusal(services.domains.get(ref, OPERATOR))).toMatchObject({ status: 404 });
      expect(await refusal(services.domains.delete(999_999, OPERATOR, CLI_ACTOR))).toMatchObject({
        status: 404,
      });
      // Without gateway.manage (the user's creation is the one audit event this test makes).
      const user = await services.users.create(
        { email: 'domains-p@example.com', role: 'Participant' },
        OPERATOR,
        CLI_ACTOR,
      );
      const participant = await asPrincipal(services, user);
      expect(
        await refusal(services.domains.create({ hostname: 'z.example.com' }, participant, CLI_ACTOR)),
      ).toMatchObject({
        status: 403,
      });
      before[1]! += 1;
      expect([await rows(), await events()]).toEqual(before);
    });

    it('replaces and removes the certificate, and pages the list by id', async () => {
      const renewed = await services.domains.update(
        'api.example.com',
        { certificate: apiRenewed.cert, privateKey: apiRenewed.key },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(renewed.certificate).toMatchObject({
        fingerprint256: apiRenewed.fingerprint,
        subjectAltNames: ['api.example.com', 'www.example.com'],
      });
      const removed = await services.domains.update(
        'api.example.com',
        { certificate: null, privateKey: null },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(removed.certificate).toBeNull();
      const row = await ts.store.db
        .selectFrom('platform_domains')
        .select(['cert_pem', 'key_sealed'])
        .where('id', '=', removed.id)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ cert_pem: null, key_sealed: null });
      await services.domains.update(
        removed.id,
        { certificate: api.cert, privateKey: api.key },
        OPERATOR,
        CLI_ACTOR,
      );
      const first = await services.domains.list({ limit: 2 }, OPERATOR);
      expect(first.items.map((d) => d.hostname)).toEqual(['api.example.com', 'shop.example.net']);
      const second = await services.domains.list({ limit: 2, cursor: first.nextCursor! }, OPERATOR);
      expect(second).toEqual({
        items: [expect.objectContaining({ hostname: 'xn--bcher-kva.example' })],
        nextCursor: null,
      });
      const actions = (await services.audit.query({ targetType: 'platform_domain', limit: 20 })).items.map(
        (e) => e.action,
      );
      expect(actions.slice(0, 3)).toEqual([
        'platform_domain.updated',
        'platform_domain.updated',
        'platform_domain.updated',
      ]);
    });

    it('the table serves enabled domains only, follows every change here, and on another node by the epoch', async () => {
      const table = await services.domains.table();
      expect(table).toBeInstanceOf(DomainTable);
      expect([...table.issuers].sort()).toEqual([
        'https://api.example.com',
        'https://gatehouse.example.com',
        'https://shop.example.net',
      ]);
      expect(table.issuerForHost('API.example.com.')).toBe('https://api.example.com');
      expect(table.issuerForHost('evil.example.com')).toBe('https://gatehouse.example.com');
      expect(table.issuerForHost('xn--bcher-kva.example')).toBe('https://gatehouse.example.com');
      expect(await services.domains.secureContextFor('api.example.com')).toBeDefined();
      expect(await services.domains.secureContextFor('unknown.example.com')).toBeUndefined();
      // Cached: the same context until a change.
      expect(await services.domains.secureContextFor('api.example.com')).toBe(
        await services.domains.secureContextFor('api.example.com'),
      );

      const peer = await ts.openPeer();
      const { services: node2 } = await testServices(peer, {
        config: { issuer: 'https://gatehouse.example.com' },
      });
      node2.epochs.start({ intervalMs: 20 });
      try {
        await node2.epochs.poll();
        expect((await node2.domains.table()).issuers.has('https://api.example.com')).toBe(true);
        await services.domains.update('api.example.com', { enabled: false }, OPERATOR, CLI_ACTOR);
        expect(services.domains.current()).toBeUndefined();
        expect((await services.domains.table()).issuerForHost('api.example.com')).toBe(
          'https://gatehouse.example.com',
        );
        expect(await services.domains.secureContextFor('api.example.com')).toBeUndefined();
        await vi.waitFor(async () => {
          expect((await node2.domains.table()).issuers.has('https://api.example.com')).toBe(false);
        });
        await services.domains.update('api.example.com', { enabled: true }, OPERATOR, CLI_ACTOR);
        await vi.waitFor(async () => {
          expect((await node2.domains.table()).issuerForHost('api.example.com')).toBe(
            'https://api.example.com',
          );
        });
        await services.domains.delete('api.example.com', OPERATOR, CLI_ACTOR);
        await vi.waitFor(async () => {
          expect((await node2.domains.table()).issuers.has('https://api.example.com')).toBe(false);
        });
        expect((await services.audit.query({ limit: 1 })).items[0]).toMatchObject({
          action: 'platform_domain.deleted',
          details: { hostname: 'api.example.com' },
        });
      } finally {
        await node2.epochs.stop();
      }
    });

    it("keeps jwt access profiles off the instance's own issuers, both ways, changing nothing", async () => {
      const jwt = (issuer: string) => ({ jwksUrl: 'https://idp.example.org/jwks', issuer });
      const refusal = async (work: Promise<unknown>) => {
        try {
          await work;
        } catch (error) {
          const e = error as { status: number; code: string; message: string; details: unknown };
          return { status: e.status, code: e.code, message: e.message, details: e.details };
        }
        return 'accepted';
      };
      const profiles = () => countRows(ts.store, 'access_profiles');
      const own = await services.domains.create(
        { hostname: 'own.example.com', enabled: false },
        OPERATOR,
        CLI_ACTOR,
      );
      const [profilesBefore, eventsBefore] = [await profiles(), await events()];
      // The configured issuer, and a registered domain's (disabled: enabled later, it would be).
      expect(
        await refusal(
          services.platform.createProfile(
            { name: 'Own', authMethod: 'jwt', jwt: jwt('https://gatehouse.example.com') },
            OPERATOR,
            CLI_ACTOR,
          ),
        ),
      ).toEqual({
        status: 409,
        code: 'conflict',
        message:
          '"jwt.issuer" https://gatehouse.example.com is Gatehouse\'s own issuer (GATEHOUSE_ISSUER): Gatehouse checks its own tokens itself, a jwt profile is for an outside identity provider\'s.',
        details: { field: 'jwt.issuer' },
      });
      expect(
        await refusal(
          services.platform.createProfile(
            { name: 'Own', authMethod: 'jwt', jwt: jwt('https://own.example.com') },
            OPERATOR,
            CLI_ACTOR,
          ),
        ),
      ).toMatchObject({
        status: 409,
        message: expect.stringContaining('(the custom domain own.example.com)'),
      });
      // Another scheme or a path is another issuer: an outside one.
      const outside = await services.platform.createProfile(
        { name: 'Outside', authMethod: 'jwt', jwt: jwt('https://id.example.org') },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(
        await refusal(
          services.platform.updateProfile(
            outside.profile.id,
            { jwt: jwt('https://own.example.com') },
            OPERATOR,
            CLI_ACTOR,
          ),
        ),
      ).toMatchObject({ status: 409, details: { field: 'jwt.issuer' } });
      // And a domain cannot be registered under an issuer a jwt profile already names.
      expect(
        await refusal(services.domains.create({ hostname: 'id.example.org' }, OPERATOR, CLI_ACTOR)),
      ).toEqual({
        status: 409,
        code: 'conflict',
        message:
          'https://id.example.org is the issuer of the jwt access profile "Outside"; as a custom domain it would be one of Gatehouse\'s own issuers, whose tokens no jwt profile checks. Give the profile its identity provider\'s issuer first.',
        details: { field: 'hostname' },
      });
      expect(await profiles()).toBe(profilesBefore + 1);
      expect(await events()).toBe(eventsBefore + 1);
      expect((await services.platform.getProfile(outside.profile.id, OPERATOR)).jwt?.issuer).toBe(
        'https://id.example.org',
      );
      await services.platform.deleteProfile(outside.profile.id, OPERATOR, CLI_ACTOR);
      await services.domains.delete(own.id, OPERATOR, CLI_ACTOR);
    });
  });
}
