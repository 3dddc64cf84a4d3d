/**
 * Groups (Domo's `/v1/groups`): a named set of users, unique by name case-insensitively. Every
 * write is audited in the transaction that makes it (`group.created`, `group.updated`,
 * `group.deleted`, `group.member_added`, `group.member_removed`); adding a member who is already
 * one, or removing one who is not, changes nothing and records nothing.
 *
 * Authorization is the caller's (the route's guard: scope `user`, grant `users.manage` for writes);
 * a group confers no grant, so there is nothing here for the no-escalation rule to check.
 */
import type { Selectable } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { type Executor, isForeignKeyViolation, isUniqueViolation } from '../store/index.js';
import type { GroupsTable } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import type { Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';
import { nameKey, normaliseName } from './text.js';
import type { UsersService } from './users.js';

export interface Group {
  id: number;
  name: string;
  description: string;
  /** The user who created it; null when made by the CLI. */
  creatorId: number | null;
  memberCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface GroupInput {
  name?: unknown;
  description?: unknown;
}

export const DEFAULT_GROUP_LIMIT = 50;
export const MAX_GROUP_LIMIT = 500;
export const MAX_GROUP_OFFSET = 100_000;
export const MAX_GROUP_NAME = 200;
export const MAX_GROUP_DESCRIPTION = 2000;

type GroupRow = Selectable<GroupsTable> & { member_count: number | string | bigint };

function toGroup(row: GroupRow): Group {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    creatorId: row.created_by,
    memberCount: Number(row.member_count),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function validateName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError('Group name must not be empty.', { field: 'name' });
  const name = normaliseName(value, 'name', 'Group name');
  if (name.length > MAX_GROUP_NAME)
    throw new ValidationError(`Group name must be at most ${MAX_GROUP_NAME} characters.`, { field: 'name' });
  return name;
}

function validateDescription(value: unknown): string {
  if (value === null) return '';
  if (typeof value !== 'string')
    throw new ValidationError('Group description must be a string.', { field: 'description' });
  const text = value.normalize('NFC').trim();
  if (text.length > MAX_GROUP_DESCRIPTION)
    throw new ValidationError(`Group description must be at most ${MAX_GROUP_DESCRIPTION} characters.`, {
      field: 'description',
    });
  if (text.includes('\u0000'))
    throw new ValidationError('Group description must not contain NUL characters.', { field: 'description' });
  return text;
}

function pageBounds(query: { limit?: number; offset?: number }): { limit: number; offset: number } {
  const limit = query.limit ?? DEFAULT_GROUP_LIMIT;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_GROUP_LIMIT)
    throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_GROUP_LIMIT}.`, {
      field: 'limit',
    });
  if (!Number.isInteger(offset) || offset < 0 || offset > MAX_GROUP_OFFSET)
    throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_GROUP_OFFSET}.`, {
      field: 'offset',
    });
  return { limit, offset };
}

