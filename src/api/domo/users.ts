/**
 * Domo's Users API: `GET/POST /v1/users`, `GET/PUT/DELETE /v1/users/{id}`, over the same users
 * as the admin API (src/services/users.ts, with its no-escalation and last-Admin rules).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../errors.js';
import { actorOf, principalOf } from '../../guard/index.js';
import { PROFILE_FIELDS, type User, type UserProfile } from '../../services/users.js';
import { type DomoApiOptions, requireWrite } from './context.js';
import {
  createUserSchema,
  deleteUserSchema,
  getUserSchema,
  listUsersSchema,
  updateUserSchema,
} from './schemas.js';

/** Domo's user object: its profile fields (title, phone, …) only when set, as Domo leaves them out. */
export function toDomoUser(user: User) {
  return {
    id: user.id,
    name: user.displayName,
    email: user.email,
    role: user.role.name,
    roleId: user.role.id,
    ...user.profile,
    active: user.status === 'active',
    createdAt: user.createdAt,
    updatedAt: user.updatedAt,
  };
}

/** Domo sends the profile fields beside the others; the service takes them as one object. */
function profileOf(body: Partial<Record<(typeof PROFILE_FIELDS)[number], unknown>>): UserProfile | undefined {
  const given = PROFILE_FIELDS.filter((field) => body[field] !== undefined);
  if (given.length === 0) return undefined;
  return Object.fromEntries(given.map((field) => [field, body[field]])) as UserProfile;
}

/** `role` (a name) or `roleId`; both only when they agree is left to the service: one of them, please. */
function roleOf(body: { role?: string; roleId?: number }): string | number | undefined {
  if (body.role !== undefined && body.roleId !== undefined)
    throw new ValidationError('Give "role" or "roleId", not both.', { field: 'roleId' });
  return body.role ?? body.roleId;
}

export async function userRoutes(app: FastifyInstance, { services, guard }: DomoApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const write = requireWrite(guard);

  r.get('/v1/users', { schema: listUsersSchema }, async (request) => {
    return (await services.users.range(request.query)).map(toDomoUser);
  });

  r.post('/v1/users', { schema: createUserSchema, onRequest: write }, async (request, reply) => {
    const { email, name, ...rest } = request.body;
    const role = roleOf(rest);
    const user = await services.users.create(
      { email, displayName: name, role, profile: profileOf(rest) },
      principalOf(request),
      actorOf(request),
    );
    return reply.code(201).send(toDomoUser(user));
  });

  r.get('/v1/users/:id', { schema: getUserSchema }, async (request) => {
    return toDomoUser(await services.users.get(request.params.id));
  });

  r.put('/v1/users/:id', { schema: updateUserSchema, onRequest: write }, async (request) => {
    const { email, name, ...rest } = request.body;
    const role = roleOf(rest);
    const user = await services.users.update(
      request.params.id,
      { email, displayName: name, role, profile: profileOf(rest) },
      principalOf(request),
      actorOf(request),
    );
    return toDomoUser(user);
  });

  r.delete('/v1/users/:id', { schema: deleteUserSchema, onRequest: write }, async (request, reply) => {
    await services.users.delete(request.params.id, principalOf(request), actorOf(request));
    return reply.code(204).send();
  });
}
