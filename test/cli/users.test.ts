/**
 * `gatehouse users …` end to end: the built CLI in a child process against a
 * fresh data directory. Exact messages and exit codes (1 for errors, 2 for
 * usage), --json shapes, passwords only by --generate or --password-stdin, and
 * audit events with actor `cli`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import type { User } from '../../src/services/users.js';
import { type AuditEventJson, CLI_TEST_TIMEOUT, type CliTarget, cliTarget } from '../helpers/cli.js';
import { dialects } from '../helpers/stores.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const PASSWORD_LINE = /^Password \(shown once; must be changed at first sign-in\): ([A-Za-z0-9]{20})$/m;

/** Opens the same data the CLI used, through the services, to check what it stored. */
async function inspect<T>(cli: CliTarget, look: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await openRuntime(loadConfig(cli.env), silentLogger());
  try {
    return await look(runtime);
  } finally {
    await runtime.close();
  }
}

describe('gatehouse users (SQLite)', { timeout: CLI_TEST_TIMEOUT }, () => {
  let cli: CliTarget;
  let generatedPassword = '';

  beforeAll(() => {
    cli = cliTarget('sqlite');
  });
  afterAll(async () => {
    await cli?.dispose();
  });

  it('creates a user with a generated password, printed once and flagged to be changed', async () => {
    const result = await cli.run([
      'users',
      'create',
      'alice@example.com',
      '--name',
      'Alice',
      '--role',
      'Editor',
      '--generate',
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Created user 1 alice@example.com (role Editor).');
    generatedPassword = PASSWORD_LINE.exec(result.stdout)?.[1] ?? '';
    expect(generatedPassword).toHaveLength(20);
    expect(lines).toHaveLength(2);
    const signedIn = await inspect(cli, (rt) =>
      rt.services.users.checkPassword('ALICE@example.com', generatedPassword),
    );
    expect(signedIn).toMatchObject({ id: 1, email: 'alice@example.com', mustChangePassword: true });
  });

  it('creates a user with a password read from standard input, and prints {user} with --json', async () => {
    const out = await cli.json<{ user: User; password?: string }>(
      ['users', 'create', 'bob@example.com', '--password-stdin', '--no-must-change'],
      { stdin: 'plum tree in autumn\n' },
    );
    expect(Object.keys(out)).toEqual(['user']);
    expect(out.user).toEqual({
      id: 2,
      email: 'bob@example.com',
      displayName: 'bob',
      role: { id: expect.any(Number), name: 'Participant' },
      status: 'active',
      mustChangePassword: false,
      profile: {},
      createdAt: expect.stringMatching(ISO),
      updatedAt: out.user.createdAt,
    });
    // The trailing newline of `echo` is not part of the password.
    expect(
      await inspect(cli, (rt) => rt.services.users.checkPassword('bob@example.com', 'plum tree in autumn')),
    ).toMatchObject({
      id: 2,
    });
  });

  it('prints {user, password} with --generate --json', async () => {
    const out = await cli.json<{ user: User; password: string }>([
      'users',
      'create',
      'carol@example.com',
      '--generate',
    ]);
    expect(Object.keys(out)).toEqual(['user', 'password']);
    expect(out.password).toMatch(/^[A-Za-z0-9]{20}$/);
    expect(out.user).toMatchObject({ id: 3, email: 'carol@example.com', mustChangePassword: true });
  });

  it('creates a user without a password when neither option is given, and says how to set one', async () => {
    const result = await cli.run(['users', 'create', 'svc@example.com', '--role', 'Social']);
    expect(result).toEqual({
      code: 0,
      stdout:
        'Created user 4 svc@example.com (role Social).\n' +
        'No password set; give one with: gatehouse users set-password 4 --generate\n',
      stderr: '',
    });
  });

  it('rejects bad input with exit code 1, one clear line on stderr, and changes nothing', async () => {
    const before = await inspect(cli, async (rt) => ({
      users: await rt.services.users.count(),
      audit: (await rt.services.audit.query({ limit: 1 })).items[0]?.id,
    }));
    const cases: Array<[string[], string]> = [
      [['users', 'create', 'ALICE@example.com'], 'A user with email "ALICE@example.com" already exists.'],
      [['users', 'create', 'not-an-email'], '"not-an-email" is not a valid email address.'],
      [['users', 'create', 'dave@example.com', '--role', 'Wizards'], 'Unknown role "Wizards".'],
      [['users', 'create', 'dave@example.com', '--name', '  '], 'Display name must not be empty.'],
      [
        ['users', 'update', 'bob@example.com', '--email', 'alice@example.com'],
        'A user with email "alice@example.com" already exists.',
      ],
      [['users', 'update', '2', '--role', 'Wizards'], 'Unknown role "Wizards".'],
      [['users', 'update', '2', '--name', ''], 'Display name must not be empty.'],
      [['users', 'show', 'nobody@example.com'], 'User nobody@example.com not found.'],
      [['users', 'disable', '99'], 'User 99 not found.'],
      [['users', 'list', '--role', 'Wizards'], 'Unknown role "Wizards".'],
    ];
    for (const [args, message] of cases) {
      const result = await cli.run(args);
      expect({ args, ...result }).toEqual({ args, code: 1, stdout: '', stderr: `gatehouse: ${message}\n` });
    }
    const short = await cli.run(['users', 'create', 'dave@example.com', '--password-stdin'], {
      stdin: 'short\n',
    });
    expect(short).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: Password must be at least 12 characters.\n',
    });
    const after = await inspect(cli, async (rt) => ({
      users: await rt.services.users.count(),
      audit: (await rt.services.audit.query({ limit: 1 })).items[0]?.id,
    }));
    expect(after).toEqual(before);
  });

  it('treats usage mistakes as exit code 2, before touching the data', async () => {
    const cases: Array<[string[], string]> = [
      [['users', 'create'], "error: missing required argument 'email'"],
      [
        ['users', 'create', 'e@example.com', '--generate', '--password-stdin'],
        "error: option '--generate' cannot be used with option '--password-stdin'",
      ],
      [
        ['users', 'create', 'e@example.com', '--password', 'hunter2hunter2'],
        "error: unknown option '--password'",
      ],
      [
        ['users', 'list', '--limit', '0'],
        "error: option '--limit <n>' argument '0' is invalid. Must be a whole number from 1 to 200.",
      ],
      [
        ['users', 'list', '--status', 'gone'],
        "error: option '--status <status>' argument 'gone' is invalid. Allowed choices are active, disabled.",
      ],
      [['users', 'update', '2'], 'error: nothing to update: give --email, --name or --role.'],
      [['users', 'set-password', '2'], 'error: give --generate or --password-stdin.'],
      [['users', 'frobnicate'], "error: unknown command 'frobnicate'"],
    ];
    for (const [args, message] of cases) {
      const result = await cli.run(args);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr.split('\n')[0]).toBe(message);
    }
    expect(await inspect(cli, (rt) => rt.services.users.count())).toBe(4);
  });

  it('lists users oldest first as a table, and as {items, nextCursor} with --json', async () => {
    const table = await cli.run(['users', 'list']);
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^ID\s+EMAIL\s+NAME\s+ROLE\s+STATUS\s+CREATED$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 5))).toEqual([
      ['1', 'alice@example.com', 'Alice', 'Editor', 'active'],
      ['2', 'bob@example.com', 'bob', 'Participant', 'active'],
      ['3', 'carol@example.com', 'carol', 'Participant', 'active'],
      ['4', 'svc@example.com', 'svc', 'Social', 'active'],
    ]);
    const page = await cli.json<{ items: User[]; nextCursor: string | null }>(['users', 'list']);
    expect(Object.keys(page)).toEqual(['items', 'nextCursor']);
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((u) => u.email)).toEqual([
      'alice@example.com',
      'bob@example.com',
      'carol@example.com',
      'svc@example.com',
    ]);
    expect(Object.keys(page.items[0]!).sort()).toEqual(
      [
        'createdAt',
        'displayName',
        'email',
        'id',
        'mustChangePassword',
        'profile',
        'role',
        'status',
        'updatedAt',
      ].sort(),
    );
    // No password hash, ever.
    expect(JSON.stringify(page)).not.toMatch(/hash|scrypt/i);
  });

  it('pages with --limit and --cursor, and filters by --search and --role', async () => {
    const first = await cli.json<{ items: User[]; nextCursor: string }>(['users', 'list', '--limit', '3']);
    expect(first.items.map((u) => u.id)).toEqual([1, 2, 3]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const table = await cli.run(['users', 'list', '--limit', '3']);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe(
      `(more: repeat with --cursor ${first.nextCursor})`,
    );
    const second = await cli.json<{ items: User[]; nextCursor: null }>([
      'users',
      'list',
      '--limit',
      '3',
      '--cursor',
      first.nextCursor,
    ]);
    expect(second).toMatchObject({ items: [{ id: 4 }], nextCursor: null });
    expect(
      (await cli.json<{ items: User[] }>(['users', 'list', '--search', 'CAR'])).items.map((u) => u.id),
    ).toEqual([3]);
    expect(
      (await cli.json<{ items: User[] }>(['users', 'list', '--role', 'participant'])).items.map((u) => u.id),
    ).toEqual([2, 3]);
    const badCursor = await cli.run(['users', 'list', '--cursor', 'nonsense']);
    expect(badCursor).toMatchObject({
      code: 1,
      stderr: 'gatehouse: "cursor" is not a cursor this list returned.\n',
    });
  });

  it('shows one user by id or email, with the grants of their role', async () => {
    const shown = await cli.json<User & { grants: string[] }>(['users', 'show', 'Alice@Example.com']);
    expect(shown).toMatchObject({ id: 1, email: 'alice@example.com', role: { name: 'Editor' } });
    expect(shown.grants).toEqual(['access_tokens.create', 'workflow.api', 'data.view', 'data.manage']);
    const text = await cli.run(['users', 'show', '1']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^id:\s+1$/m);
    expect(text.stdout).toMatch(/^role:\s+Editor$/m);
    expect(text.stdout).toMatch(/^must change password:\s+yes$/m);
    expect(text.stdout).toMatch(
      /^grants:\s+access_tokens\.create, workflow\.api, data\.view, data\.manage$/m,
    );
  });

  it('updates email, name and role', async () => {
    const result = await cli.run([
      'users',
      'update',
      'bob@example.com',
      '--email',
      'robert@example.com',
      '--name',
      'Robert',
      '--role',
      'Privileged',
    ]);
    expect(result).toEqual({
      code: 0,
      stdout: 'Updated user 2 robert@example.com (role Privileged).\n',
      stderr: '',
    });
    const user = await cli.json<User>(['users', 'show', '2']);
    expect(user).toMatchObject({
      email: 'robert@example.com',
      displayName: 'Robert',
      role: { name: 'Privileged' },
    });
  });

  it('sets a password from standard input; the old one stops working', async () => {
    const result = await cli.run(
      ['users', 'set-password', 'alice@example.com', '--password-stdin', '--no-must-change'],
      {
        stdin: 'a brand new passphrase',
      },
    );
    expect(result).toEqual({
      code: 0,
      stdout: 'Set the password of user 1 alice@example.com.\n',
      stderr: '',
    });
    await inspect(cli, async (rt) => {
      expect(await rt.services.users.checkPassword('alice@example.com', generatedPassword)).toBeUndefined();
      expect(
        await rt.services.users.checkPassword('alice@example.com', 'a brand new passphrase'),
      ).toMatchObject({
        mustChangePassword: false,
      });
    });
  });

  it('disables and enables a user', async () => {
    expect(await cli.run(['users', 'disable', 'carol@example.com'])).toEqual({
      code: 0,
      stdout: 'User 3 carol@example.com is disabled.\n',
      stderr: '',
    });
    expect(
      (await cli.json<{ items: User[] }>(['users', 'list', '--status', 'disabled'])).items.map((u) => u.id),
    ).toEqual([3]);
    const enabled = await cli.json<User>(['users', 'enable', '3']);
    expect(enabled).toMatchObject({ id: 3, status: 'active' });
    expect((await cli.json<{ items: User[] }>(['users', 'list', '--status', 'disabled'])).items).toEqual([]);
  });

  it('will not disable the last active Admin', async () => {
    await cli.json(['users', 'update', '4', '--role', 'Admin']);
    const result = await cli.run(['users', 'disable', '4']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'gatehouse: "svc@example.com" is the last active Admin; disabling them would leave nobody to administer Gatehouse.\n',
    });
  });

  it('records every change in the audit log with actor cli, and never a password', async () => {
    const page = await cli.json<{ items: AuditEventJson[]; nextCursor: string | null }>([
      'audit',
      'list',
      '--target',
      'user',
      '--limit',
      '200',
    ]);
    expect(page.items.map((e) => [e.action, e.target?.id])).toEqual([
      ['user.updated', '4'],
      ['user.enabled', '3'],
      ['user.disabled', '3'],
      ['user.password_changed', '1'],
      ['user.updated', '2'],
      ['user.created', '4'],
      ['user.created', '3'],
      ['user.created', '2'],
      ['user.created', '1'],
    ]);
    for (const event of page.items) expect(event.actor).toEqual({ type: 'cli', id: null, label: null });
    expect(page.items.at(-1)!.details).toEqual({
      email: 'alice@example.com',
      displayName: 'Alice',
      role: 'Editor',
    });
    expect(page.items[3]!.details).toEqual({ mustChange: false });
    const everything = JSON.stringify(page);
    expect(everything).not.toContain(generatedPassword);
    expect(everything).not.toContain('plum tree in autumn');
    expect(everything).not.toContain('a brand new passphrase');
  });
});

