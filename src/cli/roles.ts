/**
 * `gatehouse roles list|show|create|copy|rename|grant|ungrant|delete`.
 * System roles (Admin, Privileged, Editor, Participant, Social) can only be copied.
 */
import type { Command } from 'commander';
import { CLI_ACTOR } from '../services/context.js';
import { findGrant } from '../services/grants.js';
import type { Role } from '../services/roles.js';
import type { CliIo } from './io.js';
import { collectList } from './options.js';
import { emit, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';
import { OPERATOR } from '../services/principal.js';

function roleRecord(role: Role): Record<string, unknown> {
  return {
    id: role.id,
    name: role.name,
    type: role.system ? 'system' : 'custom',
    description: role.description,
    users: role.userCount,
    created: role.createdAt,
    updated: role.updatedAt,
  };
}

function writeRole(io: CliIo, role: Role): void {
  writeRecord(io.stdout, roleRecord(role));
  io.stdout.write(role.grants.length === 0 ? '\nGrants: none\n' : '\nGrants:\n');
  for (const id of role.grants) io.stdout.write(`  ${id.padEnd(24)}  ${findGrant(id)?.name ?? ''}\n`);
}

export function registerRoles(program: Command, io: CliIo): void {
  const roles = program.command('roles').description('manage roles and the grants they hold');

  roles
    .command('list')
    .description('list roles, system roles first')
    .option('--json', 'print {items} as JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const items = await services.roles.list();
        emit(io.stdout, opts.json, { items }, () =>
          writeTable(io.stdout, items, {
            ID: (r) => r.id,
            NAME: (r) => r.name,
            TYPE: (r) => (r.system ? 'system' : 'custom'),
            USERS: (r) => r.userCount,
            GRANTS: (r) => r.grants,
          }),
        );
      });
    });

  roles
    .command('show')
    .description('show a role and its grants')
    .argument('<role>', 'role name or id')
    .option('--json', 'print the role as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const role = await services.roles.get(ref);
        emit(io.stdout, opts.json, role, () => writeRole(io, role));
      });
    });

  roles
    .command('create')
    .description('create a custom role')
    .argument('<name>', 'role name (unique, case-insensitive, at most 100 characters)')
    .option('--description <text>', 'what the role is for')
    .option(
      '--grant <id>',
      'a grant the role holds (repeat, or separate with commas; see `gatehouse grants list`)',
      collectList,
    )
    .option('--json', 'print the role as JSON')
    .action(
      async (
        name: string,
        opts: { description?: string; grant?: string[]; json?: boolean },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const role = await services.roles.create(
            { name, description: opts.description, grants: opts.grant ?? [] },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, role, () => {
            io.stdout.write(`Created role ${role.id} "${role.name}" with ${grantCount(role)}.\n`);
          });
        });
      },
    );

  roles
    .command('copy')
    .description('copy a role (system roles too) into a new custom role with the same grants')
    .argument('<role>', 'the role to copy (name or id)')
    .argument('<name>', 'name of the new role')
    .option('--description <text>', "description of the new role (default: the source role's)")
    .option('--json', 'print the new role as JSON')
    .action(
      async (
        source: string,
        name: string,
        opts: { description?: string; json?: boolean },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const role = await services.roles.copy(
            source,
            { name, description: opts.description },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, role, () => {
            io.stdout.write(
              `Created role ${role.id} "${role.name}" as a copy of "${source}" with ${grantCount(role)}.\n`,
            );
          });
        });
      },
    );

  roles
    .command('rename')
    .description('rename a custom role (and optionally change its description)')
    .argument('<role>', 'role name or id')
    .argument('<new-name>', 'the new name')
    .option('--description <text>', 'a new description')
    .option('--json', 'print the role as JSON')
    .action(
      async (ref: string, name: string, opts: { description?: string; json?: boolean }, command: Command) => {
        await withRuntime(io, command, async ({ services }) => {
          const role = await services.roles.rename(
            ref,
            { name, description: opts.description },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, role, () =>
            io.stdout.write(`Renamed role ${role.id} to "${role.name}".\n`),
          );
        });
      },
    );

  for (const [name, verb] of [
    ['grant', 'add'],
    ['ungrant', 'remove'],
  ] as const) {
    roles
      .command(name)
      .description(
        `${verb} grants ${verb === 'add' ? 'to' : 'from'} a custom role (takes effect at the next request)`,
      )
      .argument('<role>', 'role name or id')
      .argument('<grants...>', 'grant ids (see `gatehouse grants list`)')
      .option('--json', 'print the role as JSON')
      .action(async (ref: string, grants: string[], opts: { json?: boolean }, command: Command) => {
        await withRuntime(io, command, async ({ services }) => {
          const ids = grants.flatMap((g) => collectList(g, []));
          const role =
            verb === 'add'
              ? await services.roles.addGrants(ref, ids, OPERATOR, CLI_ACTOR)
              : await services.roles.removeGrants(ref, ids, OPERATOR, CLI_ACTOR);
          emit(io.stdout, opts.json, role, () => {
            io.stdout.write(
              `Role "${role.name}" now holds ${grantCount(role)}${role.grants.length ? `: ${role.grants.join(', ')}` : ''}.\n`,
            );
          });
        });
      });
  }

  roles
    .command('delete')
    .description('delete a custom role that no user holds')
    .argument('<role>', 'role name or id')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const role = await services.roles.get(ref);
        await services.roles.delete(role.id, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted role ${role.id} "${role.name}".\n`);
      });
    });
}

function grantCount(role: Role): string {
  return `${role.grants.length} grant${role.grants.length === 1 ? '' : 's'}`;
}
