/**
 * `gatehouse roles …` and `gatehouse grants list` end to end with the built CLI:
 * system roles can only be copied, custom roles go through their whole life,
 * bad input gets exact messages and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRANTS, SYSTEM_ROLES } from '../../src/services/grants.js';
import type { Role } from '../../src/services/roles.js';
import { type AuditEventJson, CLI_TEST_TIMEOUT, type CliTarget, cliTarget } from '../helpers/cli.js';

const ALL_GRANTS = GRANTS.map((g) => g.id);

describe('gatehouse roles and grants (SQLite)', { timeout: CLI_TEST_TIMEOUT }, () => {
  let cli: CliTarget;

  beforeAll(() => {
    cli = cliTarget('sqlite');
  });
  afterAll(async () => {
    await cli?.dispose();
  });

  it('lists the grant catalog with the system roles holding each grant', async () => {
    const { items } = await cli.json<{
      items: Array<{ id: string; name: string; description: string; systemRoles: string[] }>;
    }>(['grants', 'list']);
    expect(items.map((g) => g.id)).toEqual(ALL_GRANTS);
    expect(items.find((g) => g.id === 'api.clients.create')).toEqual({
      id: 'api.clients.create',
      name: 'Create API OAuth Clients',
      description: 'Create API clients, and view and revoke the clients one owns.',
      systemRoles: ['Admin', 'Privileged'],
    });
    expect(items.find((g) => g.id === 'api.clients.manage_all')?.systemRoles).toEqual(['Admin']);
    const table = await cli.run(['grants', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+SYSTEM ROLES\s+DESCRIPTION$/);
    expect(table.stdout).toMatch(/^workflow\.api\s+Workflow API\s+Admin, Privileged, Editor\s+List, create/m);
  });

  it('lists the five system roles with their grant sets', async () => {
    const { items } = await cli.json<{ items: Role[] }>(['roles', 'list']);
    expect(items.map((r) => [r.name, r.system, r.grants, r.userCount])).toEqual(
      SYSTEM_ROLES.map((r) => [r.name, true, [...r.grants], 0]),
    );
    expect(items[0]!.grants).toEqual(ALL_GRANTS);
    const table = await cli.run(['roles', 'list']);
    expect(table.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^ID\s+NAME\s+TYPE\s+USERS\s+GRANTS$/),
      expect.stringMatching(
        new RegExp(`^1\\s+Admin\\s+system\\s+0\\s+${ALL_GRANTS.join(', ').replace(/\./g, '\\.')}$`),
      ),
    ]);
  });

  it('shows a role with its grants by name (any case) or id', async () => {
    const editor = await cli.json<Role>(['roles', 'show', 'editor']);
    expect(editor).toEqual({
      id: 3,
      name: 'Editor',
      description: 'Works with data and workflows, and may create personal access tokens.',
      system: true,
      grants: ['access_tokens.create', 'workflow.api', 'data.view', 'data.manage'],
      userCount: 0,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    const text = await cli.run(['roles', 'show', '5']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^name:\s+Social$/m);
    expect(text.stdout).toMatch(/^Grants: none$/m);
  });

  it('refuses to change or delete a system role, and says to copy it', async () => {
    for (const args of [
      ['roles', 'grant', 'Admin', 'data.view'],
      ['roles', 'ungrant', 'Editor', 'data.view'],
      ['roles', 'rename', 'Participant', 'Readers'],
      ['roles', 'delete', 'Social'],
    ]) {
      const name = args[2]!;
      expect({ args, ...(await cli.run(args)) }).toEqual({
        args,
        code: 1,
        stdout: '',
        stderr: `gatehouse: "${name}" is a system role and cannot be changed; copy it into a custom role instead.\n`,
      });
    }
    expect((await cli.json<Role>(['roles', 'show', 'Editor'])).grants).toContain('data.view');
  });

  it('creates a custom role with grants given repeatedly or comma-separated', async () => {
    const result = await cli.run([
      'roles',
      'create',
      'Auditors',
      '--description',
      'Read the audit log',
      '--grant',
      'data.view',
      '--grant',
      'audit.view,users.manage',
    ]);
    expect(result).toEqual({ code: 0, stdout: 'Created role 6 "Auditors" with 3 grants.\n', stderr: '' });
    const role = await cli.json<Role>(['roles', 'show', 'Auditors']);
    expect(role).toMatchObject({
      id: 6,
      name: 'Auditors',
      description: 'Read the audit log',
      system: false,
      grants: ['users.manage', 'audit.view', 'data.view'],
    });
  });

  it('copies a system role into a custom one and edits the copy', async () => {
    const copy = await cli.json<Role>(['roles', 'copy', 'Editor', 'Editors plus']);
    expect(copy).toMatchObject({
      id: 7,
      name: 'Editors plus',
      system: false,
      grants: ['access_tokens.create', 'workflow.api', 'data.view', 'data.manage'],
    });
    expect(await cli.run(['roles', 'grant', 'editors plus', 'audit.view', 'api.clients.create'])).toEqual({
      code: 0,
      stdout:
        'Role "Editors plus" now holds 6 grants: api.clients.create, access_tokens.create, workflow.api, audit.view, data.view, data.manage.\n',
      stderr: '',
    });
    expect(await cli.run(['roles', 'ungrant', '7', 'data.manage'])).toMatchObject({
      code: 0,
      stdout:
        'Role "Editors plus" now holds 5 grants: api.clients.create, access_tokens.create, workflow.api, audit.view, data.view.\n',
    });
    expect(
      await cli.run([
        'roles',
        'rename',
        'Editors plus',
        'Power editors',
        '--description',
        'Editors who read the audit log',
      ]),
    ).toEqual({
      code: 0,
      stdout: 'Renamed role 7 to "Power editors".\n',
      stderr: '',
    });
    expect(await cli.json<Role>(['roles', 'show', '7'])).toMatchObject({
      name: 'Power editors',
      description: 'Editors who read the audit log',
    });
  });

  it('rejects bad input with exact messages and changes nothing', async () => {
    const before = await cli.json<{ items: Role[] }>(['roles', 'list']);
    const cases: Array<[string[], string]> = [
      [['roles', 'create', ''], 'Role name must not be empty.'],
      [['roles', 'create', '   '], 'Role name must not be empty.'],
      [['roles', 'create', 'auditors'], 'A role named "auditors" already exists.'],
      [['roles', 'create', 'Spies', '--grant', 'data.view,secrets.read'], 'Unknown grant: "secrets.read".'],
      [['roles', 'grant', 'Auditors', 'data.manage', 'root'], 'Unknown grant: "root".'],
      [['roles', 'ungrant', 'Auditors', 'nope'], 'Unknown grant: "nope".'],
      [['roles', 'copy', 'Editor', 'power EDITORS'], 'A role named "power EDITORS" already exists.'],
      [['roles', 'copy', 'Wizards', 'Mages'], 'Role Wizards not found.'],
      [['roles', 'rename', 'Auditors', 'Admin'], 'A role named "Admin" already exists.'],
      [['roles', 'rename', 'Auditors', ''], 'Role name must not be empty.'],
      [['roles', 'show', 'Wizards'], 'Role Wizards not found.'],
      [['roles', 'delete', 'Wizards'], 'Role Wizards not found.'],
    ];
    for (const [args, message] of cases) {
      expect({ args, ...(await cli.run(args)) }).toEqual({
        args,
        code: 1,
        stdout: '',
        stderr: `gatehouse: ${message}\n`,
      });
    }
    expect(await cli.json(['roles', 'list'])).toEqual(before);
  });

  it('treats usage mistakes as exit code 2', async () => {
    const cases: Array<[string[], string]> = [
      [['roles', 'create'], "error: missing required argument 'name'"],
      [['roles', 'copy', 'Editor'], "error: missing required argument 'name'"],
      [['roles', 'grant', 'Auditors'], "error: missing required argument 'grants'"],
      [['roles', 'show', 'Admin', '--yaml'], "error: unknown option '--yaml'"],
      [['grants', 'list', 'extra'], "error: too many arguments for 'list'. Expected 0 arguments but got 1."],
    ];
    for (const [args, message] of cases) {
      const result = await cli.run(args);
      expect({ args, code: result.code, stdout: result.stdout, first: result.stderr.split('\n')[0] }).toEqual(
        {
          args,
          code: 2,
          stdout: '',
          first: message,
        },
      );
    }
  });

  it('will not delete a role users still hold, and says how many', async () => {
    await cli.json(['users', 'create', 'a@example.com', '--role', 'Power editors']);
    await cli.json(['users', 'create', 'b@example.com', '--role', 'Power editors']);
    expect(await cli.run(['roles', 'delete', 'Power editors'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: Role "Power editors" is assigned to 2 users; move them to another role first.\n',
    });
    await cli.json(['users', 'update', 'b@example.com', '--role', 'Participant']);
    expect((await cli.run(['roles', 'delete', 'Power editors'])).stderr).toBe(
      'gatehouse: Role "Power editors" is assigned to 1 user; move them to another role first.\n',
    );
    await cli.json(['users', 'update', 'a@example.com', '--role', 'Participant']);
    expect(await cli.run(['roles', 'delete', 'Power editors'])).toEqual({
      code: 0,
      stdout: 'Deleted role 7 "Power editors".\n',
      stderr: '',
    });
    expect((await cli.run(['roles', 'show', '7'])).stderr).toBe('gatehouse: Role 7 not found.\n');
  });

  it('records every role change in the audit log with actor cli', async () => {
    const { items } = await cli.json<{ items: AuditEventJson[] }>(['audit', 'list', '--action', 'role.*']);
    expect(items.map((e) => [e.action, e.target?.id, e.details])).toEqual([
      ['role.deleted', '7', { name: 'Power editors' }],
      ['role.renamed', '7', { from: 'Editors plus', to: 'Power editors' }],
      ['role.grant_removed', '7', { grants: ['data.manage'] }],
      ['role.grant_added', '7', { grants: ['api.clients.create', 'audit.view'] }],
      [
        'role.copied',
        '7',
        {
          name: 'Editors plus',
          from: { id: 3, name: 'Editor' },
          grants: ['access_tokens.create', 'workflow.api', 'data.view', 'data.manage'],
        },
      ],
      ['role.created', '6', { name: 'Auditors', grants: ['users.manage', 'audit.view', 'data.view'] }],
    ]);
    expect(new Set(items.map((e) => e.actor.type))).toEqual(new Set(['cli']));
  });
});