export class GroupsService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  private selectGroups(executor: Executor = this.ctx.store.db) {
    return executor
      .selectFrom('groups')
      .selectAll('groups')
      .select((eb) =>
        eb
          .selectFrom('group_members')
          .select(eb.fn.countAll().as('n'))
          .whereRef('group_members.group_id', '=', 'groups.id')
          .as('member_count'),
      );
  }

  private idOf(ref: number | string): number | undefined {
    const id = rowIdOf(ref);
    return id === NO_SUCH_ROW || id === undefined ? undefined : id;
  }

  async get(ref: number | string, executor: Executor = this.ctx.store.db): Promise<Group> {
    const id = this.idOf(ref);
    const row =
      id === undefined
        ? undefined
        : await this.selectGroups(executor).where('groups.id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError('Group', ref);
    return toGroup(row as GroupRow);
  }

  /** By id order, `limit` 1–500 (default 50), `offset` 0–MAX_GROUP_OFFSET. */
  async list(query: { limit?: number; offset?: number } = {}): Promise<Group[]> {
    const { limit, offset } = pageBounds(query);
    const rows = await this.selectGroups().orderBy('groups.id').limit(limit).offset(offset).execute();
    return rows.map((row) => toGroup(row as GroupRow));
  }

  async create(input: GroupInput, principal: Principal, actor: Actor): Promise<Group> {
    const name = validateName(input.name);
    const description = input.description === undefined ? '' : validateDescription(input.description);
    const id = await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      let row: { id: number };
      try {
        row = await tx
          .insertInto('groups')
          .values({
            name,
            name_key: nameKey(name),
            description,
            created_by: principal.user?.id ?? null,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
      } catch (error) {
        if (isUniqueViolation(error)) throw this.duplicate(name);
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'group.created',
        target: { type: 'group', id: row.id },
        details: { name, description },
      });
      return row.id;
    });
    return this.get(id);
  }

  async update(ref: number | string, input: GroupInput, actor: Actor): Promise<Group> {
    const changes: { name?: string; name_key?: string; description?: string } = {};
    if (input.name !== undefined) {
      changes.name = validateName(input.name);
      changes.name_key = nameKey(changes.name);
    }
    if (input.description !== undefined) changes.description = validateDescription(input.description);
    if (Object.keys(changes).length === 0)
      throw new ValidationError('Nothing to update: give name or description.');
    const id = await this.ctx.store.transaction(async (tx) => {
      const group = await this.get(ref, tx);
      try {
        await tx
          .updateTable('groups')
          .set({ ...changes, updated_at: this.ctx.clock.now().toISOString() })
          .where('id', '=', group.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error)) throw this.duplicate(changes.name ?? group.name);
        throw error;
      }
      const details: Record<string, unknown> = {};
      if (changes.name !== undefined) details.name = { from: group.name, to: changes.name };
      if (changes.description !== undefined) details.description = changes.description;
      await this.audit.record(tx, {
        actor,
        action: 'group.updated',
        target: { type: 'group', id: group.id },
        details,
      });
      return group.id;
    });
    return this.get(id);
  }

  /** Deletes a group and its memberships (never the users). */
  async delete(ref: number | string, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const group = await this.get(ref, tx);
      await tx.deleteFrom('groups').where('id', '=', group.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'group.deleted',
        target: { type: 'group', id: group.id },
        details: { name: group.name, memberCount: group.memberCount },
      });
    });
  }

  /** The member user ids, ascending (Domo answers `GET /v1/groups/{id}/users` with ids). */
  async memberIds(ref: number | string, query: { limit?: number; offset?: number } = {}): Promise<number[]> {
    const { limit, offset } = pageBounds(query);
    const group = await this.get(ref);
    const rows = await this.ctx.store.db
      .selectFrom('group_members')
      .select('user_id')
      .where('group_id', '=', group.id)
      .orderBy('user_id')
      .limit(limit)
      .offset(offset)
      .execute();
    return rows.map((row) => row.user_id);
  }

  /** Adds a user (idempotent: true when added now, false when already a member). 404 for an unknown group or user. */
  async addMember(ref: number | string, userRef: number | string, actor: Actor): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const group = await this.get(ref, tx);
      const user = await this.memberUser(userRef, tx);
      const existing = await tx
        .selectFrom('group_members')
        .select('user_id')
        .where('group_id', '=', group.id)
        .where('user_id', '=', user.id)
        .executeTakeFirst();
      if (existing) return false;
      try {
        await tx
          .insertInto('group_members')
          .values({ group_id: group.id, user_id: user.id, added_at: this.ctx.clock.now().toISOString() })
          .execute();
      } catch (error) {
        // Another node added them (unique) or deleted the group or user (foreign key) meanwhile.
        if (isUniqueViolation(error)) return false;
        if (isForeignKeyViolation(error)) throw new ConflictError('The group or user was deleted meanwhile.');
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'group.member_added',
        target: { type: 'group', id: group.id },
        details: { userId: user.id, email: user.email },
      });
      return true;
    });
  }

  /** Removes a user (true when removed, false when they were not a member). 404 for an unknown group or user. */
  async removeMember(ref: number | string, userRef: number | string, actor: Actor): Promise<boolean> {
    return this.ctx.store.transaction(async (tx) => {
      const group = await this.get(ref, tx);
      const user = await this.memberUser(userRef, tx);
      const result = await tx
        .deleteFrom('group_members')
        .where('group_id', '=', group.id)
        .where('user_id', '=', user.id)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await this.audit.record(tx, {
        actor,
        action: 'group.member_removed',
        target: { type: 'group', id: group.id },
        details: { userId: user.id, email: user.email },
      });
      return true;
    });
  }

  /** The ids of the groups a user belongs to (for PDP policies and workflow sharing). */
  async groupIdsOf(userId: number): Promise<number[]> {
    const rows = await this.ctx.store.db
      .selectFrom('group_members')
      .select('group_id')
      .where('user_id', '=', userId)
      .orderBy('group_id')
      .execute();
    return rows.map((row) => row.group_id);
  }

  /** A member is named by numeric id only (not by email, unlike the admin API). */
  private async memberUser(ref: number | string, tx: Executor) {
    const id = this.idOf(ref);
    const user = id === undefined ? undefined : await this.users.find(id, tx);
    if (!user) throw new NotFoundError('User', ref);
    return user;
  }

  private duplicate(name: string): ConflictError {
    return new ConflictError(`A group named "${name}" already exists.`, { field: 'name' });
  }
}
