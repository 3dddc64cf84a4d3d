/**
 * The bearer guard's 401/403/404 table for BOTH token kinds, a client JWT from the
 * token service and a developer token, over HTTP on both dialects: exact
 * WWW-Authenticate headers and bodies, and every live change (grant removed from
 * the role, owner disabled, token revoked, client revoked) honoured on the very
 * next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JWT_CLOCK_SKEW_SECONDS } from '../../src/guard/index.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { asPrincipal, testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const INVALID = 'The access token is invalid, expired or revoked.';
const INVALID_HEADER = `Bearer realm="gatehouse", error="invalid_token", error_description="${INVALID}"`;
const INVALID_BODY = { error: 'invalid_token', message: INVALID };
const FORBIDDEN_HEADER = 'Bearer error="insufficient_scope", scope="workflow"';
const MISSING_GRANT_BODY = {
  error: 'insufficient_scope',
  message: 'The token\'s user lacks the grant "workflow.api" (Workflow API).',
  details: { grant: 'workflow.api' },
};

type Kind = 'developer token' | 'client JWT';
const KINDS: Kind[] = ['developer token', 'client JWT'];

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`bearer guard, both token kinds (${dialect.name})`, () => {
    let ts: TestStore;
    let fx: OAuthFixture;
    let counter = 0;

    beforeAll(async () => {
      ts = await dialect.open();
      // A role of our own, so tests can take its grant away.
      const { services } = await testServices(ts.store);
      await services.roles.create(
        { name: 'Automation', grants: ['workflow.api', 'access_tokens.create', 'api.clients.create'] },
        OPERATOR,
        CLI_ACTOR,
      );
      await services.roles.create(
        { name: 'Integrator', grants: ['access_tokens.create', 'api.clients.create'] },
        OPERATOR,
        CLI_ACTOR,
      );
      fx = await oauthFixture(ts.store, { ownerRole: 'Automation' });
    });
    afterAll(async () => {
      await fx?.close();
      await ts?.dispose();
    });

    /** A fresh user in `role` and a credential of `kind` acting as them. */
    async function credential(kind: Kind, role = 'Automation', scopes = ['workflow', 'data']) {
      counter++;
      const user = await fx.services.users.create(
        { email: `u${counter}@example.com`, role },
        OPERATOR,
        CLI_ACTOR,
      );
      if (kind === 'developer token') {
        const created = await fx.services.accessTokens.create(
          { description: `t${counter}`, user: user.id, expiresInDays: 1 },
          OPERATOR,
          CLI_ACTOR,
        );
        return {
          user,
          token: created.token,
          revoke: () => fx.services.accessTokens.revoke(created.accessToken.id, OPERATOR, CLI_ACTOR),
        };
      }
      const client = await fx.createClient({ scopes, owner: user.email, ttl: 3600 });
      const res = await fx.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: {
          authorization: basic(client.id, client.secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        payload: 'grant_type=client_credentials',
      });
      expect(res.statusCode).toBe(200);
      const token = (res.json() as { access_token: string }).access_token;
      return {
        user,
        token,
        client,
        /** RFC 7009 revocation by the client itself. */
        revoke: async () => {
          const revoked = await fx.app.inject({
            method: 'POST',
            url: '/oauth/revoke',
            headers: {
              authorization: basic(client.id, client.secret),
              'content-type': 'application/x-www-form-urlencoded',
            },
            payload: `token=${token}`,
          });
          expect(revoked.statusCode).toBe(200);
        },
      };
    }

    const get = (token: string, url = '/v1/workflows') =>
      fx.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

    function expectInvalid(res: Awaited<ReturnType<typeof get>>) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['www-authenticate']).toBe(INVALID_HEADER);
      expect(res.json()).toEqual(INVALID_BODY);
    }

    for (const kind of KINDS) {
      describe(kind, () => {
        it('200 with the grant (and, for a client, the scope)', async () => {
          const { token } = await credential(kind);
          const res = await get(token);
          expect(res.statusCode).toBe(200);
          expect(res.json()).toEqual([]);
        });

        it('401 for a tampered token', async () => {
          const { token } = await credential(kind);
          const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
          expectInvalid(await get(tampered));
        });

        it('401 once expired', async () => {
          const { token } = await credential(kind);
          expect((await get(token)).statusCode).toBe(200);
          fx.clock.advance(86_400_000);
          try {
            expectInvalid(await get(token));
          } finally {
            fx.clock.advance(-86_400_000);
          }
        });

        it('401 on the next request after the token is revoked', async () => {
          const { token, revoke } = await credential(kind);
          expect((await get(token)).statusCode).toBe(200);
          await revoke();
          expectInvalid(await get(token));
        });

        it('401 on the next request after the user (owner) is disabled; 200 again when enabled', async () => {
          const { token, user } = await credential(kind);
          expect((await get(token)).statusCode).toBe(200);
          await fx.services.users.disable(user.id, OPERATOR, CLI_ACTOR);
          expectInvalid(await get(token));
          await fx.services.users.enable(user.id, OPERATOR, CLI_ACTOR);
          expect((await get(token)).statusCode).toBe(200);
        });

        it('403 naming the grant when the user’s role lacks it, and on the next request after it is removed', async () => {
          const without = await credential(kind, 'Integrator');
          const denied = await get(without.token);
          expect(denied.statusCode).toBe(403);
          expect(denied.headers['www-authenticate']).toBe(FORBIDDEN_HEADER);
          expect(denied.json()).toEqual(MISSING_GRANT_BODY);

          const { token } = await credential(kind);
          expect((await get(token)).statusCode).toBe(200);
          await fx.services.roles.removeGrants('Automation', ['workflow.api'], OPERATOR, CLI_ACTOR);
          try {
            const next = await get(token);
            expect(next.statusCode).toBe(403);
            expect(next.headers['www-authenticate']).toBe(FORBIDDEN_HEADER);
            expect(next.json()).toEqual(MISSING_GRANT_BODY);
          } finally {
            await fx.services.roles.addGrants('Automation', ['workflow.api'], OPERATOR, CLI_ACTOR);
          }
          expect((await get(token)).statusCode).toBe(200);
        });

        it('404 with the same body for a workflow that does not exist and one the principal may not see', async () => {
          const owner = await fx.services.users.create(
            { email: `wf${++counter}@example.com`, role: 'Editor' },
            OPERATOR,
            CLI_ACTOR,
          );
          const hidden = await fx.services.workflows.create(
            { name: `Hidden ${counter}`, definition: { steps: [{ type: 'log', message: 'x' }] } },
            await asPrincipal(fx.services, owner),
            CLI_ACTOR,
          );
          const { token } = await credential(kind);
          const missingId = '00000000-0000-4000-8000-000000000000';
          for (const [method, path] of [
            ['GET', ''],
            ['GET', '/instances'],
            ['POST', '/execute'],
            ['PUT', ''],
            ['DELETE', ''],
          ] as const) {
            const call = (id: string) =>
              fx.app.inject({
                method,
                url: `/v1/workflows/${id}${path}`,
                headers: { authorization: `Bearer ${token}` },
                ...(method === 'PUT'
                  ? { payload: { description: 'mine now' } }
                  : method === 'POST'
                    ? { payload: {} }
                    : {}),
              });
            const invisible = await call(hidden.id);
            const missing = await call(missingId);
            expect(invisible.statusCode).toBe(404);
            expect(missing.statusCode).toBe(404);
            expect(invisible.headers['www-authenticate']).toBeUndefined();
            expect(invisible.json()).toEqual({
              error: 'not_found',
              message: `Workflow ${hidden.id} not found.`,
            });
            expect(missing.json()).toEqual({
              error: 'not_found',
              message: `Workflow ${missingId} not found.`,
            });
          }
        });
      });
    }

    describe('client JWT only', () => {
      it('403 naming the scope when the token lacks `workflow`, even though the owner holds the grant', async () => {
        const { token } = await credential('client JWT', 'Automation', ['data']);
        const res = await get(token);
        expect(res.statusCode).toBe(403);
        expect(res.headers['www-authenticate']).toBe(FORBIDDEN_HEADER);
        expect(res.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The access token lacks the scope "workflow".',
          details: { scope: 'workflow' },
        });
      });

      it(`accepts a client JWT up to ${JWT_CLOCK_SKEW_SECONDS} s past exp (clock skew between nodes), not after`, async () => {
        const { token } = await credential('client JWT');
        const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
          exp: number;
        };
        const start = fx.clock.now().getTime();
        try {
          fx.clock.set(new Date((exp + JWT_CLOCK_SKEW_SECONDS - 1) * 1000));
          expect((await get(token)).statusCode).toBe(200);
          fx.clock.set(new Date((exp + JWT_CLOCK_SKEW_SECONDS) * 1000));
          expectInvalid(await get(token));
        } finally {
          fx.clock.set(new Date(start));
        }
      });

      it('401 on the next request after the client is revoked', async () => {
        const { token, client } = await credential('client JWT');
        expect((await get(token)).statusCode).toBe(200);
        await fx.services.clients.revoke(client!.id, CLI_ACTOR, OPERATOR);
        expectInvalid(await get(token));
      });

      it('401 for a JWT signed by a key Gatehouse does not know', async () => {
        const { token } = await credential('client JWT');
        const [header, payload] = token.split('.');
        const foreignHeader = Buffer.from(
          JSON.stringify({ ...JSON.parse(Buffer.from(header!, 'base64url').toString()), kid: 'not-ours' }),
        ).toString('base64url');
        expectInvalid(await get(`${foreignHeader}.${payload}.${token.split('.')[2]}`));
      });

      it('a client JWT is not an X-DOMO-Developer-Token', async () => {
        const { token } = await credential('client JWT');
        const res = await fx.app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { 'x-domo-developer-token': token },
        });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({
          error: 'invalid_token',
          message: 'X-DOMO-Developer-Token takes a developer access token (gh_dev_...).',
        });
      });
    });
  });
}
