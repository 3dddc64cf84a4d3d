/**
 * Users: numeric id (Domo's `userId` is a number), unique case-insensitive
 * email, display name, one role, active/disabled, scrypt password.
 */
import { hashPassword, verifyPassword } from '../crypto.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { isPlausibleEmail } from '../config.js';
import { checkPasswordPolicy } from './password-policy.js';
import { nameKey, normaliseName } from './text.js';
import { bumpEpoch } from '../store/epochs.js';
import { type Executor, isForeignKeyViolation, isUniqueViolation, likePattern } from '../store/index.js';
import type { UsersTable } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { assertMayConfer, assertNotOwnUserRole } from './escalation.js';
import type { GrantId } from './grants.js';
import { decodeCursor, type Page, pageSize, toPage } from './pagination.js';
import type { Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';
import type { RolesService } from './roles.js';
import type { Selectable } from 'kysely';

export interface User {
  id: number;
  email: string;
  displayName: string;
  role: { id: number; name: string };
  status: 'active' | 'disabled';
  mustChangePassword: boolean;
  /** Domo's profile fields that are set (Domo's Users API shows and changes them). */
  profile: UserProfile;
  createdAt: string;
  updatedAt: string;
}

/** Domo's profile fields of a user, as its Users API and the Domo SDK's `User` name them. */
export const PROFILE_FIELDS = [
  'title',
  'alternateEmail',
  'phone',
  'location',
  'timezone',
  'locale',
  'employeeNumber',
] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];
/** Text fields are strings; `employeeNumber` is kept as it came (the Domo SDK sends a number). */
export type UserProfile = { [F in Exclude<ProfileField, 'employeeNumber'>]?: string } & {
  employeeNumber?: string | number;
};
export const MAX_PROFILE_TEXT = 500;

/** A user with the grants their role holds right now. */
export interface UserWithGrants extends User {
  grants: GrantId[];
}

export interface CreateUserInput {
  email: unknown;
  displayName?: unknown;
  role?: unknown;
  password?: unknown;
  mustChangePassword?: boolean;
  /** Profile fields to set (see `validateProfile`). */
  profile?: unknown;
}

export interface UpdateUserInput {
  email?: unknown;
  displayName?: unknown;
  role?: unknown;
  /** Profile fields to change: the ones given are set, an empty string clears one, the rest stay. */
  profile?: unknown;
}

export interface ListUsersQuery {
  q?: string;
  status?: 'active' | 'disabled';
  role?: string | number;
  limit?: number;
  cursor?: string;
}

export { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from './password-policy.js';

/** Domo's `GET /v1/users` page: 50 by default, at most 500. */
export const DEFAULT_USER_LIMIT = 50;
export const MAX_USER_LIMIT = 500;
/** The deepest offset a page may start at (the database skips that many rows). */
export const MAX_USER_OFFSET = 100_000;

export function validateEmail(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError('Email must not be empty.', { field: 'email' });
  const email = normaliseName(value, 'email', 'Email');
  if (!isPlausibleEmail(email))
    throw new ValidationError(`"${email}" is not a valid email address.`, { field: 'email' });
  return email;
}

export function validateDisplayName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError('Display name must not be empty.', { field: 'displayName' });
  }
  const name = normaliseName(value, 'displayName', 'Display name');
  if (name.length > 200)
    throw new ValidationError('Display name must be at most 200 characters.', { field: 'displayName' });
  return name;
}

/**
 * Profile fields from a request: an object of known fields, each text up to MAX_PROFILE_TEXT
 * characters (employeeNumber also a whole number). An empty string stands for "not set".
 */
export function validateProfile(value: unknown): UserProfile {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new ValidationError('"profile" must be an object of profile fields.', { field: 'profile' });
  const profile: Record<string, string | number> = {};
  for (const [name, given] of Object.entries(value)) {
    if (!(PROFILE_FIELDS as readonly string[]).includes(name))
      throw new ValidationError(
        `"${name.slice(0, 60)}" is not a profile field (${PROFILE_FIELDS.join(', ')}).`,
        { field: name.slice(0, 60) },
      );
    const field = name as ProfileField;
    if (field === 'employeeNumber' && typeof given === 'number') {
      if (!Number.isSafeInteger(given))
        throw new ValidationError('"employeeNumber" must be a whole number or a string.', { field });
      profile[field] = given;
      continue;
    }
    if (typeof given !== 'string') throw new ValidationError(`"${field}" must be a string.`, { field });
    const text = given.normalize('NFC').trim();
    if (text.length > MAX_PROFILE_TEXT || text.includes('\u0000'))
      throw new ValidationError(`"${field}" must be at most ${MAX_PROFILE_TEXT} characters, without NUL.`, {
        field,
      });
    profile[field] = text;
  }
  return profile;
}

