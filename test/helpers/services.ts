/** A full service container over a test store, with a manual clock and a fixed secret key. */
import { ManualClock } from '../../src/clock.js';
import { loadConfig, withOverrides, type Config } from '../../src/config.js';
import { SecretKeyring } from '../../src/crypto.js';
import { silentLogger } from '../../src/logger.js';
import { createServices, type Services } from '../../src/services/index.js';
import { type Principal, userPrincipal } from '../../src/services/principal.js';
import type { Store } from '../../src/store/index.js';

export const TEST_SECRET_KEY = Buffer.alloc(32, 7);

export function testConfig(overrides: Partial<Config> = {}): Config {
  return withOverrides(loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent', GATEHOUSE_WORKERS: '1' }), {
    secretKey: TEST_SECRET_KEY,
    ...overrides,
  });
}

export async function testServices(
  store: Store,
  options: { config?: Partial<Config>; clock?: ManualClock } = {},
): Promise<{ services: Services; clock: ManualClock; config: Config }> {
  const clock = options.clock ?? new ManualClock('2026-03-01T12:00:00.000Z');
  const config = testConfig(options.config);
  const services = createServices({
    store,
    config,
    clock,
    keyring: new SecretKeyring(TEST_SECRET_KEY),
    log: silentLogger(),
  });
  await services.roles.syncSystemRoles();
  return { services, clock, config };
}

/** The principal of a user as the guard would produce it (their live grants), for calling services directly. */
export async function asPrincipal(
  services: Services,
  user: number | { id: number },
  via: 'session' | 'developer_token' = 'session',
): Promise<Principal> {
  const id = typeof user === 'number' ? user : user.id;
  const live = await services.liveUsers.get(id);
  if (!live) throw new Error(`no user ${id}`);
  return userPrincipal(live, via);
}

/** The client and its owner for a right secret, null for any failure (what the OAuth endpoints act on). */
export async function authenticateClient(services: Services, clientId: string, secret: string) {
  const result = await services.clients.verify(clientId, secret);
  return 'failure' in result ? null : result;
}
