/**
 * Everything between "config is valid" and "ready to serve": the secret key,
 * the store, migrations, system roles and the bootstrap admin. Shared by
 * `gatehouse serve`, `gatehouse init` and every CLI command.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { systemClock, type Clock } from './clock.js';
import { type Config, parseSecretKey } from './config.js';
import { generatePassword, SecretKeyring } from './crypto.js';
import { ConflictError } from './errors.js';
import type { Logger } from './logger.js';
import { SYSTEM_ACTOR } from './services/context.js';
import { createServices, type Services } from './services/index.js';
import { openStore, type Store } from './store/index.js';
import { OPERATOR } from './services/principal.js';

export const SECRET_KEY_FILE = 'secret.key';

/**
 * GATEHOUSE_SECRET_KEY if set; otherwise the key in `<data dir>/secret.key`,
 * generated (mode 0600) the first time. PostgreSQL requires the variable (config enforces it).
 */
export function resolveSecretKey(config: Config): { key: Buffer; generatedFile?: string } {
  if (config.secretKey) return { key: config.secretKey };
  const file = path.join(config.dataDir, SECRET_KEY_FILE);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  try {
    return { key: parseSecretKey(fs.readFileSync(file, 'utf8'), file) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const encoded = crypto.randomBytes(32).toString('base64');
  try {
    // 'wx': never overwrite a key another process wrote a moment ago.
    fs.writeFileSync(file, `${encoded}\n`, { mode: 0o600, flag: 'wx' });
    return { key: Buffer.from(encoded, 'base64'), generatedFile: file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { key: parseSecretKey(fs.readFileSync(file, 'utf8'), file) };
  }
}

/**
 * The configured secret key without generating one: GATEHOUSE_SECRET_KEY, else `<data dir>/secret.key`
 * if it exists (undefined otherwise). `source` says which, for messages.
 */
export function readSecretKey(config: Config): { key: Buffer; source: string } | undefined {
  if (config.secretKey) return { key: config.secretKey, source: 'GATEHOUSE_SECRET_KEY' };
  const file = path.join(config.dataDir, SECRET_KEY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { key: parseSecretKey(text, file), source: file };
}

export function sqliteFile(config: Config): string {
  return path.join(config.dataDir, 'gatehouse.db');
}

export async function openConfiguredStore(config: Config, poolSize?: number): Promise<Store> {
  return openStore({
    databaseUrl: config.databaseUrl,
    databaseSchema: config.databaseSchema,
    sqliteFile: sqliteFile(config),
    poolSize,
  });
}

export interface Runtime {
  readonly config: Config;
  readonly store: Store;
  readonly services: Services;
  close(): Promise<void>;
}

/** Opens the store and builds the services, without migrating. */
export async function openRuntime(config: Config, log: Logger, clock: Clock = systemClock): Promise<Runtime> {
  const { key } = resolveSecretKey(config);
  const store = await openConfiguredStore(config);
  const services = createServices({ store, config, clock, keyring: new SecretKeyring(key), log });
  return {
    config,
    store,
    services,
    close: async () => {
      await services.gatewayLimits.close();
      await services.throttle.close();
      await store.close();
    },
  };
}

export interface PrepareResult {
  appliedMigrations: string[];
  /** Set only when the bootstrap admin was created just now. */
  bootstrapAdmin?: { email: string; generatedPassword?: string };
}

/**
 * Migrations, system roles and (for `serve` and `init`) the first admin:
 * idempotent, safe to run on every start.
 */
export async function prepareRuntime(
  runtime: Runtime,
  options: { bootstrapAdmin: boolean } = { bootstrapAdmin: true },
): Promise<PrepareResult> {
  const { applied } = await runtime.store.migrate();
  const { services, config } = runtime;
  await services.roles.syncSystemRoles();
  await services.keys.prepare();
  if (!options.bootstrapAdmin || (await services.users.count()) > 0) return { appliedMigrations: applied };
  const email = config.adminEmail ?? 'admin@localhost';
  const generatedPassword = config.adminPassword === undefined ? generatePassword() : undefined;
  try {
    await services.users.create(
      {
        email,
        displayName: 'Administrator',
        role: 'Admin',
        password: config.adminPassword ?? generatedPassword,
        mustChangePassword: generatedPassword !== undefined,
      },
      OPERATOR,
      SYSTEM_ACTOR,
    );
  } catch (error) {
    // Another node created the first admin at the same moment: theirs stands.
    if (error instanceof ConflictError) return { appliedMigrations: applied };
    throw error;
  }
  return { appliedMigrations: applied, bootstrapAdmin: { email, generatedPassword } };
}
