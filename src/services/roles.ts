/**
 * Roles and their grants. System roles are defined in `grants.ts`, synced at
 * start-up, and can only be copied; custom roles can be changed and deleted
 * (not while users still hold them).
 */
import { AppError, ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { bumpEpoch } from '../store/epochs.js';
import { isUniqueViolation, type Executor } from '../store/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { assertMayConfer, assertNotOwnRole } from './escalation.js';
import { GRANTS, type GrantId, isGrantId, SYSTEM_ROLES } from './grants.js';
import type { Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';
import { normaliseName } from './text.js';

export interface Role {
  id: number;
  name: string;
  description: string;
  system: boolean;
  grants: GrantId[];
  userCount: number;
  createdAt: string;
  updatedAt: string;
}

const GRANT_ORDER = new Map<string, number>(GRANTS.map((g, i) => [g.id, i]));
const byCatalogOrder = (a: string, b: string) => (GRANT_ORDER.get(a) ?? 999) - (GRANT_ORDER.get(b) ?? 999);

export function validateRoleName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError('Role name must not be empty.', { field: 'name' });
  }
  const name = normaliseName(value, 'name', 'Role name');
  if (name.length > 100)
    throw new ValidationError('Role name must be at most 100 characters.', { field: 'name' });
  return name;
}

function validateDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string')
    throw new ValidationError('Role description must be a string.', { field: 'description' });
  if (value.length > 1000) {
    throw new ValidationError('Role description must be at most 1000 characters.', { field: 'description' });
  }
  return value.trim();
}

export function validateGrantIds(values: unknown): GrantId[] {
  if (!Array.isArray(values))
    throw new ValidationError('"grants" must be a list of grant ids.', { field: 'grants' });
  const unknown = values.filter((v) => typeof v !== 'string' || !isGrantId(v));
  if (unknown.length > 0) {
    throw new ValidationError(`Unknown grant: ${unknown.map((v) => JSON.stringify(v)).join(', ')}.`, {
      field: 'grants',
      unknown,
    });
  }
  return [...new Set(values as GrantId[])].sort(byCatalogOrder);
}

