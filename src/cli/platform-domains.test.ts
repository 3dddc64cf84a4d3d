/**
 * `gatehouse platform domains …` in process on a SQLite instance: register a domain with a
 * certificate and key from PEM files, show, list, replace, remove and disable, delete; the key
 * never printed; mistakes on stderr (exit 1), usage errors exit 2; --help for each command.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate, type TestCertificate } from '../../test/helpers/certificates.js';
import { runCliInProcess } from '../../test/helpers/run-cli.js';

describe('gatehouse platform domains (SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  let api: TestCertificate;
  let renewed: TestCertificate;
  const cli = (...args: string[]) => runCliInProcess(args, env, dir);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-domains-cli-'));
    env = {
      GATEHOUSE_DATA_DIR: path.join(dir, 'data'),
      GATEHOUSE_LOG_LEVEL: 'silent',
      GATEHOUSE_ADMIN_EMAIL: 'admin@example.com',
      GATEHOUSE_ISSUER: 'https://gatehouse.example.com',
    };
    [api, renewed] = await Promise.all([
      selfSignedCertificate(['api.example.com']),
      selfSignedCertificate(['*.example.com']),
    ]);
    fs.writeFileSync(path.join(dir, 'api.pem'), api.cert);
    fs.writeFileSync(path.join(dir, 'api.key'), api.key);
    fs.writeFileSync(path.join(dir, 'wild.pem'), renewed.cert);
    fs.writeFileSync(path.join(dir, 'wild.key'), renewed.key);
    const init = await cli('init');
    expect(init.code, init.stderr).toBe(0);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('registers a domain with its certificate from files, shows and lists it, never the key', async () => {
    const created = await cli(
      'platform',
      'domains',
      'create',
      'API.example.com',
      '--cert',
      'api.pem',
      '--key',
      'api.key',
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(
      /^Registered custom domain 1 api\.example\.com: issuer https:\/\/api\.example\.com, certificate until \d{4}-\d\d-\d\dT[\d:.]+Z\.\n$/,
    );
    const shown = await cli('platform', 'domains', 'get', 'api.example.com');
    expect(shown.stdout).toContain('hostname:    api.example.com\n');
    expect(shown.stdout).toContain(`sha-256:     ${api.fingerprint}\n`);
    expect(shown.stdout).not.toContain('PRIVATE KEY');
    const json = JSON.parse((await cli('platform', 'domains', 'get', '1', '--json')).stdout);
    expect(json).toMatchObject({
      hostname: 'api.example.com',
      issuer: 'https://api.example.com',
      certificate: { fingerprint256: api.fingerprint, subjectAltNames: ['api.example.com'] },
    });
    expect(JSON.stringify(json)).not.toContain('PRIVATE KEY');
    await cli('platform', 'domains', 'create', 'plain.example.com', '--disabled');
    const table = await cli('platform', 'domains', 'list');
    const lines = table.stdout.split('\n');
    expect(lines[0]).toBe('ID  HOSTNAME           ISSUER                     CERTIFICATE       ENABLED');
    expect(lines[2]).toBe('2   plain.example.com  https://plain.example.com  default           no');
    const paged = JSON.parse((await cli('platform', 'domains', 'list', '--limit', '1', '--json')).stdout);
    expect(paged).toMatchObject({ items: [{ id: 1 }], nextCursor: expect.any(String) });
  });

  it('replaces, removes the certificate, enables and deletes', async () => {
    const replaced = await cli(
      'platform',
      'domains',
      'update',
      'api.example.com',
      '--cert',
      'wild.pem',
      '--key',
      'wild.key',
    );
    expect(replaced).toEqual({ code: 0, stderr: '', stdout: 'Updated custom domain 1 api.example.com.\n' });
    const after = JSON.parse((await cli('platform', 'domains', 'get', '1', '--json')).stdout);
    expect(after.certificate).toMatchObject({
      fingerprint256: renewed.fingerprint,
      subjectAltNames: ['*.example.com'],
    });
    await cli('platform', 'domains', 'update', '1', '--no-cert');
    expect(
      JSON.parse((await cli('platform', 'domains', 'get', '1', '--json')).stdout).certificate,
    ).toBeNull();
    await cli('platform', 'domains', 'update', 'plain.example.com', '--enabled', 'true');
    expect(JSON.parse((await cli('platform', 'domains', 'get', '2', '--json')).stdout).enabled).toBe(true);
    const deleted = await cli('platform', 'domains', 'delete', 'plain.example.com');
    expect(deleted).toEqual({ code: 0, stderr: '', stdout: 'Deleted custom domain plain.example.com.\n' });
    expect((await cli('platform', 'domains', 'get', 'plain.example.com')).code).toBe(1);
  });

  it('answers mistakes on stderr: bad input exits 1, usage errors exit 2', async () => {
    expect(await cli('platform', 'domains', 'create', '10.1.2.3')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: "10.1.2.3" is an IP address; a custom domain is a DNS name.\n',
    });
    expect(
      await cli(
        'platform',
        'domains',
        'create',
        'other.example.org',
        '--cert',
        'api.pem',
        '--key',
        'api.key',
      ),
    ).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'gatehouse: The certificate does not cover other.example.org: its DNS names are api.example.com.\n',
    });
    expect(await cli('platform', 'domains', 'create', 'api.example.com')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: The custom domain api.example.com is registered already.\n',
    });
    expect(
      await cli(
        'platform',
        'domains',
        'create',
        'x.example.com',
        '--cert',
        'missing.pem',
        '--key',
        'api.key',
      ),
    ).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: --cert: cannot read missing.pem (ENOENT).\n',
    });
    const alone = await cli('platform', 'domains', 'create', 'x.example.com', '--cert', 'api.pem');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--cert and --key go together.');
    const nothing = await cli('platform', 'domains', 'update', 'api.example.com');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    const unknown = await cli('platform', 'domains', 'delete', 'nope.example.com');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nope.example.com');
  });

  it('has --help for each command', async () => {
    for (const command of ['list', 'create', 'get', 'update', 'delete']) {
      const help = await cli('platform', 'domains', command, '--help');
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`Usage: gatehouse platform domains ${command}`);
    }
    const create = await cli('platform', 'domains', 'create', '--help');
    expect(create.stdout).toContain('--cert <file>');
    expect(create.stdout).toContain('--key <file>');
  });
});
