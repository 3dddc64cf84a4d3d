/** An app with the token service ready: signing key, an owner who may create clients, and a client factory. */
import { buildApp, type App } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import type { User } from '../../src/services/users.js';
import type { Store } from '../../src/store/index.js';
import { checkResponses } from './response-check.js';
import { testServices } from './services.js';
import { OPERATOR } from '../../src/services/principal.js';

export interface OAuthFixture {
  app: App;
  services: Services;
  clock: ManualClock;
  config: Config;
  owner: User;
  /** Creates an active client owned by `owner` (or another user); returns its full id and secret. */
  createClient(options?: {
    name?: string;
    scopes?: string[];
    ttl?: number;
    owner?: string;
  }): Promise<{ id: string; secret: string }>;
  close(): Promise<void>;
}

let counter = 0;

export async function oauthFixture(
  store: Store,
  options: { config?: Partial<Config>; ownerRole?: string; clock?: ManualClock } = {},
): Promise<OAuthFixture> {
  const { services, clock, config } = await testServices(store, {
    config: options.config,
    clock: options.clock,
  });
  await services.keys.prepare();
  const owner = await services.users.create(
    {
      email: `owner${++counter}-${Date.now()}@example.com`,
      displayName: 'Owner',
      role: options.ownerRole ?? 'Privileged',
    },
    OPERATOR,
    CLI_ACTOR,
  );
  const app = await buildApp({ config, store, services, logger: silentLogger(), instrument: checkResponses });
  await app.ready();
  return {
    app: app,
    services,
    clock,
    config,
    owner,
    async createClient(o = {}) {
      const issued = await services.clients.create(
        {
          name: o.name ?? `client ${++counter}`,
          scopes: o.scopes ?? ['data', 'user'],
          tokenTtlSeconds: o.ttl,
          owner: o.owner ?? owner.email,
        },
        CLI_ACTOR,
      );
      return { id: issued.clientId, secret: issued.clientSecret };
    },
    async close() {
      await app.close();
    },
  };
}

export function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}
