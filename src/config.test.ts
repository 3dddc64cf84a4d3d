import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type Env, inspectConfig, loadConfig, maskUrl, SETTINGS } from './config.js';

const KEY = Buffer.alloc(32, 1).toString('base64');

function configError(env: Env): ConfigError {
  try {
    loadConfig(env, '/srv/gatehouse');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has a working default for everything, and freezes the result', () => {
    const config = loadConfig({}, '/srv/gatehouse');
    expect(config).toEqual({
      port: 8080,
      host: '127.0.0.1',
      dataDir: '/srv/gatehouse/data',
      databaseUrl: undefined,
      databaseSchema: undefined,
      secretKey: undefined,
      issuer: 'http://localhost:8080',
      audience: 'http://localhost:8080',
      customer: 'gatehouse',
      environment: 'prod1',
      logLevel: 'info',
      logFormat: 'auto',
      metricsPort: 9464,
      metricsHost: '127.0.0.1',
      adminEmail: undefined,
      adminPassword: undefined,
      tokenTtlSeconds: 3600,
      tokenAlg: 'RS256',
      keyRotationDays: 0,
      auditRetentionDays: 400,
      platformLogRetentionDays: 30,
      workers: Math.max(1, os.availableParallelism()),
      workflowConcurrency: 8,
      workerHeapMb: null,
      cachePollMs: 300,
      workflowHttpAllow: [],
      trustProxy: false,
      tokenCacheSize: 10_000,
      clientCacheSize: 100_000,
      maxJsonDepth: 64,
      workflowExpressionTimeoutMs: 1000,
      workflowExpressionHeapMb: 64,
      workflowMaxValueBytes: 1024 * 1024,
      workflowMaxRunBytes: 16 * 1024 * 1024,
      datasetMaxUploadBytes: 1024 * 1024 * 1024,
      datasetQueryTimeoutMs: 10_000,
      datasetQueryMaxRows: 100_000,
      streamExecutionTtlHours: 24,
      gatewayJwksCooldownSeconds: 30,
      platformImportUrls: [],
      redisUrl: undefined,
      redisPrefix: 'gatehouse:',
      throttle: {
        signIn: { max: 5, windowSeconds: 900 },
        signInAccount: { max: 100, windowSeconds: 3600 },
        signInAddress: { max: 20, windowSeconds: 900 },
        client: { max: 20, windowSeconds: 60 },
        clientId: { max: 1000, windowSeconds: 3600 },
        clientAddress: { max: 100, windowSeconds: 60 },
      },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.workflowHttpAllow)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        PORT: '9090',
        HOST: '0.0.0.0',
        GATEHOUSE_DATA_DIR: 'var/gh',
        GATEHOUSE_DATABASE_URL: 'postgres://gh@db.internal:5432/gatehouse',
        GATEHOUSE_DATABASE_SCHEMA: 'tenant_a',
        GATEHOUSE_SECRET_KEY: KEY,
        GATEHOUSE_ISSUER: 'https://auth.example.com/',
        GATEHOUSE_AUDIENCE: 'https://api.example.com',
        GATEHOUSE_CUSTOMER: 'acme',
        GATEHOUSE_ENV: 'test2',
        GATEHOUSE_LOG_LEVEL: 'DEBUG',
        GATEHOUSE_LOG_FORMAT: 'Pretty',
        GATEHOUSE_METRICS_PORT: '9500',
        GATEHOUSE_METRICS_HOST: '10.0.0.5',
        GATEHOUSE_ADMIN_EMAIL: 'root@example.com',
        GATEHOUSE_ADMIN_PASSWORD: 'twelve chars!',
        GATEHOUSE_TOKEN_TTL: '600',
        GATEHOUSE_TOKEN_ALG: 'EdDSA',
        GATEHOUSE_KEY_ROTATION_DAYS: '30',
        GATEHOUSE_AUDIT_RETENTION_DAYS: '0',
        GATEHOUSE_PLATFORM_LOG_RETENTION_DAYS: '7',
        GATEHOUSE_WORKERS: '3',
        GATEHOUSE_WORKFLOW_CONCURRENCY: '2',
        GATEHOUSE_WORKER_HEAP_MB: '512',
        GATEHOUSE_CACHE_POLL_MS: '1000',
        GATEHOUSE_WORKFLOW_HTTP_ALLOW: 'API.example.com, *.partner.example , 127.0.0.1:9000',
        GATEHOUSE_TRUST_PROXY: 'yes',
        GATEHOUSE_TOKEN_CACHE_SIZE: '50000',
        GATEHOUSE_CLIENT_CACHE_SIZE: '200000',
        GATEHOUSE_MAX_JSON_DEPTH: '32',
        GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS: '250',
        GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB: '128',
        GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES: '65536',
        GATEHOUSE_WORKFLOW_MAX_RUN_BYTES: '1048576',
        GATEHOUSE_DATASET_MAX_UPLOAD_BYTES: '2048',
        GATEHOUSE_DATASET_QUERY_TIMEOUT_MS: '500',
        GATEHOUSE_DATASET_QUERY_MAX_ROWS: '10',
        GATEHOUSE_STREAM_EXECUTION_TTL_HOURS: '2',
        GATEHOUSE_GATEWAY_JWKS_COOLDOWN_SECONDS: '0',
        GATEHOUSE_REDIS_URL: 'redis://cache.internal:6379/2',
        GATEHOUSE_REDIS_PREFIX: 'gh-prod:',
        GATEHOUSE_THROTTLE_SIGNIN: '3/10m',
        GATEHOUSE_THROTTLE_SIGNIN_ACCOUNT: ' 50 / 2h ',
        GATEHOUSE_THROTTLE_SIGNIN_ADDRESS: '30/30m',
        GATEHOUSE_THROTTLE_CLIENT: '10/30s',
        GATEHOUSE_THROTTLE_CLIENT_ID: '500/1h',
        GATEHOUSE_THROTTLE_CLIENT_ADDRESS: '200/1m',
      },
      '/srv/gatehouse',
    );
    expect(config).toEqual({
      port: 9090,
      host: '0.0.0.0',
      dataDir: '/srv/gatehouse/var/gh',
      databaseUrl: 'postgres://gh@db.internal:5432/gatehouse',
      databaseSchema: 'tenant_a',
      secretKey: Buffer.alloc(32, 1),
      issuer: 'https://auth.example.com',
      audience: 'https://api.example.com',
      customer: 'acme',
      environment: 'test2',
      logLevel: 'debug',
      logFormat: 'pretty',
      metricsPort: 9500,
      metricsHost: '10.0.0.5',
      adminEmail: 'root@example.com',
      adminPassword: 'twelve chars!',
      tokenTtlSeconds: 600,
      tokenAlg: 'EdDSA',
      keyRotationDays: 30,
      auditRetentionDays: 0,
      platformLogRetentionDays: 7,
      workers: 3,
      workflowConcurrency: 2,
      workerHeapMb: 512,
      cachePollMs: 1000,
      workflowHttpAllow: ['api.example.com', '*.partner.example', '127.0.0.1:9000'],
      trustProxy: true,
      tokenCacheSize: 50_000,
      clientCacheSize: 200_000,
      maxJsonDepth: 32,
      workflowExpressionTimeoutMs: 250,
      workflowExpressionHeapMb: 128,
      workflowMaxValueBytes: 65536,
      workflowMaxRunBytes: 1048576,
      datasetMaxUploadBytes: 2048,
      datasetQueryTimeoutMs: 500,
      datasetQueryMaxRows: 10,
      streamExecutionTtlHours: 2,
      gatewayJwksCooldownSeconds: 0,
      platformImportUrls: [],
      redisUrl: 'redis://cache.internal:6379/2',
      redisPrefix: 'gh-prod:',
      throttle: {
        signIn: { max: 3, windowSeconds: 600 },
        signInAccount: { max: 50, windowSeconds: 7200 },
        signInAddress: { max: 30, windowSeconds: 1800 },
        client: { max: 10, windowSeconds: 30 },
        clientId: { max: 500, windowSeconds: 3600 },
        clientAddress: { max: 200, windowSeconds: 60 },
      },
    });
  });

  it('turns the metrics listener off with GATEHOUSE_METRICS_PORT=off, and takes 0 for any free port', () => {
    expect(loadConfig({ GATEHOUSE_METRICS_PORT: 'OFF' }).metricsPort).toBeNull();
    expect(loadConfig({ GATEHOUSE_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(loadConfig({ GATEHOUSE_METRICS_PORT: ' ' }).metricsPort).toBe(9464);
  });

  it('takes GATEHOUSE_WORKER_HEAP_MB as auto, 0 (V8 default) or a limit of at least 64 MB', () => {
    expect(loadConfig({}).workerHeapMb).toBeNull();
    expect(loadConfig({ GATEHOUSE_WORKER_HEAP_MB: 'Auto' }).workerHeapMb).toBeNull();
    expect(loadConfig({ GATEHOUSE_WORKER_HEAP_MB: '0' }).workerHeapMb).toBe(0);
    expect(loadConfig({ GATEHOUSE_WORKER_HEAP_MB: '64' }).workerHeapMb).toBe(64);
    expect(configError({ GATEHOUSE_WORKER_HEAP_MB: '32' }).message).toBe(
      'GATEHOUSE_WORKER_HEAP_MB: must be 0, auto, or at least 64 (MB), got 32',
    );
    expect(configError({ GATEHOUSE_WORKER_HEAP_MB: '1.5g' }).message).toBe(
      'GATEHOUSE_WORKER_HEAP_MB: must be a whole number, got "1.5g"',
    );
  });

  it('derives the issuer from PORT, and the audience from the issuer', () => {
    expect(loadConfig({ PORT: '3000' })).toMatchObject({
      issuer: 'http://localhost:3000',
      audience: 'http://localhost:3000',
    });
    expect(loadConfig({ GATEHOUSE_ISSUER: 'https://id.example.com//' })).toMatchObject({
      issuer: 'https://id.example.com',
      audience: 'https://id.example.com',
    });
  });

  it('keeps an absolute data dir and accepts base64url secret keys', () => {
    expect(loadConfig({ GATEHOUSE_DATA_DIR: '/var/lib/gatehouse' }, '/srv').dataDir).toBe(
      '/var/lib/gatehouse',
    );
    const urlSafe = Buffer.alloc(33, 0xfb).toString('base64url');
    expect(loadConfig({ GATEHOUSE_SECRET_KEY: urlSafe }).secretKey).toEqual(Buffer.alloc(33, 0xfb));
  });

  it('treats empty values as unset', () => {
    expect(
      loadConfig({
        PORT: '',
        GATEHOUSE_SECRET_KEY: ' ',
        GATEHOUSE_DATABASE_URL: '',
        GATEHOUSE_LOG_LEVEL: '',
      }),
    ).toMatchObject({
      port: 8080,
      secretKey: undefined,
      databaseUrl: undefined,
      logLevel: 'info',
    });
  });

  it.each<[Env, string, string]>([
    [{ PORT: 'eighty' }, 'PORT', 'PORT: must be a whole number, got "eighty"'],
    [{ PORT: '65536' }, 'PORT', 'PORT: must be between 0 and 65535, got 65536'],
    [{ PORT: '-1' }, 'PORT', 'PORT: must be a whole number, got "-1"'],
    [
      { GATEHOUSE_DATABASE_URL: 'not a url' },
      'GATEHOUSE_DATABASE_URL',
      'GATEHOUSE_DATABASE_URL: is not a valid URL: "not a url"',
    ],
    [
      { GATEHOUSE_DATABASE_URL: 'mysql://db/gh' },
      'GATEHOUSE_DATABASE_URL',
      'GATEHOUSE_DATABASE_URL: must use postgres: or postgresql:, got "mysql:"',
    ],
    [
      { GATEHOUSE_DATABASE_URL: 'postgres://db/gh' },
      'GATEHOUSE_SECRET_KEY',
      'GATEHOUSE_SECRET_KEY: is required with PostgreSQL, since every node must share it (generate one with: openssl rand -base64 32)',
    ],
    [
      { GATEHOUSE_DATABASE_SCHEMA: 'Tenant-A' },
      'GATEHOUSE_DATABASE_SCHEMA',
      'GATEHOUSE_DATABASE_SCHEMA: must be a lower-case SQL identifier',
    ],
    [
      { GATEHOUSE_SECRET_KEY: Buffer.alloc(16).toString('base64') },
      'GATEHOUSE_SECRET_KEY',
      'GATEHOUSE_SECRET_KEY: must decode to at least 32 bytes, got 16 (try: openssl rand -base64 32)',
    ],
    [{ GATEHOUSE_SECRET_KEY: 'not base64!' }, 'GATEHOUSE_SECRET_KEY', 'GATEHOUSE_SECRET_KEY: must be base64'],
    [
      { GATEHOUSE_ISSUER: 'auth.example.com' },
      'GATEHOUSE_ISSUER',
      'GATEHOUSE_ISSUER: is not a valid URL: "auth.example.com"',
    ],
    [
      { GATEHOUSE_ISSUER: 'ftp://auth.example.com' },
      'GATEHOUSE_ISSUER',
      'GATEHOUSE_ISSUER: must use http: or https:, got "ftp:"',
    ],
    [
      { GATEHOUSE_LOG_LEVEL: 'loud' },
      'GATEHOUSE_LOG_LEVEL',
      'GATEHOUSE_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [
      { GATEHOUSE_LOG_FORMAT: 'text' },
      'GATEHOUSE_LOG_FORMAT',
      'GATEHOUSE_LOG_FORMAT: must be one of auto, json, pretty, got "text"',
    ],
    [
      { GATEHOUSE_METRICS_PORT: 'none' },
      'GATEHOUSE_METRICS_PORT',
      'GATEHOUSE_METRICS_PORT: must be a port number (0–65535) or off, got "none"',
    ],
    [
      { GATEHOUSE_METRICS_PORT: '70000' },
      'GATEHOUSE_METRICS_PORT',
      'GATEHOUSE_METRICS_PORT: must be between 0 and 65535, got 70000',
    ],
    [
      { GATEHOUSE_ADMIN_EMAIL: 'root' },
      'GATEHOUSE_ADMIN_EMAIL',
      'GATEHOUSE_ADMIN_EMAIL: is not a valid email address: "root"',
    ],
    [
      { GATEHOUSE_ADMIN_PASSWORD: 'short' },
      'GATEHOUSE_ADMIN_PASSWORD',
      'GATEHOUSE_ADMIN_PASSWORD: must be at least 12 characters',
    ],
    [
      { GATEHOUSE_TOKEN_TTL: '59' },
      'GATEHOUSE_TOKEN_TTL',
      'GATEHOUSE_TOKEN_TTL: must be between 60 and 86400, got 59',
    ],
    [
      { GATEHOUSE_TOKEN_TTL: '86401' },
      'GATEHOUSE_TOKEN_TTL',
      'GATEHOUSE_TOKEN_TTL: must be between 60 and 86400, got 86401',
    ],
    [
      { GATEHOUSE_TOKEN_ALG: 'HS256' },
      'GATEHOUSE_TOKEN_ALG',
      'GATEHOUSE_TOKEN_ALG: must be one of RS256, ES256, EdDSA, got "HS256"',
    ],
    [
      { GATEHOUSE_KEY_ROTATION_DAYS: '1.5' },
      'GATEHOUSE_KEY_ROTATION_DAYS',
      'GATEHOUSE_KEY_ROTATION_DAYS: must be a whole number, got "1.5"',
    ],
    [
      { GATEHOUSE_AUDIT_RETENTION_DAYS: '36501' },
      'GATEHOUSE_AUDIT_RETENTION_DAYS',
      'GATEHOUSE_AUDIT_RETENTION_DAYS: must be between 0 and 36500, got 36501',
    ],
    [{ GATEHOUSE_WORKERS: '0' }, 'GATEHOUSE_WORKERS', 'GATEHOUSE_WORKERS: must be between 1 and 256, got 0'],
    [
      { GATEHOUSE_WORKFLOW_CONCURRENCY: '0' },
      'GATEHOUSE_WORKFLOW_CONCURRENCY',
      'GATEHOUSE_WORKFLOW_CONCURRENCY: must be between 1 and 1000, got 0',
    ],
    [
      { GATEHOUSE_MAX_JSON_DEPTH: '7' },
      'GATEHOUSE_MAX_JSON_DEPTH',
      'GATEHOUSE_MAX_JSON_DEPTH: must be between 8 and 512, got 7',
    ],
    [
      { GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS: '5' },
      'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS',
      'GATEHOUSE_WORKFLOW_EXPRESSION_TIMEOUT_MS: must be between 10 and 60000, got 5',
    ],
    [
      { GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB: '8' },
      'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB',
      'GATEHOUSE_WORKFLOW_EXPRESSION_HEAP_MB: must be between 16 and 4096, got 8',
    ],
    [
      { GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES: '2048', GATEHOUSE_WORKFLOW_MAX_RUN_BYTES: '1024' },
      'GATEHOUSE_WORKFLOW_MAX_RUN_BYTES',
      'GATEHOUSE_WORKFLOW_MAX_RUN_BYTES: must be at least GATEHOUSE_WORKFLOW_MAX_VALUE_BYTES (2048), got 1024',
    ],
    [
      { GATEHOUSE_REDIS_URL: 'http://cache:6379' },
      'GATEHOUSE_REDIS_URL',
      'GATEHOUSE_REDIS_URL: must use redis: or rediss:, got "http:"',
    ],
    [
      { GATEHOUSE_REDIS_PREFIX: 'has space' },
      'GATEHOUSE_REDIS_PREFIX',
      'GATEHOUSE_REDIS_PREFIX: must be 1–64 letters, digits or : . _ -',
    ],
    [
      { GATEHOUSE_THROTTLE_SIGNIN: '5 per 15m' },
      'GATEHOUSE_THROTTLE_SIGNIN',
      'GATEHOUSE_THROTTLE_SIGNIN: must look like 5/15m (count/window in s, m or h), got "5 per 15m"',
    ],
    [
      { GATEHOUSE_THROTTLE_CLIENT: '0/1m' },
      'GATEHOUSE_THROTTLE_CLIENT',
      'GATEHOUSE_THROTTLE_CLIENT: count must be between 1 and 1000000, got 0',
    ],
    [
      { GATEHOUSE_THROTTLE_CLIENT_ID: '10/25h' },
      'GATEHOUSE_THROTTLE_CLIENT_ID',
      'GATEHOUSE_THROTTLE_CLIENT_ID: window must be between 1s and 24h, got 90000s',
    ],
    [
      { GATEHOUSE_WORKFLOW_HTTP_ALLOW: 'api.example.com,https://evil.example' },
      'GATEHOUSE_WORKFLOW_HTTP_ALLOW',
      'GATEHOUSE_WORKFLOW_HTTP_ALLOW: "https://evil.example" is not a host name',
    ],
    [
      { GATEHOUSE_TRUST_PROXY: 'maybe' },
      'GATEHOUSE_TRUST_PROXY',
      'GATEHOUSE_TRUST_PROXY: must be true or false, got "maybe"',
    ],
    [
      { GATEHOUSE_TOKEN_CACHE_SIZE: '0' },
      'GATEHOUSE_TOKEN_CACHE_SIZE',
      'GATEHOUSE_TOKEN_CACHE_SIZE: must be between 1 and 1000000, got 0',
    ],
    [
      { GATEHOUSE_CLIENT_CACHE_SIZE: '1000001' },
      'GATEHOUSE_CLIENT_CACHE_SIZE',
      'GATEHOUSE_CLIENT_CACHE_SIZE: must be between 1 and 1000000, got 1000001',
    ],
  ])('rejects %o with one line naming %s', (env, variable, message) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });

  it('never echoes a secret key back in its error', () => {
    const secret = 'c2hvcnQtYnV0LXNlY3JldA==';
    expect(configError({ GATEHOUSE_SECRET_KEY: secret }).message).not.toContain(secret);
  });

  it('documents every variable it reads in SETTINGS, and the README table lists every setting', () => {
    // Every variable is read through the SettingsReader, which records it: that record is the list read.
    const read = new Set(inspectConfig({}, '/srv/gatehouse').settings.map((s) => s.variable));
    const documented = new Set(SETTINGS.flatMap((s) => s.variable.split(' / ')));
    expect([...read].filter((v) => !documented.has(v!))).toEqual([]);
    expect([...documented].filter((v) => !read.has(v))).toEqual([]);
    const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../README.md'), 'utf8');
    const rows = readme.split('\n').filter((line) => line.startsWith('| `'));
    for (const variable of documented) {
      expect(
        rows.filter((row) => row.split('|')[1]!.includes(`\`${variable}\``)),
        variable,
      ).toHaveLength(1);
    }
  });
});

