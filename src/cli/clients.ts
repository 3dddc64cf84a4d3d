/**
 * `gatehouse clients create|list|show|revoke|rotate-secret`: API clients (spec 004)
 * from the command line, over the same service as the admin API. The CLI acts
 * for the operator of the instance: it sees every client and names the owner of
 * a new one with --owner. Clients are named by the partial ID lists show, or the
 * full client ID.
 */
import { type Command, Option } from 'commander';
import type { ApiClientView, IssuedClientCredentials } from '../services/clients.js';
import { CLI_ACTOR } from '../services/context.js';
import { OPERATOR } from '../services/principal.js';
import { MAX_PAGE_SIZE } from '../services/pagination.js';
import type { CliIo } from './io.js';
import { parseDuration, parseLimit } from './options.js';
import { emit, writeNextPage, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

const CLIENT_COLUMNS = {
  ID: (c: ApiClientView) => c.id,
  NAME: (c: ApiClientView) => c.name,
  OWNER: (c: ApiClientView) => c.owner.email,
  SCOPES: (c: ApiClientView) => c.scopes.join(' '),
  STATUS: (c: ApiClientView) => c.status,
  CREATED: (c: ApiClientView) => c.createdAt,
  'LAST USED': (c: ApiClientView) => c.lastUsedAt,
};

function clientRecord(c: ApiClientView): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    description: c.description || null,
    scopes: c.scopes.join(' '),
    'token ttl': `${c.tokenTtlSeconds} s`,
    owner: `${c.owner.email} (user ${c.owner.id})`,
    status: c.status,
    created: c.createdAt,
    'last used': c.lastUsedAt,
    ...(c.revokedAt ? { revoked: c.revokedAt } : {}),
  };
}

function writeCredentials(io: CliIo, issued: IssuedClientCredentials): void {
  io.stdout.write(
    [
      `  client_id:     ${issued.clientId}`,
      `  client_secret: ${issued.clientSecret}`,
      'The secret is shown this once and cannot be read again; store it now.',
      '',
    ].join('\n'),
  );
}

export function registerClients(program: Command, io: CliIo): void {
  const clients = program
    .command('clients')
    .description('manage API clients: programs that trade a client ID and secret for access tokens');

  clients
    .command('create')
    .description('create an API client and print its client ID and secret (the secret only this once)')
    .argument('<name>', 'unique among active clients, case-insensitive, 1–100 characters')
    .requiredOption('--owner <user>', 'the owning user (id or email); must hold "api.clients.create"')
    .requiredOption(
      '--scopes <list>',
      'scopes, comma or space separated: account, audit, buzz, dashboard, data, gateway, user, workflow',
    )
    .option('--description <text>', 'what the client is for (up to 1000 characters)')
    .option(
      '--ttl <duration>',
      'access-token lifetime, 60 s to 24 h (default GATEHOUSE_TOKEN_TTL)',
      parseDuration,
    )
    .option('--json', 'print {client_id, client_secret, client} as JSON')
    .action(
      async (
        name: string,
        opts: { owner: string; scopes: string; description?: string; ttl?: number; json?: boolean },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const issued = await services.clients.create(
            {
              name,
              owner: opts.owner,
              scopes: opts.scopes,
              description: opts.description,
              tokenTtlSeconds: opts.ttl,
            },
            CLI_ACTOR,
          );
          const c = issued.client;
          emit(
            io.stdout,
            opts.json,
            { client_id: issued.clientId, client_secret: issued.clientSecret, client: c },
            () => {
              io.stdout.write(
                `Created API client ${c.id} "${c.name}" (owner ${c.owner.email}; scopes ${c.scopes.join(' ')}).\n`,
              );
              writeCredentials(io, issued);
            },
          );
        });
      },
    );

  clients
    .command('list')
    .description('list API clients, newest first (partial client IDs; secrets are never shown)')
    .option('--name <text>', 'only clients whose name contains this')
    .option('--owner <user>', 'only clients of this user (id or email)')
    .addOption(
      new Option('--status <status>', 'only active or revoked clients').choices(['active', 'revoked']),
    )
    .option('--limit <n>', `page size (1–${MAX_PAGE_SIZE}, default 50)`, parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(
      async (
        opts: {
          name?: string;
          owner?: string;
          status?: 'active' | 'revoked';
          limit?: number;
          cursor?: string;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const page = await services.clients.list(
            {
              name: opts.name,
              owner: opts.owner,
              status: opts.status,
              limit: opts.limit,
              cursor: opts.cursor,
            },
            OPERATOR,
          );
          emit(io.stdout, opts.json, page, () => {
            if (page.items.length === 0) io.stdout.write('No API clients.\n');
            else writeTable(io.stdout, page.items, CLIENT_COLUMNS);
            writeNextPage(io.stdout, page.nextCursor);
          });
        });
      },
    );

  clients
    .command('show')
    .description('show one API client')
    .argument('<client>', 'partial client ID (as lists show it) or full client ID')
    .option('--json', 'print the client as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const client = await services.clients.get(ref, OPERATOR);
        emit(io.stdout, opts.json, client, () => writeRecord(io.stdout, clientRecord(client)));
      });
    });

  clients
    .command('revoke')
    .description(
      'revoke an API client for good: it gets invalid_client from now on and Gatehouse rejects its tokens at once ' +
        '(offline JWT verifiers accept them until they expire)',
    )
    .argument('<client>', 'partial client ID or full client ID')
    .option('--json', 'print the revoked client as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const client = await services.clients.revoke(ref, CLI_ACTOR, OPERATOR);
        emit(io.stdout, opts.json, client, () =>
          io.stdout.write(
            `Revoked API client ${client.id} "${client.name}". Gatehouse rejects its tokens now; offline JWT ` +
              `verifiers accept tokens already issued until they expire (at most ${client.tokenTtlSeconds} s).\n`,
          ),
        );
      });
    });

  clients
    .command('rotate-secret')
    .description(
      'give an API client a new secret (shown once); the current one keeps working for the grace period',
    )
    .argument('<client>', 'partial client ID or full client ID')
    .option(
      '--grace <duration>',
      'how long the current secret keeps working: 0 ends it now (default 24h, at most 30d)',
      parseDuration,
    )
    .option('--json', 'print {client_id, client_secret, previousSecretExpiresAt, client} as JSON')
    .action(async (ref: string, opts: { grace?: number; json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const rotated = await services.clients.rotateSecret(
          ref,
          { graceSeconds: opts.grace },
          CLI_ACTOR,
          OPERATOR,
        );
        const { clientId, clientSecret, previousSecretExpiresAt, client } = rotated;
        const json = { client_id: clientId, client_secret: clientSecret, previousSecretExpiresAt, client };
        emit(io.stdout, opts.json, json, () => {
          io.stdout.write(`New secret for API client ${client.id} "${client.name}".\n`);
          writeCredentials(io, rotated);
          io.stdout.write(
            previousSecretExpiresAt === null
              ? 'There was no other live secret.\n'
              : `The previous secret works until ${previousSecretExpiresAt}.\n`,
          );
        });
      });
    });
}
