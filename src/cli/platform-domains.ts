/**
 * `gatehouse platform domains list|create|get|update|delete`: custom domains of the API platform
 * (issue 14) over the same service as `/api/admin/v1/platform/domains`. A certificate and its key
 * come from PEM files (`--cert FILE --key FILE`); the key is stored encrypted and never printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../errors.js';
import { CLI_ACTOR } from '../services/context.js';
import type { PlatformDomain } from '../services/platform/domains.js';
import { MAX_PAGE_SIZE } from '../services/pagination.js';
import { OPERATOR } from '../services/principal.js';
import type { CliIo } from './io.js';
import { parseBool, parseLimit, usageError } from './options.js';
import { emit, writeNextPage, writeRecord, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

const DOMAIN_COLUMNS = {
  ID: (d: PlatformDomain) => d.id,
  HOSTNAME: (d: PlatformDomain) => d.hostname,
  ISSUER: (d: PlatformDomain) => d.issuer,
  CERTIFICATE: (d: PlatformDomain) =>
    d.certificate ? `until ${d.certificate.notAfter.slice(0, 10)}` : 'default',
  ENABLED: (d: PlatformDomain) => (d.enabled ? 'yes' : 'no'),
};

function domainRecord(d: PlatformDomain): Record<string, unknown> {
  return {
    id: d.id,
    hostname: d.hostname,
    issuer: d.issuer,
    enabled: d.enabled ? 'yes' : 'no',
    certificate: d.certificate ? d.certificate.subject : "none (the instance's default)",
    ...(d.certificate
      ? {
          'dns names': d.certificate.subjectAltNames,
          'issued by': d.certificate.issuer,
          'not before': d.certificate.notBefore,
          'not after': d.certificate.notAfter,
          'sha-256': d.certificate.fingerprint256,
        }
      : {}),
    created: d.createdAt,
    updated: d.updatedAt,
  };
}

/** A PEM file's text; an unreadable file is an error naming the option (exit 1). */
function readPemFile(io: CliIo, file: string, option: '--cert' | '--key'): string {
  try {
    return fs.readFileSync(path.resolve(io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ValidationError(`${option}: cannot read ${file} (${code}).`, {
      field: option === '--cert' ? 'certificate' : 'privateKey',
    });
  }
}

/** `--cert` and `--key` together (or neither): the PEM texts. */
function pemPair(io: CliIo, command: Command, opts: { cert?: string; key?: string }) {
  if (opts.cert === undefined && opts.key === undefined) return {};
  if (opts.cert === undefined || opts.key === undefined) usageError(command, '--cert and --key go together.');
  return {
    certificate: readPemFile(io, opts.cert, '--cert'),
    privateKey: readPemFile(io, opts.key, '--key'),
  };
}

export function registerPlatformDomains(platform: Command, io: CliIo): void {
  const domains = platform
    .command('domains')
    .description('custom domains: host names with their own token issuer and, optionally, TLS certificate');

  domains
    .command('list')
    .description('list custom domains')
    .option('--limit <n>', `page size (1–${MAX_PAGE_SIZE}, default 50)`, parseLimit)
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--json', 'print {items, nextCursor} as JSON')
    .action(async (opts: { limit?: number; cursor?: string; json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const page = await services.domains.list({ limit: opts.limit, cursor: opts.cursor }, OPERATOR);
        emit(io.stdout, opts.json, page, () => {
          if (page.items.length === 0) io.stdout.write('No custom domains.\n');
          else writeTable(io.stdout, page.items, DOMAIN_COLUMNS);
          writeNextPage(io.stdout, page.nextCursor);
        });
      });
    });

  domains
    .command('create')
    .description(
      'register a custom domain: tokens asked for at https://<hostname>/oauth2/token carry its issuer',
    )
    .argument('<hostname>', 'a DNS name such as api.example.com (not an IP address)')
    .option('--cert <file>', 'PEM certificate chain for the host, served by SNI when Gatehouse serves HTTPS')
    .option('--key <file>', "the certificate's PEM private key (unencrypted; stored encrypted)")
    .option('--disabled', 'register it disabled')
    .option('--json', 'print the domain as JSON')
    .action(
      async (
        hostname: string,
        opts: { cert?: string; key?: string; disabled?: boolean; json?: boolean },
        command: Command,
      ) => {
        const pair = pemPair(io, command, opts);
        await withRuntime(io, command, async ({ services }) => {
          const d = await services.domains.create(
            { hostname, ...pair, enabled: !opts.disabled },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, d, () =>
            io.stdout.write(
              `Registered custom domain ${d.id} ${d.hostname}: issuer ${d.issuer}, ${
                d.certificate ? `certificate until ${d.certificate.notAfter}` : 'default certificate'
              }${d.enabled ? '' : ' (disabled)'}.\n`,
            ),
          );
        });
      },
    );

  domains
    .command('get')
    .description('show one custom domain and its certificate (never the key)')
    .argument('<domain>', 'id or host name')
    .option('--json', 'print it as JSON')
    .action(async (ref: string, opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const d = await services.domains.get(ref, OPERATOR);
        emit(io.stdout, opts.json, d, () => writeRecord(io.stdout, domainRecord(d)));
      });
    });

  domains
    .command('update')
    .description(
      'replace or remove its certificate and key, or enable/disable it (every node, from the next request)',
    )
    .argument('<domain>', 'id or host name')
    .option('--cert <file>', 'a new PEM certificate chain (with --key)')
    .option('--key <file>', 'its PEM private key')
    .option('--no-cert', "remove the certificate and key: TLS clients get the instance's default")
    .option('--enabled <bool>', 'true or false (disabled: its tokens are refused)', parseBool)
    .option('--json', 'print the domain as JSON')
    .action(
      async (
        ref: string,
        opts: { cert?: string | false; key?: string; enabled?: boolean; json?: boolean },
        command: Command,
      ) => {
        const removing = opts.cert === false;
        if (removing && opts.key !== undefined)
          usageError(command, '--no-cert removes the key too; leave out --key.');
        const pair = removing
          ? { certificate: null, privateKey: null }
          : pemPair(io, command, { cert: opts.cert || undefined, key: opts.key });
        if (opts.enabled === undefined && Object.keys(pair).length === 0)
          usageError(command, 'nothing to change: give --cert and --key, --no-cert, or --enabled.');
        await withRuntime(io, command, async ({ services }) => {
          const d = await services.domains.update(
            ref,
            { ...pair, enabled: opts.enabled },
            OPERATOR,
            CLI_ACTOR,
          );
          emit(io.stdout, opts.json, d, () =>
            io.stdout.write(`Updated custom domain ${d.id} ${d.hostname}.\n`),
          );
        });
      },
    );

  domains
    .command('delete')
    .description('delete a custom domain (its tokens are refused from the next call)')
    .argument('<domain>', 'id or host name')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        await services.domains.delete(ref, OPERATOR, CLI_ACTOR);
        io.stdout.write(`Deleted custom domain ${ref}.\n`);
      });
    });
}
