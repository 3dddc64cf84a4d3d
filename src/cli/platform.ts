/**
 * `gatehouse platform collections|endpoints|profiles|policies …`: the API platform (issue 14) from the
 * command line, over the same service as `/api/admin/v1/platform`. The CLI acts for the operator
 * (every grant); an oauth2 profile made here names the owner of its API client with --owner.
 * Credentials (an oauth2 client secret, a static API token) are printed once.
 */
import fs from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CLI_ACTOR } from '../services/context.js';
import { MAX_PAGE_SIZE } from '../services/pagination.js';
import {
  type AccessProfile,
  type ApiCollection,
  type ApiEndpoint,
  AUTH_METHODS,
  ENDPOINT_METHODS,
  type EndpointImport,
  type IssuedProfile,
  MAX_QUEUE_WAIT_MS,
  type Policy,
  type PolicyInput,
  QUOTA_UNITS,
  RATE_UNITS,
} from '../services/platform/model.js';
import { MAX_OPENAPI_BYTES, tooBig } from '../services/platform/openapi.js';
import { OPERATOR } from '../services/principal.js';
import type { CliIo } from './io.js';
import { collectList, parseBool, parseDuration, parseLimit } from './options.js';
import { emit, writeNextPage, writeRecord, writeTable } from './output.js';
import { registerPlatformDomains } from './platform-domains.js';
import { withRuntime } from './runtime.js';

const COLLECTION_COLUMNS = {
  ID: (c: ApiCollection) => c.id,
  NAME: (c: ApiCollection) => c.name,
  PREFIX: (c: ApiCollection) => `/${c.prefix}`,
  UPSTREAM: (c: ApiCollection) => c.upstreamUrl,
  ENDPOINTS: (c: ApiCollection) => c.endpointCount,
  ENABLED: (c: ApiCollection) => (c.enabled ? 'yes' : 'no'),
};

const ENDPOINT_COLUMNS = {
  ID: (e: ApiEndpoint) => e.id,
  NAME: (e: ApiEndpoint) => e.name,
  METHOD: (e: ApiEndpoint) => e.method,
  PATH: (e: ApiEndpoint) => e.path,
  UPSTREAM: (e: ApiEndpoint) => e.upstreamPath,
  TIMEOUT: (e: ApiEndpoint) => `${e.timeoutMs} ms`,
  ENABLED: (e: ApiEndpoint) => (e.enabled ? 'yes' : 'no'),
};

const PROFILE_COLUMNS = {
  ID: (p: AccessProfile) => p.id,
  NAME: (p: AccessProfile) => p.name,
  AUTH: (p: AccessProfile) => p.authMethod,
  COLLECTIONS: (p: AccessProfile) => p.collections.map((c) => c.prefix),
  'IP ALLOW': (p: AccessProfile) => p.ipAllowList,
  POLICY: (p: AccessProfile) => p.policyId ?? '-',
  ENABLED: (p: AccessProfile) => (p.enabled ? 'yes' : 'no'),
};

const POLICY_COLUMNS = {
  ID: (p: Policy) => p.id,
  NAME: (p: Policy) => p.name,
  RATE: (p: Policy) => (p.rateLimit ? `${p.rateLimit.limit}/${p.rateLimit.per}` : '-'),
  QUOTA: (p: Policy) => (p.quota ? `${p.quota.limit}/${p.quota.per}` : '-'),
  CONCURRENCY: (p: Policy) =>
    p.concurrency
      ? `${p.concurrency.limit}${p.concurrency.queueSize > 0 ? ` (+${p.concurrency.queueSize} queued ≤ ${p.concurrency.maxWaitMs} ms)` : ''}`
      : '-',
  PROFILES: (p: Policy) => p.profileCount,
};

function policyRecord(p: Policy): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    description: p.description || null,
    'rate limit': POLICY_COLUMNS.RATE(p),
    quota: p.quota ? `${POLICY_COLUMNS.QUOTA(p)} (UTC calendar)` : '-',
    concurrency: POLICY_COLUMNS.CONCURRENCY(p),
    profiles: p.profileCount,
    created: p.createdAt,
    updated: p.updatedAt,
  };
}

