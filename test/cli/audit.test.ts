/**
 * `gatehouse audit list` with the built CLI: newest first, every filter (time range as
 * ISO or a duration ago, actor in each form, action family, target), cursor paging, the
 * table, and exit codes for mistakes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { type AuditEventJson, CLI_TEST_TIMEOUT, type CliTarget, cliTarget } from '../helpers/cli.js';
import { OPERATOR } from '../../src/services/principal.js';

interface Page {
  items: AuditEventJson[];
  nextCursor: string | null;
}

describe('gatehouse audit list', { timeout: CLI_TEST_TIMEOUT }, () => {
  let cli: CliTarget;
  let roleId = 0;

  beforeAll(async () => {
    cli = cliTarget('sqlite');
    await cli.json(['users', 'create', 'ann@example.com', '--role', 'Admin']);
    // A change made by a signed-in user (through the services, as the admin API does).
    const runtime = await openRuntime(loadConfig(cli.env), silentLogger());
    try {
      roleId = (
        await runtime.services.roles.create({ name: 'Readers', grants: ['data.view'] }, OPERATOR, {
          type: 'user',
          userId: 1,
          label: 'ann@example.com',
          ip: '198.51.100.4',
        })
      ).id;
    } finally {
      await runtime.close();
    }
    await cli.json(['roles', 'grant', 'Readers', 'audit.view']);
  });
  afterAll(async () => {
    await cli?.dispose();
  });

  it('lists newest first, with a table by default', async () => {
    const page = await cli.json<Page>(['audit', 'list']);
    expect(page.items.map((e) => e.action)).toEqual([
      'role.grant_added',
      'role.created',
      'user.created',
      'signing_key.rotated',
    ]);
    const ids = page.items.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const table = await cli.run(['audit', 'list', '--action', 'role.created']);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TIME\s+ACTOR\s+ACTION\s+TARGET\s+IP\s+DETAILS$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^\\d+\\s+\\S+Z\\s+user:1 \\(ann@example\\.com\\)\\s+role\\.created\\s+role:${roleId}\\s+198\\.51\\.100\\.4\\s+\\{"name":"Readers","grants":\\["data\\.view"\\]\\}$`,
      ),
    );
    expect(lines).toHaveLength(2);
  });

  it('filters by actor: an email, user:<id>, user:<email>, cli, system', async () => {
    const actions = async (...args: string[]) =>
      (await cli.json<Page>(['audit', 'list', ...args])).items.map((e) => e.action);
    expect(await actions('--actor', 'ann@example.com')).toEqual(['role.created']);
    expect(await actions('--actor', 'user:1')).toEqual(['role.created']);
    expect(await actions('--actor', 'user:ANN@example.com')).toEqual(['role.created']);
    expect(await actions('--actor', 'cli')).toEqual(['role.grant_added', 'user.created']);
    expect(await actions('--actor', 'system')).toEqual(['signing_key.rotated']);
  });

  it('filters by action family, target and time range', async () => {
    const actions = async (...args: string[]) =>
      (await cli.json<Page>(['audit', 'list', ...args])).items.map((e) => e.action);
    expect(await actions('--action', 'role.*')).toEqual(['role.grant_added', 'role.created']);
    expect(await actions('--target', `role:${roleId}`)).toEqual(['role.grant_added', 'role.created']);
    expect(await actions('--target', 'user:ann@example.com')).toEqual(['user.created']);
    expect(await actions('--since', '1h', '--action', 'user.created')).toEqual(['user.created']);
    expect(await actions('--since', '2999-01-01')).toEqual([]);
    expect(await actions('--until', '2000-01-01T00:00:00Z')).toEqual([]);
    expect(
      await actions('--since', '2000-01-01', '--until', '2999-01-01', '--actor', 'cli', '--action', 'user.*'),
    ).toEqual(['user.created']);
  });

  it('pages with --limit and --cursor', async () => {
    const first = await cli.json<Page>(['audit', 'list', '--limit', '3']);
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    const rest = await cli.json<Page>(['audit', 'list', '--limit', '3', '--cursor', first.nextCursor!]);
    expect(rest.items.map((e) => e.action)).toEqual(['signing_key.rotated']);
    expect(rest.nextCursor).toBeNull();
    const table = await cli.run(['audit', 'list', '--limit', '3']);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe(
      `(more: repeat with --cursor ${first.nextCursor})`,
    );
  });

  it('exports a time range oldest first as JSON lines, to stdout or to a file', async () => {
    const newestFirst = (await cli.json<Page>(['audit', 'list'])).items;
    const all = await cli.run(['audit', 'export']);
    expect(all.code).toBe(0);
    expect(all.stderr).toBe('');
    const lines = all.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => JSON.parse(line) as AuditEventJson)).toEqual([...newestFirst].reverse());

    // [since, until): the second event's time up to (not including) the newest one's.
    const [newest, , second] = newestFirst;
    const out = path.join(cli.dataDir, 'archive.jsonl');
    const range = await cli.run([
      'audit',
      'export',
      '--since',
      second!.occurredAt,
      '--until',
      newest!.occurredAt,
      '--out',
      out,
    ]);
    const expected = newestFirst.filter(
      (e) => e.occurredAt >= second!.occurredAt && e.occurredAt < newest!.occurredAt,
    );
    expect(range).toEqual({ code: 0, stdout: `Exported ${expected.length} events to ${out}.\n`, stderr: '' });
    expect(fs.readFileSync(out, 'utf8')).toBe(
      [...expected]
        .reverse()
        .map((e) => `${JSON.stringify(e)}\n`)
        .join(''),
    );
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${out}.partial`)).toBe(false);

    const empty = await cli.run(['audit', 'export', '--since', '2999-01-01']);
    expect(empty).toEqual({ code: 0, stdout: '', stderr: '' });
    const bad = await cli.run(['audit', 'export', '--until', 'soon']);
    expect(bad.code).toBe(2);
  });

  it('exits 2 on malformed options and 1 on an unknown user', async () => {
    const usage: Array<[string[], string]> = [
      [
        ['--since', 'yesterday'],
        "error: option '--since <time>' argument 'yesterday' is invalid. Must be an ISO-8601 time (2026-03-01T12:00:00Z) or a duration ago (30m, 12h, 7d).",
      ],
      [
        ['--limit', '500'],
        "error: option '--limit <n>' argument '500' is invalid. Must be a whole number from 1 to 200.",
      ],
      [
        ['--actor', 'robot:7'],
        "error: option '--actor <actor>' argument 'robot:7' is invalid: use cli, system, user:<id|email> or client:<id>.",
      ],
      [
        ['--target', ':5'],
        "error: option '--target <target>' argument ':5' is invalid: use <type> or <type>:<id>.",
      ],
    ];
    for (const [args, message] of usage) {
      const result = await cli.run(['audit', 'list', ...args]);
      expect({ args, code: result.code, stdout: result.stdout, first: result.stderr.split('\n')[0] }).toEqual(
        {
          args,
          code: 2,
          stdout: '',
          first: message,
        },
      );
    }
    expect(await cli.run(['audit', 'list', '--actor', 'nobody@example.com'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: Unknown user "nobody@example.com".\n',
    });
    expect((await cli.run(['audit', 'list', '--cursor', 'zzz'])).stderr).toBe(
      'gatehouse: "cursor" is not a cursor this list returned.\n',
    );
  });
});
