/**
 * `gatehouse keys list|rotate`: the access-token signing keys. Rotation makes a
 * new active key; earlier keys stay in the JWKS until every token they signed has
 * expired, then they are retired (by the server's maintenance, or the next start).
 */
import type { Command } from 'commander';
import { CLI_ACTOR } from '../services/context.js';
import type { SigningKeyInfo } from '../services/keys.js';
import type { CliIo } from './io.js';
import { emit, writeTable } from './output.js';
import { withRuntime } from './runtime.js';

const KEY_COLUMNS = {
  KID: (k: SigningKeyInfo) => k.kid,
  ALG: (k: SigningKeyInfo) => k.alg,
  STATUS: (k: SigningKeyInfo) => k.status,
  CREATED: (k: SigningKeyInfo) => k.createdAt,
  'RETIRE AFTER': (k: SigningKeyInfo) => k.retireAfter,
};

export function registerKeys(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('manage the keys that sign access tokens');

  keys
    .command('list')
    .description('list signing keys, newest first: active (signs), published (verifies only), retired')
    .option('--json', 'print {items} as JSON')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const items = await services.keys.list();
        emit(io.stdout, opts.json, { items }, () => writeTable(io.stdout, items, KEY_COLUMNS));
      });
    });

  keys
    .command('rotate')
    .description(
      'make a new active signing key (GATEHOUSE_TOKEN_ALG); earlier keys stay published until their tokens expire',
    )
    .option('--json', 'print {key, items} as JSON: the new key and every key after the rotation')
    .action(async (opts: { json?: boolean }, command: Command) => {
      await withRuntime(io, command, async ({ services }) => {
        const key = await services.keys.rotate(CLI_ACTOR, 'manual');
        const items = await services.keys.list();
        emit(io.stdout, opts.json, { key, items }, () => {
          io.stdout.write(`New active signing key ${key.kid} (${key.alg}).\n`);
          for (const old of items.filter((k) => k.status === 'published')) {
            io.stdout.write(`Key ${old.kid} stays published until ${old.retireAfter ?? 'further notice'}.\n`);
          }
        });
      });
    });
}
