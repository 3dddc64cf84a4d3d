/**
 * Every command of the CLI answers --help with exit code 0 and its usage, found by
 * walking the command tree the CLI itself prints (so groups added later are covered
 * too; the walk runs in-process, the top level through the built binary); and the
 * built binary's top-level mistakes give the documented exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_TEST_TIMEOUT, type CliTarget, cliTarget } from '../helpers/cli.js';
import { runCliInProcess } from '../helpers/run-cli.js';

/** Subcommand names listed under "Commands:" in a help text (not `help` itself). */
function subcommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1];
  if (section === undefined) return [];
  return section
    .split('\n')
    .map((line) => /^ {2}([a-z][a-z-]*)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

describe('gatehouse --help', { timeout: CLI_TEST_TIMEOUT }, () => {
  let cli: CliTarget;
  beforeAll(() => {
    cli = cliTarget('sqlite', { initialise: false });
  });
  afterAll(async () => {
    await cli?.dispose();
  });

  it('answers --help on every command and group with exit code 0', async () => {
    const top = await cli.run(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout.split('\n')[0]).toBe('Usage: gatehouse [options] [command]');
    const groups = subcommands(top.stdout);
    for (const expected of ['serve', 'migrate', 'init', 'users', 'roles', 'grants', 'audit']) {
      expect(groups).toContain(expected);
    }
    const visited: string[] = [];
    // The top level above ran the built binary; the walk runs the same commander tree in this
    // process (one Node start per command cost ~40 spawns, a third of this file's time).
    const visit = async (path: string[]): Promise<void> => {
      const result = await runCliInProcess([...path, '--help'], cli.env);
      expect({ path, code: result.code, stderr: result.stderr }).toEqual({ path, code: 0, stderr: '' });
      expect(result.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: gatehouse ${path.join(' ')}( |$)`));
      expect(result.stdout).toMatch(/-h, --help\s+display help for command/);
      visited.push(path.join(' '));
      for (const child of subcommands(result.stdout)) await visit([...path, child]);
    };
    for (const group of groups) await visit([group]);
    for (const command of [
      'users create',
      'users list',
      'users show',
      'users update',
      'users set-password',
      'users disable',
      'users enable',
      'roles list',
      'roles show',
      'roles create',
      'roles copy',
      'roles rename',
      'roles grant',
      'roles ungrant',
      'roles delete',
      'grants list',
      'audit list',
    ]) {
      expect(visited).toContain(command);
    }
    // Nothing was created by asking for help.
    expect(await import('node:fs').then((fs) => fs.readdirSync(cli.dataDir))).toEqual([]);
  });

  it('offers --json on every list and show command', async () => {
    for (const path of [
      ['users', 'list'],
      ['users', 'show'],
      ['roles', 'list'],
      ['roles', 'show'],
      ['grants', 'list'],
      ['audit', 'list'],
    ]) {
      expect((await runCliInProcess([...path, '--help'], cli.env)).stdout).toMatch(/^ {2}--json\s/m);
    }
  });

  it('exits 2 on an unknown command, 1 on a configuration error, 0 on --version', async () => {
    const unknown = await cli.run(['frobnicate']);
    expect(unknown).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown command 'frobnicate'\n(run with --help for usage)\n",
    });
    const config = await cli.run(['users', 'list'], {
      env: { GATEHOUSE_DATABASE_URL: 'postgres://127.0.0.1:1/x' },
    });
    expect(config).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'gatehouse: configuration error: GATEHOUSE_SECRET_KEY: is required with PostgreSQL, since every node must share it (generate one with: openssl rand -base64 32)\n',
    });
    const badPort = await cli.run(['users', 'list'], { env: { PORT: '99999' } });
    expect(badPort).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: configuration error: PORT: must be between 0 and 65535, got 99999\n',
    });
    expect(await cli.run(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('suggests the right option for a mistyped one, even when a required option is then missing', async () => {
    expect(
      await cli.run(['clients', 'create', 'Export', '--scope', 'data', '--owner', 'a@example.com']),
    ).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown option '--scope'\n(Did you mean --scopes?)\n(run with --help for usage)\n",
    });
    expect(await cli.run(['clients', 'create', 'Export', '--owner', 'a@example.com'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: required option '--scopes <list>' not specified\n(run with --help for usage)\n",
    });
  });
});
