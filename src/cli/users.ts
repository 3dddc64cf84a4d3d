/**
 * `gatehouse users create|list|show|update|set-password|disable|enable`.
 * Passwords never travel as an argument value (they would land in shell history
 * and `ps`): they are generated and printed once (`--generate`) or read from
 * standard input (`--password-stdin`).
 */
import { type Command, Option } from 'commander';
import { generatePassword } from '../crypto.js';
import { ValidationError } from '../errors.js';
import { CLI_ACTOR } from '../services/context.js';
import type { User } from '../services/users.js';
import { type CliIo, readStdin } from './io.js';
import { parseLimit, usageError } from './options.js';
import { emit, writeNextPage, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';
import { OPERATOR } from '../services/principal.js';

interface PasswordOptions {
  generate?: boolean;
  passwordStdin?: boolean;
  mustChange: boolean;
}

function passwordOptions(command: Command): Command {
  return command
    .addOption(new Option('--generate', 'generate a password and print it once').conflicts('passwordStdin'))
    .option('--password-stdin', 'read the password from standard input (e.g. from a secret manager)')
    .option('--no-must-change', 'do not require a new password at first sign-in');
}

/** The password the options ask for, if any; `generated` is set when it must be printed. */
async function choosePassword(
  io: CliIo,
  opts: PasswordOptions,
): Promise<{ password?: string; generated?: string }> {
  if (opts.passwordStdin) return { password: await readStdin(io) };
  if (opts.generate) {
    const generated = generatePassword();
    return { password: generated, generated };
  }
  return {};
}

function writeGeneratedPassword(io: CliIo, password: string, mustChange: boolean): void {
  io.stdout.write(
    `Password (shown once${mustChange ? '; must be changed at first sign-in' : ''}): ${password}\n`,
  );
}

const USER_COLUMNS = {
  ID: (u: User) => u.id,
  EMAIL: (u: User) => u.email,
  NAME: (u: User) => u.displayName,
  ROLE: (u: User) => u.role.name,
  STATUS: (u: User) => u.status,
  CREATED: (u: User) => u.createdAt,
};

function userRecord(user: User & { grants?: readonly string[] }): Record<string, unknown> {
  return {
    id: user.id,
    email: user.email,
    name: user.displayName,
    role: user.role.name,
    status: user.status,
    'must change password': user.mustChangePassword ? 'yes' : 'no',
    ...(user.grants ? { grants: user.grants } : {}),
    created: user.createdAt,
    updated: user.updatedAt,
  };
}

export function registerUsers(program: Command, io: CliIo): void {
  const users = program.command('users').description('manage the people who sign in to Gatehouse');

  passwordOptions(
    users
      .command('create')
      .description(
        'create a user (without --generate or --password-stdin the user has no password and cannot sign in)',
      )
      .argument('<email>', 'email address (unique, case-insensitive)')
      .option('--name <name>', 'display name (default: the part of the email before @)')
      .option('--role <role>', 'role name or id (default: Participant)'),
  )
    .option('--json', 'print the result as JSON')
    .action(
      async (
        email: string,
        opts: PasswordOptions & { name?: string; role?: string; json?: boolean },
        command: Command,
      ) => {
        const { password, generated } = await choosePassword(io, opts);
        await withRuntime(io, command, async ({ services }) => {
          const user = await services.users.create(
            {
              email,
              displayName: opts.name,
              role: opts.role,
              password,
              mustChangePassword: password !== undefined && opts.mustChange,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(
            io.stdout,
            opts.json,
            generated === undefined ? { user } : { user, password: generated },
            () => {
              io.stdout.write(`Created user ${user.id} ${user.email} (role ${user.role.name}).\n`);
              if (generated !== undefined) writeGeneratedPassword(io, generated, opts.mustChange);
              else if (password === undefined) {
                io.stdout.write(
                  `No password set; give one with: gatehouse users set-password ${user.id} --generate\n`,
                );
              }
            },
          );
        });
      },
    );

  users
    .command('list')
    .description('list users, oldest first')
    .option('--search <text>', 'only users whose email or name contains this')
    .addOption(
      new Option('--status <status>', 'only active or disabled users').choices(['active', 'disabled']),
    )
    .option('--role <role>', 'only users holding this role')
    .option('--limit <n>', 'page size (1–200, default 50)', parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(
      async (
        opts: {
          search?: string;
          status?: 'active' | 'disabled';
          role?: string;
          limit?: number;
          cursor?: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          // An unknown role is a mistake, not an empty result.
          if (opts.role !== undefined && !(await services.roles.find(opts.role))) {
            throw new ValidationError(`Unknown role "${opts.role}".`, { field: 'role' });
          }
          const page = await services.users.list({
            q: opts.search,
            status: opts.status,
            role: opts.role,
            limit: opts.limit,
            cursor: opts.cursor,
          });
          emit(io.stdout, opts.json, page, () => {
            writeTable(io.stdout, page.items, USER_COLUMNS);
            writeNextPage(io.stdout, page.nextCursor);
          });
        });
      },
    );

  users
    .command('show')
    .description('show one user and the grants their role holds')
    .argument('<user>', 'user id or email')
    .option('--json', 'print the user as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const user = await services.users.getWithGrants(ref);
        emit(io.stdout, opts.json, user, () => writeRecord(io.stdout, userRecord(user)));
      });
    });

  users
    .command('update')
    .description("change a user's email, display name or role")
    .argument('<user>', 'user id or email')
    .option('--email <email>', 'new email address')
    .option('--name <name>', 'new display name')
    .option('--role <role>', 'new role (name or id)')
    .option('--json', 'print the user as JSON')
    .action(
      async (
        ref: string,
        opts: { email?: string; name?: string; role?: string; json?: boolean },
        command: Command,
      ) => {
        if (opts.email === undefined && opts.name === undefined && opts.role === undefined) {
          usageError(command, 'nothing to update: give --email, --name or --role.');
        }
        await withRuntime(io, command, async ({ services }) => {
          const user = await services.users.update(
            ref,
            { email: opts.email, displayName: opts.name, role: opts.role },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, user, () => {
            io.stdout.write(`Updated user ${user.id} ${user.email} (role ${user.role.name}).\n`);
          });
        });
      },
    );

  passwordOptions(
    users
      .command('set-password')
      .description("set a user's password (their other sessions end)")
      .argument('<user>', 'user id or email'),
  ).action(async (ref: string, opts: PasswordOptions, command: Command) => {
    if (!opts.generate && !opts.passwordStdin) usageError(command, 'give --generate or --password-stdin.');
    const { password, generated } = await choosePassword(io, opts);
    await withRuntime(io, command, async ({ services }) => {
      await services.users.setPassword(ref, password, { mustChange: opts.mustChange }, CLI_ACTOR);
      const user = await services.users.get(ref);
      io.stdout.write(`Set the password of user ${user.id} ${user.email}.\n`);
      if (generated !== undefined) writeGeneratedPassword(io, generated, opts.mustChange);
    });
  });

  for (const [name, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    users
      .command(name)
      .description(
        name === 'disable'
          ? 'disable a user: they cannot sign in, their sessions end and their tokens stop working'
          : 'enable a disabled user again',
      )
      .argument('<user>', 'user id or email')
      .option('--json', 'print the user as JSON')
      .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
        await withRuntime(io, command, async ({ services }) => {
          const user = await services.users.setStatus(ref, status, OPERATOR, CLI_ACTOR);
          emit(io.stdout, opts.json, user, () => {
            io.stdout.write(`User ${user.id} ${user.email} is ${user.status}.\n`);
          });
        });
      });
  }
}
