/** An app over a test store with a manual clock, for `app.inject()` flows. */
import type { App } from '../../src/app.js';
import { buildApp } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { type Logger, silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import type { Store } from '../../src/store/index.js';
import { checkResponses } from './response-check.js';
import { testServices } from './services.js';
import { OPERATOR } from '../../src/services/principal.js';

export interface TestApp {
  app: App;
  services: Services;
  clock: ManualClock;
  config: Config;
}

export async function testApp(
  store: Store,
  options: {
    config?: Partial<Config>;
    clock?: ManualClock;
    logger?: Logger;
    instrument?: (app: App) => void;
  } = {},
): Promise<TestApp> {
  const { services, clock, config } = await testServices(store, options);
  const app = await buildApp({
    config,
    store,
    services,
    logger: options.logger ?? silentLogger(),
    // Every response of every HTTP test is checked against its route's response schema.
    instrument: (instance) => {
      checkResponses(instance);
      options.instrument?.(instance);
    },
  });
  await app.ready();
  return { app, services, clock, config };
}

export const TEST_PASSWORD = 'correct horse battery staple';

/** Creates a user with a known password (no forced change). */
export async function createUser(
  services: Services,
  email: string,
  role = 'Participant',
  password = TEST_PASSWORD,
) {
  return services.users.create(
    { email, displayName: email.split('@')[0], role, password },
    OPERATOR,
    CLI_ACTOR,
  );
}

export interface SignedIn {
  cookie: string;
  csrfToken: string;
  /** Headers for a cookie-authenticated write. */
  headers: Record<string, string>;
}

/** Signs in through the API and returns the cookie header and CSRF token. */
export async function signIn(app: App, email: string, password = TEST_PASSWORD): Promise<SignedIn> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/admin/v1/session',
    payload: { email, password },
  });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const setCookie = res.cookies.find((c) => c.name === 'gatehouse_session');
  if (!setCookie) throw new Error('no session cookie');
  const cookie = `gatehouse_session=${setCookie.value}`;
  const csrfToken = (res.json() as { csrfToken: string }).csrfToken;
  return { cookie, csrfToken, headers: { cookie, 'x-csrf-token': csrfToken } };
}