export class RolesService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {}

  private get db() {
    return this.ctx.store.db;
  }

  /** Creates missing system roles and sets their grants to the catalog's definition. Idempotent. */
  async syncSystemRoles(): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      for (const def of SYSTEM_ROLES) {
        let row = await tx
          .selectFrom('roles')
          .select(['id', 'is_system'])
          .where('name_key', '=', def.name.toLowerCase())
          .executeTakeFirst();
        if (!row) {
          row = await tx
            .insertInto('roles')
            .values({
              name: def.name,
              name_key: def.name.toLowerCase(),
              description: def.description,
              is_system: 1,
              created_at: now,
              updated_at: now,
            })
            .returning(['id', 'is_system'])
            .executeTakeFirstOrThrow();
        }
        const current = await tx
          .selectFrom('role_grants')
          .select('grant_id')
          .where('role_id', '=', row.id)
          .execute();
        const have = new Set(current.map((g) => g.grant_id));
        const want = new Set<string>(def.grants);
        const missing = [...want].filter((g) => !have.has(g));
        const extra = [...have].filter((g) => !want.has(g));
        if (missing.length > 0) {
          await tx
            .insertInto('role_grants')
            .values(missing.map((grant_id) => ({ role_id: row.id, grant_id })))
            .execute();
        }
        if (extra.length > 0) {
          await tx
            .deleteFrom('role_grants')
            .where('role_id', '=', row.id)
            .where('grant_id', 'in', extra)
            .execute();
        }
        // Nodes still running (e.g. the old version during an upgrade) cache grants: tell them.
        if (missing.length > 0 || extra.length > 0) await bumpEpoch(this.ctx.store, tx, 'roles');
      }
    });
  }

  async list(): Promise<Role[]> {
    const roles = await this.db
      .selectFrom('roles')
      .selectAll()
      .orderBy('is_system', 'desc')
      .orderBy('id')
      .execute();
    const grants = await this.db.selectFrom('role_grants').selectAll().execute();
    const counts = await this.db
      .selectFrom('users')
      .select(['role_id', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('role_id')
      .execute();
    const countByRole = new Map(counts.map((c) => [c.role_id, Number(c.n)]));
    return roles.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      system: r.is_system === 1,
      grants: grants
        .filter((g) => g.role_id === r.id)
        .map((g) => g.grant_id as GrantId)
        .sort(byCatalogOrder),
      userCount: countByRole.get(r.id) ?? 0,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Finds a role by numeric id or by name (case-insensitive). */
  async find(ref: number | string, executor: Executor = this.db): Promise<Role | undefined> {
    const id = rowIdOf(ref);
    const asNumber = id === NO_SUCH_ROW ? undefined : id;
    const row = await executor
      .selectFrom('roles')
      .selectAll()
      .where((eb) =>
        asNumber !== undefined
          ? eb.or([eb('id', '=', asNumber), eb('name_key', '=', String(ref).toLowerCase())])
          : eb('name_key', '=', String(ref).trim().toLowerCase()),
      )
      .orderBy('id')
      .executeTakeFirst();
    if (!row) return undefined;
    const grants = await executor
      .selectFrom('role_grants')
      .select('grant_id')
      .where('role_id', '=', row.id)
      .execute();
    const count = await executor
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role_id', '=', row.id)
      .executeTakeFirstOrThrow();
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      system: row.is_system === 1,
      grants: grants.map((g) => g.grant_id as GrantId).sort(byCatalogOrder),
      userCount: Number(count.n),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  async get(ref: number | string, executor: Executor = this.db): Promise<Role> {
    const role = await this.find(ref, executor);
    if (!role) throw new NotFoundError('Role', ref);
    return role;
  }

  /** The grants a role holds now. */
  async grantsOf(roleId: number, executor: Executor = this.db): Promise<GrantId[]> {
    const rows = await executor
      .selectFrom('role_grants')
      .select('grant_id')
      .where('role_id', '=', roleId)
      .execute();
    return rows.map((r) => r.grant_id as GrantId).sort(byCatalogOrder);
  }

  /**
   * The roles whose grants include every grant of the catalog: Admin, and any custom role with
   * every grant. Their active holders are the instance's Admins.
   */
  async idsHoldingEveryGrant(executor: Executor = this.db): Promise<number[]> {
    const rows = await executor
      .selectFrom('role_grants')
      .select('role_id')
      .where(
        'grant_id',
        'in',
        GRANTS.map((g) => g.id),
      )
      .groupBy('role_id')
      .having((eb) => eb.fn.countAll(), '=', GRANTS.length)
      .execute();
    return rows.map((r) => r.role_id);
  }

  /** Creates a custom role; the principal must hold every grant it is given. */
  async create(
    input: { name: unknown; description?: unknown; grants?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Role> {
    const name = validateRoleName(input.name);
    const description = validateDescription(input.description);
    const grants = validateGrantIds(input.grants ?? []);
    assertMayConfer(principal, grants, { kind: 'create_role', role: name });
    const id = await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      const row = await this.insertRole(tx, name, description, now);
      if (grants.length > 0) {
        await tx
          .insertInto('role_grants')
          .values(grants.map((grant_id) => ({ role_id: row.id, grant_id })))
          .execute();
      }
      await this.audit.record(tx, {
        actor,
        action: 'role.created',
        target: { type: 'role', id: row.id },
        details: { name, grants },
      });
      return row.id;
    });
    return this.get(id);
  }

  /**
   * Copies any role (system roles included) into a new custom role with the same grants; the
   * principal must hold every one of them.
   */
  async copy(
    sourceRef: number | string,
    input: { name: unknown; description?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Role> {
    const name = validateRoleName(input.name);
    const id = await this.ctx.store.transaction(async (tx) => {
      const source = await this.get(sourceRef, tx);
      assertMayConfer(principal, source.grants, { kind: 'copy_role', role: source.name });
      const description =
        input.description === undefined ? source.description : validateDescription(input.description);
      const now = this.ctx.clock.now().toISOString();
      const row = await this.insertRole(tx, name, description, now);
      if (source.grants.length > 0) {
        await tx
          .insertInto('role_grants')
          .values(source.grants.map((grant_id) => ({ role_id: row.id, grant_id })))
          .execute();
      }
      await this.audit.record(tx, {
        actor,
        action: 'role.copied',
        target: { type: 'role', id: row.id },
        details: { name, from: { id: source.id, name: source.name }, grants: source.grants },
      });
      return row.id;
    });
    return this.get(id);
  }

  /** Renames (and re-describes) a custom role the principal outranks and does not hold. */
  async rename(
    ref: number | string,
    input: { name: unknown; description?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Role> {
    const name = validateRoleName(input.name);
    const id = await this.ctx.store.transaction(async (tx) => {
      const role = await this.getEditable(ref, tx, principal);
      const description =
        input.description === undefined ? role.description : validateDescription(input.description);
      try {
        await tx
          .updateTable('roles')
          .set({
            name,
            name_key: name.toLowerCase(),
            description,
            updated_at: this.ctx.clock.now().toISOString(),
          })
          .where('id', '=', role.id)
          .execute();
      } catch (error) {
        if (isUniqueViolation(error))
          throw new ConflictError(`A role named "${name}" already exists.`, { field: 'name' });
        throw error;
      }
      await this.audit.record(tx, {
        actor,
        action: 'role.renamed',
        target: { type: 'role', id: role.id },
        details: { from: role.name, to: name },
      });
      await bumpEpoch(this.ctx.store, tx, 'roles');
      return role.id;
    });
    return this.get(id);
  }

  /** Adds grants the principal holds to a custom role it outranks and does not hold. */
  async addGrants(
    ref: number | string,
    grantIds: unknown,
    principal: Principal,
    actor: Actor,
  ): Promise<Role> {
    return this.changeGrants(ref, grantIds, principal, actor, 'add');
  }

  /**
   * Removes grants from a custom role the principal outranks and does not hold; not the last
   * grant that makes the last active Admin one.
   */
  async removeGrants(
    ref: number | string,
    grantIds: unknown,
    principal: Principal,
    actor: Actor,
  ): Promise<Role> {
    return this.changeGrants(ref, grantIds, principal, actor, 'remove');
  }

  /** Adds or removes grants in one transaction; a change that changes nothing writes nothing. */
  private async changeGrants(
    ref: number | string,
    grantIds: unknown,
    principal: Principal,
    actor: Actor,
    change: 'add' | 'remove',
  ): Promise<Role> {
    const grants = validateGrantIds(grantIds);
    if (grants.length === 0)
      throw new ValidationError(`Name at least one grant to ${change}.`, { field: 'grants' });
    const id = await this.ctx.store.transaction(async (tx) => {
      const role = await this.getEditable(ref, tx, principal);
      if (change === 'add') assertMayConfer(principal, grants, { kind: 'add_grants', role: role.name });
      const changed = grants.filter((g) => role.grants.includes(g) === (change === 'remove'));
      if (change === 'remove' && changed.length > 0) await this.ensureAdminRemains(role, tx);
      if (changed.length > 0) {
        if (change === 'add') {
          await tx
            .insertInto('role_grants')
            .values(changed.map((grant_id) => ({ role_id: role.id, grant_id })))
            .execute();
        } else {
          await tx
            .deleteFrom('role_grants')
            .where('role_id', '=', role.id)
            .where('grant_id', 'in', changed)
            .execute();
        }
        await tx
          .updateTable('roles')
          .set({ updated_at: this.ctx.clock.now().toISOString() })
          .where('id', '=', role.id)
          .execute();
        await this.audit.record(tx, {
          actor,
          action: change === 'add' ? 'role.grant_added' : 'role.grant_removed',
          target: { type: 'role', id: role.id },
          details: { grants: changed },
        });
        await bumpEpoch(this.ctx.store, tx, 'roles');
      }
      return role.id;
    });
    return this.get(id);
  }

  /** Deletes a custom role the principal outranks and does not hold, once no user holds it. */
  async delete(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const role = await this.getEditable(ref, tx, principal);
      if (role.userCount > 0) {
        throw new ConflictError(
          `Role "${role.name}" is assigned to ${role.userCount} user${role.userCount === 1 ? '' : 's'}; move them to another role first.`,
          { users: role.userCount },
        );
      }
      await tx.deleteFrom('roles').where('id', '=', role.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'role.deleted',
        target: { type: 'role', id: role.id },
        details: { name: role.name },
      });
      await bumpEpoch(this.ctx.store, tx, 'roles');
    });
  }

  /**
   * The role, for a change inside `tx` by `principal`. On PostgreSQL its row is locked first and
   * then read, so changes to one role from several nodes take turns, and a user being moved into
   * the role elsewhere (whose foreign-key check holds a key-share lock until it commits) is counted.
   * System roles cannot change; nobody changes the role they hold, nor one holding a grant they lack.
   */
  private async getEditable(ref: number | string, tx: Executor, principal: Principal): Promise<Role> {
    let role = await this.get(ref, tx);
    if (this.ctx.store.dialect === 'postgres') {
      const locked = await tx
        .selectFrom('roles')
        .select('id')
        .where('id', '=', role.id)
        .forUpdate()
        .executeTakeFirst();
      if (!locked) throw new NotFoundError('Role', ref);
      role = await this.get(role.id, tx);
    }
    if (role.system) {
      throw new AppError(
        403,
        'system_role',
        `"${role.name}" is a system role and cannot be changed; copy it into a custom role instead.`,
        { details: { role: role.name } },
      );
    }
    assertNotOwnRole(principal, role);
    assertMayConfer(principal, role.grants, { kind: 'change_role', role: role.name });
    return role;
  }

  /**
   * Refuses to remove a grant from a role holding every grant when that would leave no active
   * user holding every grant (the last active Admin). The operator is bound by it too.
   */
  private async ensureAdminRemains(role: Role, tx: Executor): Promise<void> {
    const adminRoles = await this.idsHoldingEveryGrant(tx);
    if (!adminRoles.includes(role.id)) return;
    let query = tx
      .selectFrom('users')
      .select(['id', 'role_id'])
      .where('role_id', 'in', adminRoles)
      .where('status', '=', 'active')
      .orderBy('id');
    if (this.ctx.store.dialect === 'postgres') query = query.forUpdate();
    const active = await query.execute();
    if (active.length > 0 && active.every((row) => row.role_id === role.id)) {
      throw new ConflictError(
        `Every active Admin holds the role "${role.name}"; removing a grant from it would leave nobody to administer Gatehouse.`,
        { field: 'grants' },
      );
    }
  }

  private async insertRole(
    tx: Executor,
    name: string,
    description: string,
    now: string,
  ): Promise<{ id: number }> {
    try {
      return await tx
        .insertInto('roles')
        .values({
          name,
          name_key: name.toLowerCase(),
          description,
          is_system: 0,
          created_at: now,
          updated_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
    } catch (error) {
      if (isUniqueViolation(error))
        throw new ConflictError(`A role named "${name}" already exists.`, { field: 'name' });
      throw error;
    }
  }
}