/** What `none` parses to (commander turns a parser's null into ''). */
const OFF = 'none';
type Off = typeof OFF;

/** undefined: not given; null: turned off (`none`). */
function offToNull<T>(value: T | Off | undefined): T | null | undefined {
  return value === OFF ? null : value;
}

/** `--rate 10/second`, `--quota 5000/month`; `none` turns the limit off. */
function limitParser(units: readonly string[]) {
  return (value: string): { limit: number; per: string } | Off => {
    if (value === 'none' || value === 'off') return OFF;
    const match = /^(\d+)\/(\w+)$/.exec(value.trim());
    if (!match || !units.includes(match[2]!))
      throw new InvalidArgumentError(`Write it as N/${units.join('|')} (e.g. 100/${units[0]}), or none.`);
    return { limit: Number(match[1]), per: match[2]! };
  };
}

function parseConcurrency(value: string): number | Off {
  if (value === 'none' || value === 'off') return OFF;
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('A whole number of calls, or none.');
  return Number(value);
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('A whole number.');
  return Number(value);
}

interface PolicyOptions {
  description?: string;
  rate?: { limit: number; per: string } | Off;
  quota?: { limit: number; per: string } | Off;
  concurrency?: number | Off;
  queue?: number;
  maxWait?: number;
  json?: boolean;
}

function policyOptions(command: Command): Command {
  return command
    .option('--description <text>', 'what it is for')
    .option(
      '--rate <n/unit>',
      `rate limit: calls per ${RATE_UNITS.join(' or ')} (e.g. 10/second); none turns it off`,
      limitParser(RATE_UNITS),
    )
    .option(
      '--quota <n/unit>',
      `quota: calls per UTC calendar ${QUOTA_UNITS.join(' or ')} (e.g. 100000/month); none turns it off`,
      limitParser(QUOTA_UNITS),
    )
    .option(
      '--concurrency <n>',
      'calls in flight at once, over every node; none turns it off',
      parseConcurrency,
    )
    .option('--queue <n>', 'calls that may wait for a slot beyond --concurrency (default 0)', parseCount)
    .option(
      '--max-wait <duration>',
      `how long a queued call waits before its 429 (ms, or 2s; at most ${MAX_QUEUE_WAIT_MS / 1000}s)`,
      parseMs,
    )
    .option('--json', 'print the policy as JSON');
}

/** The concurrency setting the options give (queue options over `before` when --concurrency is absent). */
function concurrencyOf(opts: PolicyOptions, before: Policy['concurrency'] | undefined): unknown {
  if (opts.concurrency === null) return null;
  if (opts.concurrency === undefined && opts.queue === undefined && opts.maxWait === undefined)
    return undefined;
  return {
    limit: opts.concurrency ?? before?.limit,
    queueSize: opts.queue ?? before?.queueSize ?? 0,
    maxWaitMs: opts.maxWait ?? before?.maxWaitMs ?? 0,
  };
}

function profileRecord(p: AccessProfile): Record<string, unknown> {
  return {
    id: p.id,
    name: p.name,
    description: p.description || null,
    'auth method': p.authMethod,
    collections: p.collections.map((c) => `${c.name} (/${c.prefix})`),
    'ip allow-list': p.ipAllowList.length === 0 ? 'any address' : p.ipAllowList,
    policy: p.policyId ?? 'none (no limits)',
    enabled: p.enabled ? 'yes' : 'no',
    ...(p.clientId ? { 'api client': p.clientId } : {}),
    ...(p.tokenPrefix ? { 'api token': `${p.tokenPrefix}…` } : {}),
    ...(p.jwt
      ? {
          'jwks url': p.jwt.jwksUrl,
          issuer: p.jwt.issuer,
          audience: p.jwt.audience ?? 'not checked',
          'required claims': Object.entries(p.jwt.requiredClaims).map(([k, v]) => `${k}=${String(v)}`),
        }
      : {}),
    created: p.createdAt,
    updated: p.updatedAt,
  };
}

