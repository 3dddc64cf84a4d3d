/**
 * The guard's one resolver chain on both dialects: each credential kind becomes the same
 * `Principal`, surfaces accept only their kinds, an explicit header wins over the cookie,
 * Basic is "no credentials", "admin" is a grant set (never a role name), and one cache of
 * live user facts serves the admin API and /v1 alike.
 */
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_API } from '../../src/admin/session.js';
import {
  BEARER_API,
  type CredentialResolver,
  Guard,
  PRECEDENCE,
  type Surface,
} from '../../src/guard/index.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS } from '../../src/services/grants.js';
import { OPERATOR, userPrincipal } from '../../src/services/principal.js';
import { TEST_PASSWORD } from '../helpers/app.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const ADMIN = '/api/admin/v1';
const SIGN_IN_FIRST = {
  error: 'unauthenticated',
  message: 'Sign in first (POST /api/admin/v1/session) or send a developer access token.',
};

/** A request as the guard sees it (headers, method, parsed cookies). */
function fakeRequest(
  headers: Record<string, string>,
  cookies?: Record<string, string>,
  method = 'GET',
): FastifyRequest {
  return { headers, method, cookies } as unknown as FastifyRequest;
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`guard resolver chain (${dialect.name})`, () => {
    let ts: TestStore;
    let fx: OAuthFixture;
    let counter = 0;

    beforeAll(async () => {
      ts = await dialect.open();
      fx = await oauthFixture(ts.store, { ownerRole: 'Privileged' });
    });
    afterAll(async () => {
      await fx?.close();
      await ts?.dispose();
    });

    async function user(role: string) {
      counter++;
      const email = `chain${counter}@example.com`;
      const created = await fx.services.users.create(
        { email, role, password: TEST_PASSWORD },
        OPERATOR,
        CLI_ACTOR,
      );
      return created;
    }

    async function developerToken(userId: number) {
      const created = await fx.services.accessTokens.create(
        { description: `t${++counter}`, user: userId, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      return created.token;
    }

    async function signIn(email: string) {
      const res = await fx.app.inject({
        method: 'POST',
        url: `${ADMIN}/session`,
        payload: { email, password: TEST_PASSWORD },
      });
      expect(res.statusCode).toBe(200);
      const cookie = res.cookies.find((c) => c.name === 'gatehouse_session')!;
      return {
        cookie: `gatehouse_session=${cookie.value}`,
        csrf: (res.json() as { csrfToken: string }).csrfToken,
        raw: cookie.value,
      };
    }

    async function clientJwt(ownerEmail: string, scopes = ['workflow']) {
      const client = await fx.createClient({ owner: ownerEmail, scopes });
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
      return { token: (res.json() as { access_token: string }).access_token, clientId: client.id };
    }

    describe('each credential kind becomes one Principal', () => {
      it('session cookie (admin API), developer token (both headers), client JWT', async () => {
        const guard = new Guard(fx.services);
        const ann = await user('Privileged');
        const grants = new Set(await fx.services.roles.grantsOf(ann.role.id));

        const session = await signIn(ann.email);
        const bySession = await guard.authenticate(
          fakeRequest({}, { gatehouse_session: session.raw }),
          ADMIN_API,
        );
        expect(bySession).toMatchObject({ kind: 'user', via: 'session', scopes: null, user: { id: ann.id } });
        expect(bySession.grants).toEqual(grants);
        expect(bySession.sessionId).toMatch(/./);

        const token = await developerToken(ann.id);
        const both: Array<Record<string, string>> = [
          { authorization: `Bearer ${token}` },
          { 'x-domo-developer-token': token },
        ];
        for (const headers of both) {
          for (const surface of [ADMIN_API, BEARER_API]) {
            const principal = await guard.authenticate(fakeRequest(headers), surface);
            expect(principal).toMatchObject({
              kind: 'user',
              via: 'developer_token',
              scopes: null,
              user: { id: ann.id },
            });
            expect(principal.tokenId).toEqual(expect.any(Number));
            expect(principal.grants).toEqual(grants);
          }
        }

        const jwt = await clientJwt(ann.email, ['workflow', 'data']);
        const byJwt = await guard.authenticate(
          fakeRequest({ authorization: `Bearer ${jwt.token}` }),
          BEARER_API,
        );
        expect(byJwt).toMatchObject({
          kind: 'client',
          via: 'client_jwt',
          clientId: jwt.clientId,
          user: { id: ann.id },
        });
        expect(byJwt.scopes).toEqual(new Set(['data', 'workflow']));
        expect(byJwt.grants).toEqual(grants);
      });

      it('a session needs the CSRF token for unsafe methods; an unknown session is "no credentials"', async () => {
        const guard = new Guard(fx.services);
        const ann = await user('Privileged');
        const session = await signIn(ann.email);
        await expect(
          guard.authenticate(fakeRequest({}, { gatehouse_session: session.raw }, 'POST'), ADMIN_API),
        ).rejects.toMatchObject({
          status: 403,
          code: 'csrf_failed',
        });
        const ok = await guard.authenticate(
          fakeRequest({ 'x-csrf-token': session.csrf }, { gatehouse_session: session.raw }, 'POST'),
          ADMIN_API,
        );
        expect(ok.user?.id).toBe(ann.id);
        await expect(
          guard.authenticate(fakeRequest({}, { gatehouse_session: 'not-a-session' }), ADMIN_API),
        ).rejects.toMatchObject({
          status: 401,
          code: 'unauthenticated',
          message: SIGN_IN_FIRST.message,
        });
      });
    });

    describe('surfaces and precedence over HTTP', () => {
      it('an explicit header wins over the cookie (the header user acts, no CSRF token needed)', async () => {
        const admin = await user('Admin');
        const participant = await user('Participant');
        const session = await signIn(participant.email);
        const token = await developerToken(admin.id);
        const res = await fx.app.inject({
          method: 'GET',
          url: `${ADMIN}/me`,
          headers: { cookie: session.cookie, authorization: `Bearer ${token}` },
        });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ user: { id: admin.id } });
        expect(res.json()).not.toHaveProperty('csrfToken');
        // And a bad explicit header is refused, not passed over for the cookie.
        const bad = await fx.app.inject({
          method: 'GET',
          url: `${ADMIN}/me`,
          headers: {
            cookie: session.cookie,
            authorization: 'Bearer gh_dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          },
        });
        expect(bad.statusCode).toBe(401);
        expect(bad.json()).toEqual({
          error: 'invalid_token',
          message: 'The access token is invalid, expired or revoked.',
        });
      });

      it('Basic is "no credentials": the admin API falls back to the cookie or asks to sign in; /v1 answers without an error attribute', async () => {
        const ann = await user('Privileged');
        const session = await signIn(ann.email);
        const headers = { authorization: basic('someone', 'secret') };
        const admin = await fx.app.inject({ method: 'GET', url: `${ADMIN}/me`, headers });
        expect(admin.statusCode).toBe(401);
        expect(admin.json()).toEqual(SIGN_IN_FIRST);
        const withCookie = await fx.app.inject({
          method: 'GET',
          url: `${ADMIN}/me`,
          headers: { ...headers, cookie: session.cookie },
        });
        expect(withCookie.statusCode).toBe(200);
        expect(withCookie.json()).toMatchObject({ user: { id: ann.id } });
        const api = await fx.app.inject({ method: 'GET', url: '/v1/workflows', headers });
        expect(api.statusCode).toBe(401);
        expect(api.headers['www-authenticate']).toBe('Bearer realm="gatehouse"');
        expect(api.json()).toEqual({
          error: 'unauthenticated',
          message: 'Authentication required: send Authorization: Bearer <access token>.',
        });
      });

      it('a client JWT is refused on the admin API, even with a valid session cookie beside it', async () => {
        const owner = await user('Admin');
        const session = await signIn(owner.email);
        const { token } = await clientJwt(owner.email);
        const message = 'The admin API takes a developer access token (gh_dev_...) or a signed-in session.';
        const res = await fx.app.inject({
          method: 'GET',
          url: `${ADMIN}/users`,
          headers: { authorization: `Bearer ${token}`, cookie: session.cookie },
        });
        expect(res.statusCode).toBe(401);
        expect(res.headers['www-authenticate']).toBe(
          `Bearer realm="gatehouse", error="invalid_token", error_description="${message}"`,
        );
        expect(res.json()).toEqual({ error: 'invalid_token', message });
        // The same token works where client JWTs are accepted.
        const api = await fx.app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(api.statusCode).toBe(200);
      });

      it('a session cookie is a Workflows API credential (the admin UI), but not one of the plain bearer surface', async () => {
        const ann = await user('Privileged');
        const session = await signIn(ann.email);
        const res = await fx.app.inject({
          method: 'GET',
          url: '/v1/workflows',
          headers: { cookie: session.cookie },
        });
        expect(res.statusCode).toBe(200);
        // Writes need the CSRF token: test/http/workflows-session.test.ts.
        await expect(
          new Guard(fx.services).authenticate(
            fakeRequest({}, { gatehouse_session: session.raw }),
            BEARER_API,
          ),
        ).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
      });
    });

    describe('"admin" is a grant set', () => {
      it('a custom role holding every grant sees every workflow; a role named like Admin without them does not', async () => {
        const owner = await user('Editor');
        const hidden = await fx.services.workflows.create(
          {
            name: `Private ${dialect.name} ${++counter}`,
            definition: { steps: [{ type: 'log', message: 'x' }] },
          },
          userPrincipal((await fx.services.liveUsers.get(owner.id))!, 'session'),
          CLI_ACTOR,
        );
        const all = await fx.services.roles.create(
          { name: `Everything ${counter}`, grants: GRANTS.map((g) => g.id) },
          OPERATOR,
          CLI_ACTOR,
        );
        const named = await fx.services.roles.create(
          { name: `ADMIN ${counter}`, grants: ['workflow.api', 'access_tokens.create'] },
          OPERATOR,
          CLI_ACTOR,
        );
        const everything = await developerToken((await user(all.name)).id);
        const namedAdmin = await developerToken((await user(named.name)).id);

        const get = (token: string) =>
          fx.app.inject({
            method: 'GET',
            url: `/v1/workflows/${hidden.id}`,
            headers: { authorization: `Bearer ${token}` },
          });
        expect((await get(everything)).statusCode).toBe(200);
        const refused = await get(namedAdmin);
        expect(refused.statusCode).toBe(404);
        const listed = await fx.app.inject({
          method: 'GET',
          url: '/v1/workflows?limit=500',
          headers: { authorization: `Bearer ${namedAdmin}` },
        });
        expect((listed.json() as Array<{ id: string }>).map((w) => w.id)).not.toContain(hidden.id);
      });
    });

    describe('one cache of live user facts for every surface', () => {
      it('a grant removed from the role is honoured on the admin API and on /v1 at the next request', async () => {
        const role = await fx.services.roles.create(
          { name: `Both ${dialect.name} ${++counter}`, grants: ['users.manage', 'workflow.api'] },
          OPERATOR,
          CLI_ACTOR,
        );
        const ann = await user(role.name);
        const token = await developerToken(ann.id);
        const headers = { authorization: `Bearer ${token}` };
        const admin = () => fx.app.inject({ method: 'GET', url: `${ADMIN}/users?limit=1`, headers });
        const api = () => fx.app.inject({ method: 'GET', url: '/v1/workflows', headers });
        expect((await admin()).statusCode).toBe(200);
        expect((await api()).statusCode).toBe(200);

        // Taken away behind the services' back (no cache epoch): both surfaces still answer from the
        // one cache the admin request filled, so neither has a second copy that would see the change.
        await ts.store.db.deleteFrom('role_grants').where('role_id', '=', role.id).execute();
        expect((await admin()).statusCode).toBe(200);
        expect((await api()).statusCode).toBe(200);
        await fx.services.roles.addGrants(role.id, ['users.manage', 'workflow.api'], OPERATOR, CLI_ACTOR);

        // Through the service: both refuse on the very next request.
        await fx.services.roles.removeGrants(role.id, ['users.manage', 'workflow.api'], OPERATOR, CLI_ACTOR);
        const adminRefused = await admin();
        expect(adminRefused.statusCode).toBe(403);
        expect(adminRefused.json()).toEqual({
          error: 'forbidden',
          message: 'This action needs the grant "users.manage".',
          details: { grant: 'users.manage' },
        });
        const apiRefused = await api();
        expect(apiRefused.statusCode).toBe(403);
        expect(apiRefused.headers['www-authenticate']).toBe(
          'Bearer error="insufficient_scope", scope="workflow"',
        );
        expect(apiRefused.json()).toEqual({
          error: 'insufficient_scope',
          message: 'The token\'s user lacks the grant "workflow.api" (Workflow API).',
          details: { grant: 'workflow.api' },
        });
      });
    });

    describe('registering a resolver', () => {
      it('a new kind is resolved on the surfaces that accept it and refused on the others', async () => {
        const ann = await user('Privileged');
        const guard = new Guard(fx.services);
        const apiToken: CredentialResolver = {
          kind: 'test_api_token',
          precedence: PRECEDENCE.prefixedHeader,
          find: (request) =>
            typeof request.headers['x-test-token'] === 'string' ? request.headers['x-test-token'] : undefined,
          async resolve(credential) {
            const live = await fx.services.liveUsers.active(Number(credential));
            return live ? userPrincipal(live, 'developer_token') : undefined;
          },
        };
        guard.register(apiToken);
        expect(guard.kinds).toEqual([
          'developer_token',
          'test_api_token',
          'api_token',
          'idp_jwt',
          'client_jwt',
          'session',
        ]);
        const gateway: Surface = { ...BEARER_API, name: 'gateway', accepts: ['test_api_token'] };
        const request = fakeRequest({ 'x-test-token': String(ann.id) });
        expect((await guard.authenticate(request, gateway)).user?.id).toBe(ann.id);
        await expect(guard.authenticate(request, BEARER_API)).rejects.toMatchObject({
          status: 401,
          code: 'invalid_token',
        });
        await expect(guard.authenticate(fakeRequest({}), gateway)).rejects.toMatchObject({
          status: 401,
          code: 'unauthenticated',
        });
      });
    });
  });
}