const postgres = dialects().find((d) => d.name === 'postgres')!;

describe.skipIf(postgres.skip)(
  'gatehouse users and roles on PostgreSQL (GATEHOUSE_DATABASE_URL)',
  { timeout: CLI_TEST_TIMEOUT },
  () => {
    let cli: CliTarget;
    beforeAll(() => {
      cli = cliTarget('postgres');
    });
    afterAll(async () => {
      await cli?.dispose();
    });

    it('manages users and roles in the configured database and audits with actor cli', async () => {
      const created = await cli.json<{ user: User; password: string }>([
        'users',
        'create',
        'pg@example.com',
        '--role',
        'Editor',
        '--generate',
      ]);
      expect(created.user).toMatchObject({
        id: 1,
        email: 'pg@example.com',
        role: { name: 'Editor' },
        mustChangePassword: true,
      });
      expect(
        await inspect(cli, (rt) => rt.services.users.checkPassword('pg@example.com', created.password)),
      ).toMatchObject({ id: 1 });
      expect(await cli.run(['users', 'create', 'PG@example.com'])).toEqual({
        code: 1,
        stdout: '',
        stderr: 'gatehouse: A user with email "PG@example.com" already exists.\n',
      });
      expect((await cli.json<RoleLike>(['roles', 'copy', 'Editor', 'Data team'])).grants).toEqual([
        'access_tokens.create',
        'workflow.api',
        'data.view',
        'data.manage',
      ]);
      await cli.json(['users', 'update', '1', '--role', 'data team']);
      expect((await cli.run(['roles', 'delete', 'Data team'])).stderr).toBe(
        'gatehouse: Role "Data team" is assigned to 1 user; move them to another role first.\n',
      );
      const page = await cli.json<{ items: AuditEventJson[] }>(['audit', 'list', '--actor', 'cli']);
      expect(page.items.map((e) => e.action)).toEqual(['user.updated', 'role.copied', 'user.created']);
      expect(JSON.stringify(page)).not.toContain(created.password);
    });
  },
);

interface RoleLike {
  grants: string[];
}
