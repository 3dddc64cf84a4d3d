/** `gatehouse config show`: exact output for settings from each source, masked secrets, usage errors. */
import { describe, expect, it } from 'vitest';
import type { Env } from '../config.js';
import { runCliInProcess } from '../../test/helpers/run-cli.js';

const cli = (args: string[], env: Env = {}) => runCliInProcess(args, env, '/srv/gh');

const KEY = Buffer.alloc(32, 7).toString('base64');

describe('gatehouse config show', () => {
  it('prints a table: setting, value in effect, and its source', async () => {
    const result = await cli(['--data-dir', 'var', 'config', 'show'], {
      PORT: '9000',
      GATEHOUSE_SECRET_KEY: KEY,
      GATEHOUSE_REDIS_URL: 'redis://gh:hunter2@cache:6379',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n');
    const row = (variable: string) => lines.find((line) => line.startsWith(`${variable} `))?.split(/ {2,}/);
    expect(lines[0]!.split(/ {2,}/)).toEqual(['SETTING', 'VALUE', 'SOURCE']);
    expect(row('PORT')).toEqual(['PORT', '9000', 'environment']);
    expect(row('HOST')).toEqual(['HOST', '127.0.0.1', 'default']);
    expect(row('GATEHOUSE_DATA_DIR')).toEqual(['GATEHOUSE_DATA_DIR', '/srv/gh/var', 'flag']);
    expect(row('GATEHOUSE_ISSUER')).toEqual(['GATEHOUSE_ISSUER', 'http://localhost:9000', 'default']);
    expect(row('GATEHOUSE_SECRET_KEY')).toEqual(['GATEHOUSE_SECRET_KEY', '********', 'environment']);
    expect(row('GATEHOUSE_REDIS_URL')).toEqual([
      'GATEHOUSE_REDIS_URL',
      'redis://gh:********@cache:6379',
      'environment',
    ]);
    expect(row('GATEHOUSE_DATABASE_URL')).toEqual([
      'GATEHOUSE_DATABASE_URL',
      '(unset: SQLite file /srv/gh/var/gatehouse.db)',
      'default',
    ]);
    expect(result.stdout).not.toContain(KEY);
    expect(result.stdout).not.toContain('hunter2');
  });

  it('prints JSON with --json, the database URL from --database-url as a flag, password masked', async () => {
    const result = await cli(
      ['--database-url', 'postgres://gh:s3cret@db:5432/gh', 'config', 'show', '--json'],
      {
        GATEHOUSE_SECRET_KEY: KEY,
        GATEHOUSE_DATABASE_URL: 'postgres://other@db/x',
        GATEHOUSE_TOKEN_TTL: '600',
      },
    );
    expect(result.code).toBe(0);
    const { settings } = JSON.parse(result.stdout) as { settings: Array<Record<string, unknown>> };
    const byName = new Map(settings.map((s) => [s.variable, s]));
    expect(byName.get('GATEHOUSE_DATABASE_URL')).toEqual({
      variable: 'GATEHOUSE_DATABASE_URL',
      value: 'postgres://gh:********@db:5432/gh',
      source: 'flag',
    });
    expect(byName.get('GATEHOUSE_TOKEN_TTL')).toEqual({
      variable: 'GATEHOUSE_TOKEN_TTL',
      value: '600',
      source: 'environment',
    });
    expect(byName.get('GATEHOUSE_TOKEN_ALG')).toEqual({
      variable: 'GATEHOUSE_TOKEN_ALG',
      value: 'RS256',
      source: 'default',
    });
    expect(byName.get('GATEHOUSE_DATABASE_SCHEMA')).toEqual({
      variable: 'GATEHOUSE_DATABASE_SCHEMA',
      value: null,
      source: 'default',
      note: "the server's search path",
    });
    expect(result.stdout).not.toContain('s3cret');
  });

  it('reports an invalid setting as a configuration error (exit 1), and an unknown option as usage (exit 2)', async () => {
    expect(await cli(['config', 'show'], { GATEHOUSE_TOKEN_TTL: 'soon' })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: configuration error: GATEHOUSE_TOKEN_TTL: must be a whole number, got "soon"\n',
    });
    const usage = await cli(['config', 'show', '--jsn']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("error: unknown option '--jsn'");
  });
});