function writeCredentials(io: CliIo, issued: IssuedProfile): void {
  const c = issued.credentials;
  if (c.type === 'oauth2') {
    io.stdout.write(
      `  client_id:     ${c.clientId}\n  client_secret: ${c.clientSecret}\n` +
        'Trade them for a token at POST /oauth2/token. The secret is shown this once; store it now.\n',
    );
  } else if (c.type === 'token') {
    io.stdout.write(
      `  api-token: ${c.apiToken}\nSend it in the api-token header. It is shown this once; store it now.\n`,
    );
  } else {
    io.stdout.write('Tokens come from the identity provider; Gatehouse checks them against its JWKS.\n');
  }
}

function writeImport(io: CliIo, result: EndpointImport): void {
  const would = result.dryRun ? 'Would import' : 'Imported';
  io.stdout.write(
    `${would}: ${result.created} created, ${result.replaced} replaced, ${result.skipped} skipped (already there).\n`,
  );
  writeTable(io.stdout, result.endpoints, {
    ACTION: (e) => (result.dryRun ? `would be ${e.action}` : e.action),
    ID: (e) => e.id ?? '—',
    METHOD: (e) => e.method,
    PATH: (e) => e.path,
    UPSTREAM: (e) => e.upstreamPath,
    NAME: (e) => e.name,
  });
  if (result.dryRun) io.stdout.write('Dry run: nothing was written.\n');
}

function parseMs(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  return parseDuration(value) * 1000;
}

/** `--claim name=value` (repeatable): a required claim of a jwt profile; true/false/numbers as JSON. */
function collectClaim(value: string, previous: Record<string, string | number | boolean> | undefined) {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('Write a claim as name=value.');
  const name = value.slice(0, at);
  const raw = value.slice(at + 1);
  const parsed =
    raw === 'true' ? true : raw === 'false' ? false : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  return { ...(previous ?? {}), [name]: parsed };
}

interface PageOptions {
  limit?: number;
  cursor?: string;
  json?: boolean;
}

