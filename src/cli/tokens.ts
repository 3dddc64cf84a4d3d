/**
 * `gatehouse tokens create|list|show|revoke`: developer access tokens (gh_dev_…)
 * from the command line, over the same service as the admin API. The CLI is
 * the operator, so it may act for any user; it must name the user.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { AccessToken } from '../services/access-tokens.js';
import { CLI_ACTOR } from '../services/context.js';
import { OPERATOR } from '../services/principal.js';
import { MAX_PAGE_SIZE } from '../services/pagination.js';
import type { CliIo } from './io.js';
import { writeJson, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

/**
 * The service's MAX_EXPIRY_DAYS, repeated here so that `--help` and usage errors do not
 * load the store (the service validates again).
 */
const MAX_EXPIRY_DAYS = 3650;

/** A positive whole number, or a usage error (exit 2) before anything is opened. */
export function parsePositiveInt(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`Must be a whole number from 1 to ${max}.`);
    }
    return Number(value);
  };
}

function tokenRecord(token: AccessToken): Record<string, unknown> {
  return {
    id: token.id,
    prefix: token.prefix,
    description: token.description,
    user: `${token.user.email} (${token.user.id})`,
    status: token.status,
    created: token.createdAt,
    expires: token.expiresAt ?? 'never',
    'last used': token.lastUsedAt,
    revoked: token.revokedAt,
  };
}

export function registerTokens(program: Command, io: CliIo): void {
  const tokens = program
    .command('tokens')
    .description('developer access tokens (gh_dev_…): act as a user, with that user’s current grants');

  tokens
    .command('create')
    .description('create a token; it is printed once and stored only as a hash')
    .requiredOption('--user <id|email>', 'the user the token acts as (e.g. a service account)')
    .requiredOption('--description <text>', 'what the token is for')
    .option(
      '--expires-in-days <days>',
      `expiry, 1–${MAX_EXPIRY_DAYS} days`,
      parsePositiveInt(MAX_EXPIRY_DAYS),
    )
    .option('--never', 'never expires (must be chosen explicitly)')
    .option('--json', 'print {token, accessToken} as JSON')
    .action(
      async (
        opts: { user: string; description: string; expiresInDays?: number; never?: boolean; json?: boolean },
        command: Command,
      ) => {
        if ((opts.expiresInDays === undefined) === (opts.never !== true)) {
          command.error('error: choose exactly one of --expires-in-days <days> and --never', {
            exitCode: 2,
            code: 'gatehouse.usage',
          });
        }
        const created = await withRuntime(io, command, async ({ services }) =>
          services.accessTokens.create(
            {
              description: opts.description,
              user: opts.user,
              expiresInDays: opts.expiresInDays,
              neverExpires: opts.never === true,
            },
            OPERATOR,
            CLI_ACTOR,
          ),
        );
        if (opts.json) return writeJson(io.stdout, created);
        const t = created.accessToken;
        io.stdout.write(
          `Created developer access token ${t.id} for ${t.user.email}, expires ${t.expiresAt ?? 'never'}.\n` +
            'This token is shown once; store it now:\n\n' +
            `  ${created.token}\n\n`,
        );
      },
    );

  tokens
    .command('list')
    .description('list tokens, newest first (prefix, user, created, expires, last used)')
    .option('--search <text>', 'match description, user email or name')
    .option('--user <id|email>', 'only tokens acting as this user')
    .option('--active', 'only tokens that still work (not revoked, not expired)')
    .option('--limit <n>', `page size, 1–${MAX_PAGE_SIZE}`, parsePositiveInt(MAX_PAGE_SIZE))
    .option('--cursor <cursor>', 'the next page, as printed under the previous one')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(
      async (
        opts: {
          search?: string;
          user?: string;
          active?: boolean;
          limit?: number;
          cursor?: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        const page = await withRuntime(io, command, async ({ services }) =>
          services.accessTokens.list(
            {
              q: opts.search,
              user: opts.user,
              includeInactive: opts.active !== true,
              limit: opts.limit,
              cursor: opts.cursor,
            },
            OPERATOR,
          ),
        );
        if (opts.json) return writeJson(io.stdout, page);
        writeTable(io.stdout, page.items, {
          ID: (t) => t.id,
          PREFIX: (t) => t.prefix,
          DESCRIPTION: (t) => t.description,
          USER: (t) => t.user.email,
          STATUS: (t) => t.status,
          CREATED: (t) => t.createdAt,
          EXPIRES: (t) => t.expiresAt ?? 'never',
          'LAST USED': (t) => t.lastUsedAt,
        });
        if (page.nextCursor !== null) io.stdout.write(`(more: repeat with --cursor ${page.nextCursor})\n`);
      },
    );

  tokens
    .command('show')
    .description('show one token (never the token itself)')
    .argument('<id>', 'token id', parsePositiveInt())
    .option('--json', 'print as JSON')
    .action(async (id: number, opts: { json?: boolean }, command: Command) => {
      const token = await withRuntime(io, command, async ({ services }) =>
        services.accessTokens.get(id, OPERATOR),
      );
      if (opts.json) return writeJson(io.stdout, token);
      writeRecord(io.stdout, tokenRecord(token));
    });

  tokens
    .command('revoke')
    .description('revoke a token at once (the next request with it gets 401); there is no undo')
    .argument('<id>', 'token id', parsePositiveInt())
    .option('--json', 'print the revoked token as JSON')
    .action(async (id: number, opts: { json?: boolean }, command: Command) => {
      const token = await withRuntime(io, command, async ({ services }) =>
        services.accessTokens.revoke(id, OPERATOR, CLI_ACTOR),
      );
      if (opts.json) return writeJson(io.stdout, token);
      io.stdout.write(
        `Revoked developer access token ${token.id} (${token.prefix}…, ${token.user.email}).\n`,
      );
    });
}
