/**
 * Users who each hold a developer access token, made through the services as an operator would
 * (`gatehouse users create` + `gatehouse tokens create`), for HTTP tests that call the bearer APIs
 * as several people: `await holders.add('reader', 'Participant')`, then
 * `app.inject({ headers: holders.bearer('reader') })`.
 */
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';

export class TokenHolders {
  /** Each holder's developer token, by name. */
  readonly token: Record<string, string> = {};
  /** Each holder's user id, by name. */
  readonly userId: Record<string, number> = {};

  /** `services` is read when a holder is added (test files build theirs in beforeAll). */
  constructor(private readonly services: () => Services) {}

  /** A user `<name>@example.com` with `role` and a 30-day developer token. */
  async add(name: string, role: string): Promise<void> {
    const services = this.services();
    const user = await services.users.create(
      { email: `${name}@example.com`, displayName: name, role },
      OPERATOR,
      CLI_ACTOR,
    );
    this.userId[name] = user.id;
    const created = await services.accessTokens.create(
      { description: `${name}'s token`, user: user.id, expiresInDays: 30 },
      OPERATOR,
      CLI_ACTOR,
    );
    this.token[name] = created.token;
  }

  bearer(name: string): { authorization: string } {
    return { authorization: `Bearer ${this.token[name]}` };
  }
}
