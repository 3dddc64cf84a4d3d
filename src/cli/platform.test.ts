/**
 * `gatehouse platform …` in process on a SQLite instance: a collection with an endpoint, profiles
 * of each method with their credentials printed once, --json shapes, errors on stderr with exit 1,
 * usage errors with exit 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../../test/helpers/run-cli.js';

describe('gatehouse platform (SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCliInProcess(args, env);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-platform-'));
    env = {
      GATEHOUSE_DATA_DIR: dir,
      GATEHOUSE_LOG_LEVEL: 'silent',
      GATEHOUSE_ADMIN_EMAIL: 'admin@example.com',
    };
    const init = await cli('init');
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a collection and an endpoint, and lists them', async () => {
    const created = await cli(
      'platform',
      'collections',
      'create',
      'Orders',
      '--prefix',
      'orders',
      '--upstream',
      'https://orders.example.com/v2',
    );
    expect(created).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Created API collection 1 "Orders": /orders/… → https://orders.example.com/v2\n',
    });
    const endpoint = await cli(
      'platform',
      'endpoints',
      'create',
      'orders',
      'Get order',
      '--method',
      'GET',
      '--path',
      '/orders/:id',
      '--upstream-path',
      '/order/:id',
      '--timeout',
      '5s',
    );
    expect(endpoint).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Created endpoint 1 "Get order": GET /orders/:id → /order/:id\n',
    });
    const list = await cli('platform', 'endpoints', 'list', 'orders', '--json');
    expect(JSON.parse(list.stdout)).toMatchObject({
      items: [{ name: 'Get order', timeoutMs: 5000 }],
      nextCursor: null,
    });
    const table = await cli('platform', 'collections', 'list');
    expect(table.stdout.split('\n')[0]).toBe(
      'ID  NAME    PREFIX   UPSTREAM                       ENDPOINTS  ENABLED',
    );
  });

  it('creates profiles of each method; credentials are printed once', async () => {
    const oauth2 = await cli(
      'platform',
      'profiles',
      'create',
      'Partner',
      '--auth',
      'oauth2',
      '--owner',
      'admin@example.com',
      '--collection',
      'orders',
      '--json',
    );
    expect(oauth2.code, oauth2.stderr).toBe(0);
    const issued = JSON.parse(oauth2.stdout);
    expect(issued.credentials).toEqual({
      type: 'oauth2',
      clientId: expect.any(String),
      clientSecret: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const clients = await cli('clients', 'list', '--json');
    expect(JSON.parse(clients.stdout).items).toMatchObject([
      { name: 'Access profile: Partner', scopes: ['gateway'] },
    ]);

    const token = await cli(
      'platform',
      'profiles',
      'create',
      'Batch',
      '--auth',
      'token',
      '--collection',
      'orders',
      '--allow-ip',
      '10.0.0.0/8,192.0.2.1',
    );
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(
      /^Created access profile 2 "Batch" \(token\)\.\n {2}api-token: gh_api_[\w-]{43}\n/,
    );
    const shown = await cli('platform', 'profiles', 'show', 'Batch');
    expect(shown.stdout).toContain('ip allow-list: 10.0.0.0/8, 192.0.2.1/32\n');
    expect(shown.stdout).not.toContain(token.stdout.split('api-token: ')[1]!.split('\n')[0]!);

    const jwt = await cli(
      'platform',
      'profiles',
      'create',
      'IdP',
      '--auth',
      'jwt',
      '--jwks-url',
      'https://idp.example.com/jwks',
      '--issuer',
      'https://idp.example.com',
      '--claim',
      'tier=gold',
      '--claim',
      'level=3',
    );
    expect(jwt.code, jwt.stderr).toBe(0);
    const jwtShown = JSON.parse((await cli('platform', 'profiles', 'show', 'IdP', '--json')).stdout);
    expect(jwtShown.jwt).toEqual({
      jwksUrl: 'https://idp.example.com/jwks',
      issuer: 'https://idp.example.com',
      audience: null,
      requiredClaims: { tier: 'gold', level: 3 },
    });

    const disabled = await cli('platform', 'profiles', 'update', 'Batch', '--enabled', 'false');
    expect(disabled).toEqual({ code: 0, stderr: '', stdout: 'Updated access profile 2 "Batch".\n' });
    const regenerated = await cli('platform', 'profiles', 'regenerate', 'Batch');
    expect(regenerated.stdout).toMatch(/api-token: gh_api_/);
  });

  it('answers mistakes on stderr: a reserved prefix exits 1, a missing option exits 2', async () => {
    const reserved = await cli(
      'platform',
      'collections',
      'create',
      'X',
      '--prefix',
      'oauth2',
      '--upstream',
      'https://x.example.com',
    );
    expect(reserved).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: The prefix "oauth2" is reserved for Gatehouse\'s own routes.\n',
    });
    const missing = await cli('platform', 'profiles', 'create', 'Y');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--auth <method>' not specified");
  });

  it('imports endpoints from an OpenAPI file (YAML): a dry run, then for real; a bad document exits 1 naming its pointer', async () => {
    const created = await cli(
      'platform',
      'collections',
      'create',
      'Pets',
      '--prefix',
      'pets',
      '--upstream',
      'https://pets.example.com',
    );
    expect(created.code, created.stderr).toBe(0);
    const file = path.join(dir, 'pets.yaml');
    fs.writeFileSync(
      file,
      [
        'openapi: 3.0.3',
        'info: {title: Pets, version: "1"}',
        'servers: [{url: "https://pets.example.com/v1"}]',
        'paths:',
        '  /pets:',
        '    get: {operationId: listPets, responses: {"200": {description: ok}}}',
        '  /pets/{petId}:',
        '    get: {summary: One pet, responses: {"200": {description: ok}}}',
        '',
      ].join('\n'),
    );
    const dry = await cli('platform', 'endpoints', 'import', 'pets', '--file', file, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Would import: 2 created, 0 replaced, 0 skipped (already there).');
    expect(dry.stdout).toContain('Dry run: nothing was written.');
    expect((await cli('platform', 'endpoints', 'list', 'pets')).stdout).toBe('No endpoints.\n');

    const done = await cli('platform', 'endpoints', 'import', 'pets', '--file', file, '--json');
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      dryRun: false,
      created: 2,
      endpoints: [
        { action: 'created', method: 'GET', path: '/pets', upstreamPath: '/v1/pets', name: 'listPets' },
        {
          action: 'created',
          method: 'GET',
          path: '/pets/:petId',
          upstreamPath: '/v1/pets/:petId',
          name: 'One pet',
        },
      ],
    });
    const again = await cli('platform', 'endpoints', 'import', 'pets', '--file', file);
    expect(again.stdout).toContain('Imported: 0 created, 0 replaced, 2 skipped (already there).');

    fs.writeFileSync(file, 'swagger: "2.0"\npaths: {}\n');
    const bad = await cli('platform', 'endpoints', 'import', 'pets', '--file', file);
    expect(bad).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'gatehouse: This is a Swagger 2.0 document; only OpenAPI 3 (openapi: 3.x) can be imported. (at /openapi)\n',
    });
    const url = await cli(
      'platform',
      'endpoints',
      'import',
      'pets',
      '--url',
      'https://specs.example.com/pets.json',
    );
    expect(url.code).toBe(1);
    expect(url.stderr).toContain('Import from a URL is off');
    const neither = await cli('platform', 'endpoints', 'import', 'pets');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give exactly one of --file <file> or --url <url>');
  });

  it('policies: create, list, show, update, give one to a profile, refuse to delete it while used', async () => {
    const created = await cli(
      'platform',
      'policies',
      'create',
      'Partner',
      '--rate',
      '10/second',
      '--quota',
      '5000/month',
      '--concurrency',
      '4',
      '--queue',
      '8',
      '--max-wait',
      '2s',
    );
    expect(created).toEqual({ code: 0, stderr: '', stdout: 'Created policy 1 "Partner".\n' });
    const list = await cli('platform', 'policies', 'list');
    expect(list.code).toBe(0);
    const shown = await cli('platform', 'policies', 'show', 'partner', '--json');
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id: 1,
      name: 'Partner',
      rateLimit: { limit: 10, per: 'second' },
      quota: { limit: 5000, per: 'month' },
      concurrency: { limit: 4, queueSize: 8, maxWaitMs: 2000 },
      profileCount: 0,
    });
    const updated = await cli(
      'platform',
      'policies',
      'update',
      'Partner',
      '--quota',
      'none',
      '--max-wait',
      '500',
      '--json',
    );
    expect(updated.stderr).toBe('');
    expect(JSON.parse(updated.stdout)).toMatchObject({
      quota: null,
      concurrency: { limit: 4, queueSize: 8, maxWaitMs: 500 },
    });
    const profile = await cli(
      'platform',
      'profiles',
      'create',
      'Limited',
      '--auth',
      'token',
      '--policy',
      'Partner',
      '--json',
    );
    expect(JSON.parse(profile.stdout).profile.policyId).toBe(1);
    const inUse = await cli('platform', 'policies', 'delete', 'Partner');
    expect(inUse).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'gatehouse: The policy "Partner" is used by the access profile "Limited"; give them another policy (or none) first.\n',
    });
    const bad = await cli('platform', 'policies', 'create', 'Bad', '--rate', '10/hour');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Write it as N/second|minute (e.g. 100/second), or none.');
    const detached = await cli('platform', 'profiles', 'update', 'Limited', '--policy', 'none', '--json');
    expect(JSON.parse(detached.stdout).policyId).toBeNull();
    expect(await cli('platform', 'policies', 'delete', '1')).toEqual({
      code: 0,
      stderr: '',
      stdout: 'Deleted policy 1.\n',
    });
  });
});
