/**
 * API clients (spec 004). Holders of `api.clients.create` create clients and see
 * and revoke their own; holders of `api.clients.manage_all` see and revoke all.
 * Clients are named by the 13-character partial ID lists show (or the full ID).
 *
 *   GET   /clients                    ?limit&cursor&name&owner&status → {items, nextCursor}
 *   POST  /clients                    {name, description?, scopes, tokenTtlSeconds?}
 *                                     → 201 {client_id, client_secret, client} (the secret only here)
 *   GET   /clients/:id                one client (never the whole ID, never a secret)
 *   POST  /clients/:id/revoke         final, no undo
 *   POST  /clients/:id/rotate-secret  {graceSeconds?} owner only → {client_id, client_secret,
 *                                     previousSecretExpiresAt, client}
 *   PUT / PATCH                       405: clients cannot be edited
 *
 * The schemas (src/admin/schemas.ts) fix the shape: field names and JSON types.
 * Field values are checked by the service, so the messages are the same here,
 * in the CLI and in the admin UI.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { MethodNotAllowedError, ValidationError } from '../errors.js';
import type { IssuedClientCredentials } from '../services/clients.js';
import type { AdminRouteOptions } from './index.js';
import { actorOf, requirePrincipal } from './principal.js';
import {
  createClientSchema,
  editClientSchema,
  getClientSchema,
  listClientsSchema,
  revokeClientSchema,
  rotateSecretSchema,
} from './schemas.js';
import { needsGrant } from './session.js';

export const NO_EDIT_MESSAGE =
  'API clients cannot be edited. Create a new client with the settings you need, then revoke this one.';

/** The body of rotate-secret is optional (no body = the default grace period). */
function rotateOptions(body: unknown): { graceSeconds?: unknown } {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ValidationError('Invalid body: must be a JSON object.');
  const extra = Object.keys(body).find((key) => key !== 'graceSeconds');
  if (extra !== undefined) {
    throw new ValidationError(`Invalid body: "${extra.slice(0, 100)}" must NOT have additional properties.`, {
      in: 'body',
      field: extra.slice(0, 100),
    });
  }
  return body as { graceSeconds?: unknown };
}

const CAN_SEE = ['api.clients.create', 'api.clients.manage_all'] as const;

function credentialsBody(issued: IssuedClientCredentials) {
  return { client_id: issued.clientId, client_secret: issued.clientSecret, client: issued.client };
}

export async function clientRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/clients', { schema: listClientsSchema, onRequest: needsGrant(...CAN_SEE) }, async (request) => {
    return services.clients.list(request.query, requirePrincipal(request));
  });

  r.post(
    '/clients',
    { schema: createClientSchema, onRequest: needsGrant('api.clients.create') },
    async (request, reply) => {
      const body = request.body ?? {};
      const issued = await services.clients.create(
        {
          name: body.name,
          description: body.description,
          scopes: body.scopes,
          tokenTtlSeconds: body.tokenTtlSeconds,
        },
        actorOf(request),
      );
      return reply.code(201).send(credentialsBody(issued));
    },
  );

  r.get('/clients/:id', { schema: getClientSchema, onRequest: needsGrant(...CAN_SEE) }, async (request) => {
    return services.clients.get(request.params.id, requirePrincipal(request));
  });

  r.post(
    '/clients/:id/revoke',
    { schema: revokeClientSchema, onRequest: needsGrant(...CAN_SEE) },
    async (request) => {
      return services.clients.revoke(request.params.id, actorOf(request), requirePrincipal(request));
    },
  );

  r.post(
    '/clients/:id/rotate-secret',
    { schema: rotateSecretSchema, onRequest: needsGrant(...CAN_SEE) },
    async (request) => {
      const rotated = await services.clients.rotateSecret(
        request.params.id,
        { graceSeconds: rotateOptions(request.body).graceSeconds },
        actorOf(request),
        requirePrincipal(request),
      );
      return { ...credentialsBody(rotated), previousSecretExpiresAt: rotated.previousSecretExpiresAt };
    },
  );

  // Spec 004: "API clients can't be edited". Answered before the body is read, for any caller signed in.
  const noEdit = async (): Promise<never> => {
    throw new MethodNotAllowedError(NO_EDIT_MESSAGE, 'GET');
  };
  const noEditCollection = async (): Promise<never> => {
    throw new MethodNotAllowedError(NO_EDIT_MESSAGE, 'GET, POST');
  };
  app.route({
    method: ['PUT', 'PATCH'],
    url: '/clients/:id',
    schema: editClientSchema,
    onRequest: noEdit,
    handler: noEdit,
  });
  app.route({
    method: ['PUT', 'PATCH'],
    url: '/clients',
    schema: editClientSchema,
    onRequest: noEditCollection,
    handler: noEditCollection,
  });
}