function pageOptions(command: Command): Command {
  return command
    .option('--limit <n>', `page size (1–${MAX_PAGE_SIZE}, default 50)`, parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON');
}

export function registerPlatform(program: Command, io: CliIo): void {
  const platform = program
    .command('platform')
    .description(
      'the API platform: put your own APIs behind Gatehouse (collections, endpoints, access profiles, policies, domains)',
    );

  // ---- collections ----
  const collections = platform
    .command('collections')
    .description('API collections: a URL prefix forwarded to an upstream');

  pageOptions(collections.command('list').description('list API collections')).action(
    async (opts: PageOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.platform.listCollections(
          { limit: opts.limit, cursor: opts.cursor },
          OPERATOR,
        );
        emit(io.stdout, opts.json, page, () => {
          if (page.items.length === 0) io.stdout.write('No API collections.\n');
          else writeTable(io.stdout, page.items, COLLECTION_COLUMNS);
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    },
  );

  collections
    .command('create')
    .description('create an API collection, reached at /<prefix>/<endpoint path>')
    .argument('<name>', 'unique, case-insensitive, 1–100 characters')
    .requiredOption(
      '--prefix <prefix>',
      "one lower-case path segment, not one of Gatehouse's own (api, oauth2, v1, …)",
    )
    .requiredOption('--upstream <url>', 'the http(s) base URL endpoints are forwarded to')
    .option('--description <text>', 'what it is (up to 1000 characters)')
    .option('--disabled', 'create it disabled (calls answer 404 until enabled)')
    .option('--json', 'print the collection as JSON')
    .action(
      async (
        name: string,
        opts: { prefix: string; upstream: string; description?: string; disabled?: boolean; json?: boolean },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const c = await services.platform.createCollection(
            {
              name,
              prefix: opts.prefix,
              upstreamUrl: opts.upstream,
              description: opts.description,
              enabled: !opts.disabled,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, c, () =>
            io.stdout.write(
              `Created API collection ${c.id} "${c.name}": /${c.prefix}/… → ${c.upstreamUrl}\n`,
            ),
          );
        });
      },
    );

  collections
    .command('show')
    .description('show one API collection')
    .argument('<collection>', 'id or prefix')
    .option('--json', 'print it as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const c = await services.platform.getCollection(ref, OPERATOR);
        emit(io.stdout, opts.json, c, () => writeRecord(io.stdout, { ...c, prefix: `/${c.prefix}` }));
      });
    });

  collections
    .command('update')
    .description('change an API collection (disable: its calls answer 404 from the next one, on every node)')
    .argument('<collection>', 'id or prefix')
    .option('--name <name>', 'a new name')
    .option('--prefix <prefix>', 'a new prefix')
    .option('--upstream <url>', 'a new upstream base URL')
    .option('--description <text>', 'a new description')
    .option('--enabled <bool>', 'true or false', parseBool)
    .option('--json', 'print the collection as JSON')
    .action(
      async (
        ref: string,
        opts: {
          name?: string;
          prefix?: string;
          upstream?: string;
          description?: string;
          enabled?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const c = await services.platform.updateCollection(
            ref,
            {
              name: opts.name,
              prefix: opts.prefix,
              upstreamUrl: opts.upstream,
              description: opts.description,
              enabled: opts.enabled,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, c, () =>
            io.stdout.write(`Updated API collection ${c.id} "${c.name}".\n`),
          );
        });
      },
    );

  collections
    .command('delete')
    .description('delete an API collection and its endpoints')
    .argument('<collection>', 'id or prefix')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        await services.platform.deleteCollection(ref, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted API collection ${ref}.\n`);
      });
    });

  // ---- endpoints ----
  const endpoints = platform
    .command('endpoints')
    .description("a collection's endpoints: method + path → upstream path");

  pageOptions(
    endpoints
      .command('list')
      .description("list a collection's endpoints")
      .argument('<collection>', 'id or prefix'),
  ).action(async (ref: string, opts: PageOptions, command: Command) => {
    await withRuntime(io, command, async ({ services }) => {
      const page = await services.platform.listEndpoints(
        ref,
        { limit: opts.limit, cursor: opts.cursor },
        OPERATOR,
      );
      emit(io.stdout, opts.json, page, () => {
        if (page.items.length === 0) io.stdout.write('No endpoints.\n');
        else writeTable(io.stdout, page.items, ENDPOINT_COLUMNS);
        writeNextPage(io.stdout, page.nextCursor);
      });
    });
  });

  endpoints
    .command('create')
    .description('add an endpoint to a collection')
    .argument('<collection>', 'id or prefix')
    .argument('<name>', '1–100 characters')
    .addOption(
      new Option('--method <method>', 'HTTP method').choices([...ENDPOINT_METHODS]).makeOptionMandatory(),
    )
    .requiredOption('--path <pattern>', 'path pattern after the prefix, e.g. /orders/:id')
    .option(
      '--upstream-path <pattern>',
      'path on the upstream (default: the same as --path), e.g. /v2/orders/:id',
    )
    .option('--timeout <ms|duration>', 'how long the upstream has to answer (default 30s)', parseMs)
    .option('--disabled', 'create it disabled')
    .option('--json', 'print the endpoint as JSON')
    .action(
      async (
        ref: string,
        name: string,
        opts: {
          method: string;
          path: string;
          upstreamPath?: string;
          timeout?: number;
          disabled?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const e = await services.platform.createEndpoint(
            ref,
            {
              name,
              method: opts.method,
              path: opts.path,
              upstreamPath: opts.upstreamPath,
              timeoutMs: opts.timeout,
              enabled: !opts.disabled,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, e, () =>
            io.stdout.write(
              `Created endpoint ${e.id} "${e.name}": ${e.method} ${e.path} → ${e.upstreamPath}\n`,
            ),
          );
        });
      },
    );

  endpoints
    .command('update')
    .description('change an endpoint')
    .argument('<collection>', 'id or prefix')
    .argument('<endpoint>', 'endpoint id')
    .option('--name <name>', 'a new name')
    .addOption(new Option('--method <method>', 'HTTP method').choices([...ENDPOINT_METHODS]))
    .option('--path <pattern>', 'a new path pattern')
    .option('--upstream-path <pattern>', 'a new upstream path')
    .option('--timeout <ms|duration>', 'a new timeout', parseMs)
    .option('--enabled <bool>', 'true or false (disabled: 404 as if absent)', parseBool)
    .option('--json', 'print the endpoint as JSON')
    .action(
      async (
        ref: string,
        id: string,
        opts: {
          name?: string;
          method?: string;
          path?: string;
          upstreamPath?: string;
          timeout?: number;
          enabled?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const e = await services.platform.updateEndpoint(
            ref,
            id,
            {
              name: opts.name,
              method: opts.method,
              path: opts.path,
              upstreamPath: opts.upstreamPath,
              timeoutMs: opts.timeout,
              enabled: opts.enabled,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, e, () => io.stdout.write(`Updated endpoint ${e.id} "${e.name}".\n`));
        });
      },
    );

  endpoints
    .command('delete')
    .description('delete an endpoint')
    .argument('<collection>', 'id or prefix')
    .argument('<endpoint>', 'endpoint id')
    .action(async (ref: string, id: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        await services.platform.deleteEndpoint(ref, id, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted endpoint ${id}.\n`);
      });
    });

  endpoints
    .command('import')
    .description(
      "create a collection's endpoints from an OpenAPI 3 document (JSON or YAML): every path + method becomes an endpoint; one transaction, all or nothing",
    )
    .argument('<collection>', 'id or prefix')
    .option('--file <file>', 'the document (JSON or YAML)')
    .option('--url <url>', 'fetch the document; only under a prefix of GATEHOUSE_PLATFORM_IMPORT_URLS')
    .option('--dry-run', 'print what would be created; write nothing')
    .option('--replace', 'overwrite endpoints with the same method and path (default: skip them)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nOperations the collection has an endpoint for already (same method and path) are skipped and listed, ' +
        'unless --replace. A bad document changes nothing and names the JSON pointer of what was wrong.\n\nExamples:\n  gatehouse platform endpoints import orders --file openapi.yaml --dry-run\n  gatehouse platform endpoints import orders --url https://specs.example.com/orders.json --replace\n',
    )
    .action(
      async (
        ref: string,
        opts: { file?: string; url?: string; dryRun?: boolean; replace?: boolean; json?: boolean },
        command: Command,
      ) => {
        if ((opts.file === undefined) === (opts.url === undefined))
          command.error('error: give exactly one of --file <file> or --url <url>');
        let source: { text: string } | { url: string };
        if (opts.file !== undefined) {
          let size: number;
          try {
            size = fs.statSync(opts.file).size;
          } catch {
            command.error(`error: cannot read ${opts.file}`);
          }
          if (size > MAX_OPENAPI_BYTES) command.error(`error: ${tooBig().message}`);
          source = { text: fs.readFileSync(opts.file, 'utf8') };
        } else {
          source = { url: opts.url as string };
        }
        await withRuntime(io, command, async ({ services }) => {
          const result = await services.platform.importEndpoints(
            ref,
            source,
            { dryRun: opts.dryRun, replace: opts.replace },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, result, () => writeImport(io, result));
        });
      },
    );

  // ---- profiles ----
  const profiles = platform
    .command('profiles')
    .description('access profiles: who may call which collections, and how they authenticate');

  pageOptions(profiles.command('list').description('list access profiles')).action(
    async (opts: PageOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.platform.listProfiles(
          { limit: opts.limit, cursor: opts.cursor },
          OPERATOR,
        );
        emit(io.stdout, opts.json, page, () => {
          if (page.items.length === 0) io.stdout.write('No access profiles.\n');
          else writeTable(io.stdout, page.items, PROFILE_COLUMNS);
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    },
  );

  profiles
    .command('create')
    .description('create an access profile and print its credentials (only this once)')
    .argument('<name>', 'unique, case-insensitive, 1–100 characters')
    .addOption(
      new Option(
        '--auth <method>',
        'oauth2: an API client for POST /oauth2/token; token: a static api-token; jwt: an outside IdP',
      )
        .choices([...AUTH_METHODS])
        .makeOptionMandatory(),
    )
    .option(
      '--collection <ref>',
      'a collection (id or prefix) it may call; repeatable or comma-separated',
      collectList,
    )
    .option(
      '--allow-ip <cidr>',
      'an address or CIDR calls may come from; repeatable or comma-separated (default any)',
      collectList,
    )
    .option(
      '--owner <user>',
      'oauth2: the user owning its API client (id or email; must hold "api.clients.create")',
    )
    .option('--jwks-url <url>', "jwt: the identity provider's JWKS URL (https; http only on loopback)")
    .option('--issuer <iss>', 'jwt: the iss its tokens carry')
    .option('--audience <aud>', 'jwt: the aud its tokens must carry (default: not checked)')
    .option('--claim <name=value>', 'jwt: a claim its tokens must carry; repeatable', collectClaim)
    .option('--policy <policy>', 'its policy (id or name): rate limit, quota, concurrency (default none)')
    .option('--description <text>', 'what it is for')
    .option('--disabled', 'create it disabled')
    .option('--json', 'print {profile, credentials} as JSON')
    .action(
      async (
        name: string,
        opts: {
          auth: string;
          collection?: string[];
          allowIp?: string[];
          owner?: string;
          jwksUrl?: string;
          issuer?: string;
          audience?: string;
          claim?: Record<string, string | number | boolean>;
          policy?: string;
          description?: string;
          disabled?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const jwt =
            opts.auth === 'jwt'
              ? {
                  jwksUrl: opts.jwksUrl,
                  issuer: opts.issuer,
                  audience: opts.audience ?? null,
                  requiredClaims: opts.claim ?? {},
                }
              : undefined;
          const issued = await services.platform.createProfile(
            {
              name,
              authMethod: opts.auth,
              collections: opts.collection ?? [],
              ipAllowList: opts.allowIp ?? [],
              owner: opts.owner,
              description: opts.description,
              enabled: !opts.disabled,
              jwt,
              policyId: opts.policy,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, issued, () => {
            io.stdout.write(
              `Created access profile ${issued.profile.id} "${issued.profile.name}" (${issued.profile.authMethod}).\n`,
            );
            writeCredentials(io, issued);
          });
        });
      },
    );

  profiles
    .command('show')
    .description('show one access profile (never its credentials)')
    .argument('<profile>', 'id or name')
    .option('--json', 'print it as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const p = await services.platform.getProfile(ref, OPERATOR);
        emit(io.stdout, opts.json, p, () => writeRecord(io.stdout, profileRecord(p)));
      });
    });

  profiles
    .command('update')
    .description('change an access profile (disable: refused from its next call, on every node)')
    .argument('<profile>', 'id or name')
    .option('--name <name>', 'a new name')
    .option('--description <text>', 'a new description')
    .option('--collection <ref>', 'the collections it may call (replaces the list); repeatable', collectList)
    .option(
      '--allow-ip <cidr>',
      'the addresses it may call from (replaces the list); repeatable',
      collectList,
    )
    .option('--any-ip', 'clear the IP allow-list')
    .option('--policy <policy>', 'its policy (id or name), or none (no limits)')
    .option('--enabled <bool>', 'true or false', parseBool)
    .option('--json', 'print the profile as JSON')
    .action(
      async (
        ref: string,
        opts: {
          name?: string;
          description?: string;
          collection?: string[];
          allowIp?: string[];
          anyIp?: boolean;
          policy?: string;
          enabled?: boolean;
          json?: boolean;
        },
        command: Command,
      ) => {
        await withRuntime(io, command, async ({ services }) => {
          const p = await services.platform.updateProfile(
            ref,
            {
              name: opts.name,
              description: opts.description,
              collections: opts.collection,
              ipAllowList: opts.anyIp ? [] : opts.allowIp,
              enabled: opts.enabled,
              policyId: opts.policy === 'none' ? null : opts.policy,
            },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, p, () =>
            io.stdout.write(`Updated access profile ${p.id} "${p.name}".\n`),
          );
        });
      },
    );

  profiles
    .command('regenerate')
    .description('new credentials for an oauth2 or token profile, printed once (the old token stops at once)')
    .argument('<profile>', 'id or name')
    .option(
      '--grace <duration>',
      'oauth2: how long the previous secret keeps working (default 0: ends now)',
      parseDuration,
    )
    .option('--json', 'print {profile, credentials} as JSON')
    .action(async (ref: string, opts: { grace?: number; json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const issued = await services.platform.regenerateCredentials(
          ref,
          { graceSeconds: opts.grace },
          OPERATOR,
          CLI_ACTOR,
        );
        emit(io.stdout, opts.json, issued, () => {
          io.stdout.write(
            `New credentials for access profile ${issued.profile.id} "${issued.profile.name}".\n`,
          );
          writeCredentials(io, issued);
        });
      });
    });

  profiles
    .command('delete')
    .description("delete an access profile (an oauth2 profile's API client is revoked with it)")
    .argument('<profile>', 'id or name')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        await services.platform.deleteProfile(ref, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted access profile ${ref}.\n`);
      });
    });

  registerPlatformDomains(platform, io);

  // ---- policies ----
  const policies = platform
    .command('policies')
    .description('policies: the rate limit, quota and concurrency an access profile may use');

  pageOptions(policies.command('list').description('list policies')).action(
    async (opts: PageOptions, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.platform.listPolicies(
          { limit: opts.limit, cursor: opts.cursor },
          OPERATOR,
        );
        emit(io.stdout, opts.json, page, () => {
          if (page.items.length === 0) io.stdout.write('No policies.\n');
          else writeTable(io.stdout, page.items, POLICY_COLUMNS);
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    },
  );

  policyOptions(
    policies
      .command('create')
      .description(
        'create a policy; give it to access profiles with `profiles update <profile> --policy <policy>`',
      )
      .argument('<name>', 'unique, case-insensitive, 1–100 characters'),
  ).action(async (name: string, opts: PolicyOptions, command: Command) => {
    await withRuntime(io, command, async ({ services }) => {
      const input: PolicyInput = {
        name,
        description: opts.description,
        rateLimit: offToNull(opts.rate) ?? undefined,
        quota: offToNull(opts.quota) ?? undefined,
        concurrency: concurrencyOf(opts, undefined) ?? undefined,
      };
      const p = await services.platform.createPolicy(input, OPERATOR, CLI_ACTOR);
      emit(io.stdout, opts.json, p, () => io.stdout.write(`Created policy ${p.id} "${p.name}".\n`));
    });
  });

  policies
    .command('show')
    .description('show one policy')
    .argument('<policy>', 'id or name')
    .option('--json', 'print it as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const p = await services.platform.getPolicy(ref, OPERATOR);
        emit(io.stdout, opts.json, p, () => writeRecord(io.stdout, policyRecord(p)));
      });
    });

  policyOptions(
    policies
      .command('update')
      .description('change a policy (every node enforces it from the next call); none turns a limit off')
      .argument('<policy>', 'id or name')
      .option('--name <name>', 'a new name'),
  ).action(async (ref: string, opts: PolicyOptions & { name?: string }, command: Command) => {
    await withRuntime(io, command, async ({ services }) => {
      const needsBefore =
        opts.concurrency === undefined && (opts.queue !== undefined || opts.maxWait !== undefined);
      const before = needsBefore ? await services.platform.getPolicy(ref, OPERATOR) : undefined;
      const p = await services.platform.updatePolicy(
        ref,
        {
          name: opts.name,
          description: opts.description,
          rateLimit: offToNull(opts.rate),
          quota: offToNull(opts.quota),
          concurrency: concurrencyOf(opts, before?.concurrency),
        },
        OPERATOR,
        CLI_ACTOR,
      );
      emit(io.stdout, opts.json, p, () => io.stdout.write(`Updated policy ${p.id} "${p.name}".\n`));
    });
  });

  policies
    .command('delete')
    .description('delete a policy no access profile uses (otherwise it names them and changes nothing)')
    .argument('<policy>', 'id or name')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        await services.platform.deletePolicy(ref, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted policy ${ref}.\n`);
      });
    });
}