describe('inspectConfig', () => {
  const setting = (env: Env, variable: string, flags: Env = {}) =>
    inspectConfig(env, '/srv/gatehouse', flags).settings.find((s) => s.variable === variable);

  it('says where each value came from: default, environment or flag', () => {
    expect(setting({}, 'PORT')).toEqual({ variable: 'PORT', value: '8080', source: 'default' });
    expect(setting({ PORT: ' 9090 ' }, 'PORT')).toEqual({
      variable: 'PORT',
      value: '9090',
      source: 'environment',
    });
    expect(
      setting({ GATEHOUSE_DATA_DIR: '/var/env' }, 'GATEHOUSE_DATA_DIR', { GATEHOUSE_DATA_DIR: 'flagdir' }),
    ).toEqual({ variable: 'GATEHOUSE_DATA_DIR', value: '/srv/gatehouse/flagdir', source: 'flag' });
    // A blank variable is the default.
    expect(setting({ GATEHOUSE_TOKEN_ALG: ' ' }, 'GATEHOUSE_TOKEN_ALG')).toEqual({
      variable: 'GATEHOUSE_TOKEN_ALG',
      value: 'RS256',
      source: 'default',
    });
    expect(setting({ GATEHOUSE_THROTTLE_CLIENT: '7 / 2m' }, 'GATEHOUSE_THROTTLE_CLIENT')).toEqual({
      variable: 'GATEHOUSE_THROTTLE_CLIENT',
      value: '7/2m',
      source: 'environment',
    });
    expect(setting({}, 'GATEHOUSE_DATABASE_URL')).toEqual({
      variable: 'GATEHOUSE_DATABASE_URL',
      value: null,
      source: 'default',
      note: 'SQLite file /srv/gatehouse/data/gatehouse.db',
    });
  });

  it('masks the secret key, the admin password and the password of database and Redis URLs', () => {
    const env = {
      GATEHOUSE_SECRET_KEY: KEY,
      GATEHOUSE_ADMIN_PASSWORD: 'correct horse battery',
      GATEHOUSE_REDIS_URL: 'redis://:hunter2@cache:6379/0',
    };
    const flags = {
      GATEHOUSE_DATABASE_URL: 'postgres://gh:s3cret@db.internal:5432/gatehouse?sslmode=require',
    };
    const { settings } = inspectConfig(env, '/srv/gatehouse', flags);
    const text = JSON.stringify(settings);
    for (const secret of [KEY, 'correct horse battery', 'hunter2', 's3cret'])
      expect(text).not.toContain(secret);
    const byName = new Map(settings.map((s) => [s.variable, s]));
    expect(byName.get('GATEHOUSE_SECRET_KEY')).toEqual({
      variable: 'GATEHOUSE_SECRET_KEY',
      value: '********',
      source: 'environment',
    });
    expect(byName.get('GATEHOUSE_ADMIN_PASSWORD')?.value).toBe('********');
    expect(byName.get('GATEHOUSE_DATABASE_URL')).toEqual({
      variable: 'GATEHOUSE_DATABASE_URL',
      value: 'postgres://gh:********@db.internal:5432/gatehouse?sslmode=require',
      source: 'flag',
    });
    expect(byName.get('GATEHOUSE_REDIS_URL')?.value).toBe('redis://:********@cache:6379/0');
  });

  it('masks a password given as a query parameter, and leaves a URL without one alone', () => {
    expect(maskUrl('postgres://db/gatehouse?user=gh&password=s3cret')).toBe(
      'postgres://db/gatehouse?user=gh&password=********',
    );
    expect(maskUrl('redis://cache:6379')).toBe('redis://cache:6379');
  });

  it('never echoes the password of an unparsable URL in its error', () => {
    expect(configError({ GATEHOUSE_REDIS_URL: 'redis://u:pa ss@[bad' }).message).toBe(
      'GATEHOUSE_REDIS_URL: is not a valid URL: "redis://u:********@[bad"',
    );
  });

  it('lists every documented variable, in the order of SETTINGS', () => {
    const listed = inspectConfig({}, '/srv/gatehouse').settings.map((s) => s.variable);
    expect(listed).toEqual(SETTINGS.flatMap((s) => s.variable.split(' / ')));
  });
});
