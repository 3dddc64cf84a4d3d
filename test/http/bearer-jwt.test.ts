/**
 * The app's guard accepts the token service's JWTs (client tokens) on the protected APIs,
 * on both dialects: a token with the `workflow` scope whose owner holds the Workflow API
 * grant gets in; without the scope it gets 403; a revoked client's token gets 401 at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Bearer JWT through the guard (${dialect.name})`, () => {
    let ts: TestStore;
    let fx: OAuthFixture;

    beforeAll(async () => {
      ts = await dialect.open();
      fx = await oauthFixture(ts.store);
    });
    afterAll(async () => {
      await fx?.close();
      await ts?.dispose();
    });

    async function tokenFor(client: { id: string; secret: string }, scope: string): Promise<string> {
      const res = await fx.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
      });
      expect(res.statusCode).toBe(200);
      return (res.json() as { access_token: string }).access_token;
    }

    const list = (token: string) =>
      fx.app.inject({ method: 'GET', url: '/v1/workflows', headers: { authorization: `Bearer ${token}` } });

    it('a token with the workflow scope lists workflows; one without it is 403 insufficient_scope', async () => {
      const client = await fx.createClient({ scopes: ['data', 'workflow'] });
      const allowed = await list(await tokenFor(client, 'workflow'));
      expect(allowed.statusCode).toBe(200);
      expect(allowed.json()).toEqual([]);

      const denied = await list(await tokenFor(client, 'data'));
      expect(denied.statusCode).toBe(403);
      expect(denied.headers['www-authenticate']).toBe('Bearer error="insufficient_scope", scope="workflow"');
      expect(denied.json()).toEqual({
        error: 'insufficient_scope',
        message: 'The access token lacks the scope "workflow".',
        details: { scope: 'workflow' },
      });
    });

    it("a revoked client's token is refused on the next request", async () => {
      const client = await fx.createClient({ scopes: ['workflow'] });
      const token = await tokenFor(client, 'workflow');
      expect((await list(token)).statusCode).toBe(200);
      await fx.services.clients.revoke(client.id, CLI_ACTOR, OPERATOR);
      const res = await list(token);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_token');
    });
  });
}