/** `changes` over `before`: a field given as an empty string is removed. */
function mergeProfile(before: UserProfile, changes: UserProfile): UserProfile {
  const merged: Record<string, string | number> = { ...before };
  for (const field of PROFILE_FIELDS) {
    const value = changes[field];
    if (value === undefined) continue;
    if (value === '') delete merged[field];
    else merged[field] = value;
  }
  return merged;
}

const storedProfile = (profile: UserProfile) =>
  JSON.stringify(Object.fromEntries(Object.entries(profile).filter(([, v]) => v !== '')));

type UserRow = Selectable<UsersTable> & { role_name: string };

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    displayName: row.display_name,
    role: { id: row.role_id, name: row.role_name },
    status: row.status,
    mustChangePassword: row.must_change_password === 1,
    profile: JSON.parse(row.profile) as UserProfile,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class UsersService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly roles: RolesService,
    private readonly audit: AuditService,
  ) {}

  private selectUsers(executor: Executor = this.ctx.store.db) {
    return executor
      .selectFrom('users')
      .innerJoin('roles', 'roles.id', 'users.role_id')
      .selectAll('users')
      .select('roles.name as role_name');
  }

  async find(ref: number | string, executor: Executor = this.ctx.store.db): Promise<User | undefined> {
    const query = this.selectUsers(executor);
    const id = rowIdOf(ref);
    if (id === NO_SUCH_ROW) return undefined;
    const row =
      id !== undefined
        ? await query.where('users.id', '=', id).executeTakeFirst()
        : await query.where('users.email_key', '=', nameKey(String(ref))).executeTakeFirst();
    return row ? toUser(row) : undefined;
  }

  /** By numeric id or email. */
  async get(ref: number | string, executor: Executor = this.ctx.store.db): Promise<User> {
    const user = await this.find(ref, executor);
    if (!user) throw new NotFoundError('User', ref);
    return user;
  }

  async getWithGrants(ref: number | string): Promise<UserWithGrants> {
    const user = await this.get(ref);
    return { ...user, grants: await this.roles.grantsOf(user.role.id) };
  }

  async list(query: ListUsersQuery = {}): Promise<Page<User>> {
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, (v): v is number => Number.isInteger(v));
    let q = this.selectUsers();
    if (query.q) {
      const pattern = likePattern(query.q.toLowerCase());
      q = q.where((eb) =>
        eb.or([
          eb(eb.fn('lower', ['users.email']), 'like', eb.val(pattern)),
          eb(eb.fn('lower', ['users.display_name']), 'like', eb.val(pattern)),
        ]),
      );
    }
    if (query.status) q = q.where('users.status', '=', query.status);
    if (query.role !== undefined) {
      const role = await this.roles.get(query.role);
      q = q.where('users.role_id', '=', role.id);
    }
    if (after !== undefined) q = q.where('users.id', '>', after);
    const rows = await q
      .orderBy('users.id')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, toUser, (row) => row.id);
  }

  /**
   * One page by offset, in id order (Domo's `GET /v1/users?limit&offset`): `limit` 1–MAX_USER_LIMIT,
   * `offset` 0–MAX_USER_OFFSET, so a page never makes the database skip more than that many rows.
   */
  async range(query: { limit?: number; offset?: number } = {}): Promise<User[]> {
    const limit = query.limit ?? DEFAULT_USER_LIMIT;
    const offset = query.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_USER_LIMIT) {
      throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_USER_LIMIT}.`, {
        field: 'limit',
      });
    }
    if (!Number.isInteger(offset) || offset < 0 || offset > MAX_USER_OFFSET) {
      throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_USER_OFFSET}.`, {
        field: 'offset',
      });
    }
    const rows = await this.selectUsers().orderBy('users.id').limit(limit).offset(offset).execute();
    return rows.map(toUser);
  }

  /** Creates a user; the principal must hold every grant of the role given (default Participant). */
  async create(input: CreateUserInput, principal: Principal, actor: Actor): Promise<User> {
    const email = validateEmail(input.email);
    const displayName =
      input.displayName === undefined || input.displayName === null
        ? email.split('@')[0]!
        : validateDisplayName(input.displayName);
    const password =
      input.password === undefined || input.password === null
        ? undefined
        : await checkPasswordPolicy(input.password, { email });
    const passwordHash = password === undefined ? null : await hashPassword(password);
    const profile = validateProfile(input.profile);
    const id = await this.ctx.store.transaction(async (tx) => {
      const role = await this.resolveRole(input.role ?? 'Participant', tx);
      assertMayConfer(principal, role.grants, { kind: 'assign_role', role: role.name });
      const now = this.ctx.clock.now().toISOString();
      let row: { id: number };
      try {
        row = await tx
          .insertInto('users')
          .values({
            email,
            email_key: nameKey(email),
            display_name: displayName,
            role_id: role.id,
            status: 'active',
            password_hash: passwordHash,
            must_change_password: input.mustChangePassword ? 1 : 0,
            profile: storedProfile(profile),
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ConflictError(`A user with email "${email}" already exists.`, { field: 'email' });
        // The role was deleted by another node between our lookup and the insert.
        if (isForeignKeyViolation(error))
          throw new ValidationError(`Unknown role "${String(input.role)}".`, { field: 'role' });
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'user.created',
        target: { type: 'user', id: row.id },
        details: {
          email,
          displayName,
          role: role.name,
          ...(Object.keys(profile).length > 0 ? { profileFields: Object.keys(profile) } : {}),
        },
      });
      return row.id;
    });
    return this.get(id);
  }

  /**
   * Changes a user's email, display name or role. The principal must outrank the user (hold every
   * grant of their current role) and hold every grant of a new role; nobody changes their own role.
   */
  async update(
    ref: number | string,
    input: UpdateUserInput,
    principal: Principal,
    actor: Actor,
  ): Promise<User> {
    const changes: {
      email?: string;
      email_key?: string;
      display_name?: string;
      role_id?: number;
      profile?: string;
    } = {};
    const details: Record<string, unknown> = {};
    if (input.email !== undefined) {
      const email = validateEmail(input.email);
      changes.email = email;
      changes.email_key = nameKey(email);
      details.email = email;
    }
    if (input.displayName !== undefined) {
      changes.display_name = validateDisplayName(input.displayName);
      details.displayName = changes.display_name;
    }
    const profile = input.profile === undefined ? undefined : validateProfile(input.profile);
    const id = await this.ctx.store.transaction(async (tx) => {
      const user = await this.get(ref, tx);
      await this.ensureMayChange(principal, user, tx);
      if (profile !== undefined && Object.keys(profile).length > 0) {
        changes.profile = storedProfile(mergeProfile(user.profile, profile));
        // Which fields changed, not their values (phone numbers and the like stay out of the log).
        details.profileFields = Object.keys(profile);
      }
      if (input.role !== undefined) {
        const role = await this.resolveRole(input.role, tx);
        if (role.id !== user.role.id) {
          assertNotOwnUserRole(principal, user, role.id);
          assertMayConfer(principal, role.grants, { kind: 'assign_role', role: role.name });
          if (user.status === 'active') await this.ensureAdminRemains(user, tx, 'move', role.id);
        }
        changes.role_id = role.id;
        details.role = { from: user.role.name, to: role.name };
      }
      if (Object.keys(changes).length === 0)
        throw new ValidationError('Nothing to update: give email, displayName or role.');
      try {
        await tx
          .updateTable('users')
          .set({ ...changes, updated_at: this.ctx.clock.now().toISOString() })
          .where('id', '=', user.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new ConflictError(`A user with email "${changes.email}" already exists.`, { field: 'email' });
        }
        // The role was deleted by another node between our lookup and the update.
        if (isForeignKeyViolation(error))
          throw new ValidationError(`Unknown role "${String(input.role)}".`, { field: 'role' });
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'user.updated',
        target: { type: 'user', id: user.id },
        details,
      });
      await bumpEpoch(this.ctx.store, tx, 'users');
      return user.id;
    });
    return this.get(id);
  }

  /** Disables (ending their sessions) or enables a user the principal outranks; not oneself, not the last active Admin. */
  async setStatus(
    ref: number | string,
    status: 'active' | 'disabled',
    principal: Principal,
    actor: Actor,
  ): Promise<User> {
    const id = await this.ctx.store.transaction(async (tx) => {
      const user = await this.get(ref, tx);
      if (status === 'disabled' && principal.user?.id === user.id) {
        throw new ConflictError('You cannot disable your own account.');
      }
      await this.ensureMayChange(principal, user, tx);
      if (status === 'disabled' && user.status === 'active')
        await this.ensureAdminRemains(user, tx, 'disable');
      if (user.status !== status) {
        await tx
          .updateTable('users')
          .set({ status, updated_at: this.ctx.clock.now().toISOString() })
          .where('id', '=', user.id)
          .execute();
        if (status === 'disabled') await tx.deleteFrom('sessions').where('user_id', '=', user.id).execute();
        await bumpEpoch(this.ctx.store, tx, 'users');
        await this.audit.record(tx, {
          actor,
          action: status === 'disabled' ? 'user.disabled' : 'user.enabled',
          target: { type: 'user', id: user.id },
          details: { email: user.email },
        });
      }
      return user.id;
    });
    return this.get(id);
  }

  disable(ref: number | string, principal: Principal, actor: Actor): Promise<User> {
    return this.setStatus(ref, 'disabled', principal, actor);
  }

  enable(ref: number | string, principal: Principal, actor: Actor): Promise<User> {
    return this.setStatus(ref, 'active', principal, actor);
  }

  /**
   * Deletes a user for good (Domo's `DELETE /v1/users/{id}`): their sessions, developer tokens and
   * group memberships go with them; the audit log keeps their id and email as text. Refused with
   * 409 while they own API clients or workflows (revoked and deleted ones included: those rows
   * keep their owner for the record): disable them instead, or remove what they own first. Not
   * oneself, not someone who outranks the principal (403), not the last active Admin (409).
   */
  async delete(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const user = await this.get(ref, tx);
      if (principal.user?.id === user.id) throw new ConflictError('You cannot delete your own account.');
      await this.ensureMayChange(principal, user, tx);
      if (user.status === 'active') await this.ensureAdminRemains(user, tx, 'delete');
      const owned = await this.ownedBy(user.id, tx);
      if (owned.clients > 0 || owned.workflows > 0) {
        throw new ConflictError(
          `"${user.email}" owns ${owned.clients} API client(s) and ${owned.workflows} workflow(s); ` +
            'disable the user instead, or delete what they own first.',
          { clients: owned.clients, workflows: owned.workflows },
        );
      }
      try {
        await tx.deleteFrom('users').where('id', '=', user.id).execute();
      } catch (error) {
        // Another node gave them a client or workflow between the count and the delete.
        if (isForeignKeyViolation(error))
          throw new ConflictError(`"${user.email}" owns API clients or workflows; disable the user instead.`);
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'user.deleted',
        target: { type: 'user', id: user.id },
        details: { email: user.email, displayName: user.displayName, role: user.role.name },
      });
      await bumpEpoch(this.ctx.store, tx, 'users');
    });
  }

  private async ownedBy(userId: number, tx: Executor): Promise<{ clients: number; workflows: number }> {
    const clients = await tx
      .selectFrom('api_clients')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('owner_user_id', '=', userId)
      .executeTakeFirstOrThrow();
    const workflows = await tx
      .selectFrom('workflows')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('owner_id', '=', userId)
      .executeTakeFirstOrThrow();
    return { clients: Number(clients.n), workflows: Number(workflows.n) };
  }

  /**
   * Sets a password; `mustChange` marks it as one to replace at next sign-in. For the user's own
   * change (sessions.changeOwnPassword) and the operator; an admin's reset goes through `resetPassword`.
   */
  async setPassword(
    ref: number | string,
    password: unknown,
    options: { mustChange: boolean; keepSessionId?: string },
    actor: Actor,
  ): Promise<void> {
    const hash = await hashPassword(
      await checkPasswordPolicy(password, { email: (await this.get(ref)).email }),
    );
    await this.ctx.store.transaction(async (tx) => {
      await this.writePassword(tx, await this.get(ref, tx), hash, options, actor);
    });
  }

  /**
   * Another user's reset of a password, to be changed at the next sign-in. The principal must
   * outrank the user: whoever knows the new password can act as them.
   */
  async resetPassword(
    ref: number | string,
    password: unknown,
    principal: Principal,
    actor: Actor,
  ): Promise<void> {
    const hash = await hashPassword(
      await checkPasswordPolicy(password, { email: (await this.get(ref)).email }),
    );
    await this.ctx.store.transaction(async (tx) => {
      const user = await this.get(ref, tx);
      await this.ensureMayChange(principal, user, tx);
      await this.writePassword(tx, user, hash, { mustChange: true }, actor);
    });
  }

  private async writePassword(
    tx: Executor,
    user: User,
    hash: string,
    options: { mustChange: boolean; keepSessionId?: string },
    actor: Actor,
  ): Promise<void> {
    await tx
      .updateTable('users')
      .set({
        password_hash: hash,
        must_change_password: options.mustChange ? 1 : 0,
        updated_at: this.ctx.clock.now().toISOString(),
      })
      .where('id', '=', user.id)
      .execute();
    // A new password ends every other session of the account (a stolen cookie dies with the old password).
    let sessions = tx.deleteFrom('sessions').where('user_id', '=', user.id);
    if (options.keepSessionId !== undefined) sessions = sessions.where('id', '!=', options.keepSessionId);
    await sessions.execute();
    await this.audit.record(tx, {
      actor,
      action: 'user.password_changed',
      target: { type: 'user', id: user.id },
      details: { mustChange: options.mustChange },
    });
    // `mustChangePassword` is part of the user's live facts (services/live-users.ts).
    await bumpEpoch(this.ctx.store, tx, 'users');
  }

  /**
   * Checks an email and password. Returns the user only if the account exists, is
   * active and the password matches; the time taken does not reveal which failed.
   */
  async checkPassword(email: string, password: string): Promise<User | undefined> {
    const row = await this.selectUsers().where('users.email_key', '=', nameKey(email)).executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? null);
    if (!row || !ok || row.status !== 'active') return undefined;
    return toUser(row);
  }

  /** Number of users; used to decide whether a bootstrap admin is needed. */
  async count(): Promise<number> {
    const row = await this.ctx.store.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** 403 unless the principal outranks `user` (holds every grant of their role) or is that user. */
  private async ensureMayChange(principal: Principal, user: User, tx: Executor): Promise<void> {
    if (principal.user?.id === user.id) return;
    const grants = await this.roles.grantsOf(user.role.id, tx);
    assertMayConfer(principal, grants, { kind: 'change_user', user: user.email, role: user.role.name });
  }

  /**
   * Refuses to disable, or move to a role without every grant, the last active Admin (a user
   * whose role holds every grant: the system role Admin or a custom copy of it), so the instance
   * never loses its last administrator. On PostgreSQL the Admins' rows are locked, so two such
   * changes racing each other cannot both pass.
   */
  private async ensureAdminRemains(
    user: User,
    tx: Executor,
    change: 'disable' | 'move' | 'delete',
    newRoleId?: number,
  ): Promise<void> {
    const adminRoles = await this.roles.idsHoldingEveryGrant(tx);
    if (!adminRoles.includes(user.role.id)) return;
    if (newRoleId !== undefined && adminRoles.includes(newRoleId)) return;
    let query = tx
      .selectFrom('users')
      .select('id')
      .where('role_id', 'in', adminRoles)
      .where('status', '=', 'active')
      .orderBy('id');
    if (this.ctx.store.dialect === 'postgres') query = query.forUpdate();
    const active = await query.execute();
    if (active.every((row) => row.id === user.id)) {
      const verb = change === 'disable' ? 'disabling' : change === 'delete' ? 'deleting' : 'moving';
      throw new ConflictError(
        `"${user.email}" is the last active Admin; ${verb} them would leave nobody to administer Gatehouse.`,
        { field: change === 'move' ? 'role' : 'status' },
      );
    }
  }

  private async resolveRole(ref: unknown, tx: Executor) {
    if (typeof ref !== 'string' && typeof ref !== 'number') {
      throw new ValidationError('Role must be a role name or id.', { field: 'role' });
    }
    const role = await this.roles.find(ref, tx);
    if (!role) throw new ValidationError(`Unknown role "${ref}".`, { field: 'role' });
    return role;
  }
}
