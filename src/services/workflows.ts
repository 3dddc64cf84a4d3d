/**
 * Workflows: versioned definitions, sharing, runs (instances) and their logs.
 * Visibility: a workflow is visible to its owner, to the users it is shared
 * with, to the members (at the time of the request) of the groups it is shared with, and to
 * admins (a principal holding every grant: `isAdmin`, never a role name); for anyone else it does
 * not exist (404, same body as a missing one). The engine (src/workflows/engine.ts) runs the instances.
 */
import crypto from 'node:crypto';
import type { Selectable } from 'kysely';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { countWorkflowRunFinished } from '../metrics.js';
import type { Executor } from '../store/index.js';
import { likePattern } from '../store/index.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';
import { PreparedQuery } from '../store/prepared.js';
import type {
  WorkflowInstancesTable,
  WorkflowInstanceStatus,
  WorkflowsTable,
} from '../store/schema/index.js';
import { validateDefinition, validateInput, type WorkflowDefinition } from '../workflows/definition.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { isAdmin, OPERATOR, type Principal } from './principal.js';

export interface Workflow {
  id: string;
  name: string;
  description: string;
  version: number;
  ownerId: number;
  sharedWith: number[];
  /** Groups whose members see the workflow (membership is read at each request). */
  sharedWithGroups: number[];
  definition: WorkflowDefinition;
  createdBy: number | null;
  createdOn: string;
  updatedBy: number | null;
  updatedOn: string;
}

/** Domo's instance shape (`/api/workflow/v1/instances/{id}`), exactly these fields. */
export interface DomoInstance {
  id: string;
  modelId: string;
  modelName: string;
  modelVersion: string;
  createdBy: number | null;
  createdOn: string;
  updatedBy: number | null;
  updatedOn: string;
  status: WorkflowInstanceStatus;
}

/** The Domo shape plus the run's data, for `/v1/workflows/instances/{id}`. */
export interface WorkflowInstance extends DomoInstance {
  version: number;
  input: unknown;
  variables: Record<string, unknown>;
  outputs: Record<string, unknown>;
  error: string | null;
  stepsCompleted: number;
  startedOn: string | null;
  endedOn: string | null;
}

export interface InstanceLog {
  seq: number;
  stepId: string;
  type: string;
  status: 'ok' | 'error' | 'canceled';
  startedOn: string;
  endedOn: string;
  durationMs: number;
  output: unknown;
  message: string | null;
  error: string | null;
}

/** A run list page: `cursor` (from the previous page's `nextCursor`) or, for compatibility, `offset`. */
export interface InstancePageQuery extends OffsetQuery {
  cursor?: string;
}

export interface OffsetQuery {
  limit?: number;
  offset?: number;
}

/** What the engine offers the service: a nudge after queueing, and aborting a local in-flight step. */
export interface EngineHooks {
  poke(): void;
  cancelLocal(instanceId: string): void;
}

const TERMINAL: ReadonlySet<WorkflowInstanceStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELED']);
const MAX_LIMIT = 500;
/** Offsets, ids and version numbers stay within a 32-bit signed integer (every column and bind on both dialects). */
export const MAX_OFFSET = 2_147_483_647;
/**
 * Largest `offset` a run list accepts: skipping rows costs as many as it skips (5 ms at 1k,
 * 85 ms at 99.9k), so deeper pages go by `cursor`, which costs the same at any depth.
 */
export const MAX_INSTANCE_OFFSET = 10_000;
const MAX_INT = 2_147_483_647;
const MAX_SHARES = 1000;

const isId = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_INT;

function offsetPage(query: OffsetQuery, fallback = 50): { limit: number; offset: number } {
  const limit = query.limit ?? fallback;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_LIMIT}.`, { field: 'limit' });
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > MAX_OFFSET) {
    throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_OFFSET}.`, {
      field: 'offset',
    });
  }
  return { limit, offset };
}

function validateName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new ValidationError('"name" must not be empty.', { field: 'name' });
  const name = value.trim();
  if (name.length > 200)
    throw new ValidationError('"name" must be at most 200 characters.', { field: 'name' });
  return name;
}

function validateDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string')
    throw new ValidationError('"description" must be a string.', { field: 'description' });
  if (value.length > 2000)
    throw new ValidationError('"description" must be at most 2000 characters.', { field: 'description' });
  return value.trim();
}

/** Domo sends versions as "1.0.0"; we number them 1, 2, … and accept either form. */
export function parseVersion(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value).trim();
  const match = /^(\d+)(?:\.0(?:\.0)?)?$/.exec(text);
  if (!match || Number(match[1]) < 1 || Number(match[1]) > MAX_INT) {
    throw new ValidationError(
      `"version" must be a version number such as 1 or "1.0.0", got ${JSON.stringify(value)}.`,
      {
        field: 'version',
      },
    );
  }
  return Number(match[1]);
}

export const domoVersion = (version: number): string => `${version}.0.0`;

type InstanceRow = Selectable<WorkflowInstancesTable> & { workflow_name: string };

export function toDomoInstance(row: InstanceRow): DomoInstance {
  return {
    id: row.id,
    modelId: row.workflow_id,
    modelName: row.workflow_name,
    modelVersion: domoVersion(row.version),
    createdBy: row.created_by,
    createdOn: row.created_at,
    updatedBy: row.updated_by,
    updatedOn: row.updated_at,
    status: row.status,
  };
}

function toInstance(row: InstanceRow): WorkflowInstance {
  return {
    ...toDomoInstance(row),
    version: row.version,
    input: JSON.parse(row.input) as unknown,
    variables: JSON.parse(row.variables) as Record<string, unknown>,
    outputs: JSON.parse(row.outputs) as Record<string, unknown>,
    error: row.error,
    stepsCompleted: row.step_count,
    startedOn: row.started_at,
    endedOn: row.ended_at,
  };
}

function userIdOf(actor: Actor): number | null {
  return actor.type === 'user' || actor.type === 'client' ? actor.userId : null;
}

/** The user whose own and shared workflows `principal` sees; null when it sees every one (an admin, the operator). */
function restrictedTo(principal: Principal): number | null {
  return isAdmin(principal) ? null : (principal.user?.id ?? -1);
}

export class WorkflowsService {
  private engine: EngineHooks | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {}

  private get db() {
    return this.ctx.store.db;
  }

  /** The engine of this process registers itself, so starts and cancels reach it at once. */
  attachEngine(engine: EngineHooks | undefined): void {
    this.engine = engine;
  }

  /** Workflows the principal may see (not deleted): admins (and the operator) see every one. */
  private visible(principal: Principal, executor: Executor = this.db) {
    return this.visibleTo(restrictedTo(principal), executor);
  }

  /** Workflows owned by or shared with `userId`, directly or through a group it is in now (not deleted); every one for null. */
  private visibleTo(userId: number | null, executor: Executor = this.db) {
    let query = executor.selectFrom('workflows').where('workflows.deleted_at', 'is', null);
    if (userId !== null) {
      // `id in (…)` rather than a correlated `exists`, so every side of the OR uses an index
      // (owner, shares by user, memberships by user then shares by group): the cost follows the
      // user's workflows, not all of them. Group membership is read here, at each request.
      query = query.where((eb) =>
        eb.or([
          eb('workflows.owner_id', '=', userId),
          eb(
            'workflows.id',
            'in',
            eb
              .selectFrom('workflow_shares')
              .select('workflow_shares.workflow_id')
              .where('workflow_shares.user_id', '=', userId),
          ),
          eb(
            'workflows.id',
            'in',
            eb
              .selectFrom('workflow_group_shares')
              .innerJoin('group_members', 'group_members.group_id', 'workflow_group_shares.group_id')
              .select('workflow_group_shares.workflow_id')
              .where('group_members.user_id', '=', userId),
          ),
        ]),
      );
    }
    return query;
  }

  private async findRow(
    id: string,
    principal: Principal,
    executor: Executor = this.db,
  ): Promise<Selectable<WorkflowsTable>> {
    const row = await this.visible(principal, executor)
      .selectAll('workflows')
      .where('workflows.id', '=', id)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('Workflow', id);
    return row;
  }

  private async toWorkflow(row: Selectable<WorkflowsTable>, executor: Executor = this.db): Promise<Workflow> {
    const version = await executor
      .selectFrom('workflow_versions')
      .select('definition')
      .where('workflow_id', '=', row.id)
      .where('version', '=', row.current_version)
      .executeTakeFirstOrThrow();
    const shares = await executor
      .selectFrom('workflow_shares')
      .select('user_id')
      .where('workflow_id', '=', row.id)
      .orderBy('user_id')
      .execute();
    const groupShares = await executor
      .selectFrom('workflow_group_shares')
      .select('group_id')
      .where('workflow_id', '=', row.id)
      .orderBy('group_id')
      .execute();
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      version: row.current_version,
      ownerId: row.owner_id,
      sharedWith: shares.map((s) => s.user_id),
      sharedWithGroups: groupShares.map((g) => g.group_id),
      definition: JSON.parse(version.definition) as WorkflowDefinition,
      createdBy: row.created_by,
      createdOn: row.created_at,
      updatedBy: row.updated_by,
      updatedOn: row.updated_at,
    };
  }

  /** GET /v1/workflows without a name filter, a user's own and shared workflows: compiled once (hot path). */
  private readonly listVisibleToUser = new PreparedQuery(
    3,
    (db: Executor, userId: number, limit: number, offset: number) =>
      this.visibleTo(userId, db)
        .selectAll('workflows')
        .orderBy('workflows.name_key')
        .orderBy('workflows.id')
        .limit(limit)
        .offset(offset),
  );

  async list(principal: Principal, query: OffsetQuery & { nameLike?: string } = {}): Promise<Workflow[]> {
    const { limit, offset } = offsetPage(query);
    let rows: Array<Selectable<WorkflowsTable>>;
    const userId = restrictedTo(principal);
    if (!query.nameLike && userId !== null) {
      rows = await this.listVisibleToUser.execute(this.db, userId, limit, offset);
    } else {
      let q = this.visible(principal).selectAll('workflows');
      if (query.nameLike)
        q = q.where('workflows.name_key', 'like', likePattern(query.nameLike.toLowerCase()));
      rows = await q
        .orderBy('workflows.name_key')
        .orderBy('workflows.id')
        .limit(limit)
        .offset(offset)
        .execute();
    }
    return Promise.all(rows.map((row) => this.toWorkflow(row)));
  }

  async get(id: string, principal: Principal): Promise<Workflow> {
    return this.toWorkflow(await this.findRow(id, principal));
  }

  /** A workflow by id, or by exact name (case-insensitive) when no id matches; for the CLI. */
  async resolve(ref: string, principal: Principal): Promise<Workflow> {
    const byId = await this.visible(principal)
      .selectAll('workflows')
      .where('workflows.id', '=', ref)
      .executeTakeFirst();
    const row =
      byId ??
      (await this.visible(principal)
        .selectAll('workflows')
        .where('workflows.name_key', '=', ref.trim().toLowerCase())
        .executeTakeFirst());
    if (!row) throw new NotFoundError('Workflow', ref);
    return this.toWorkflow(row);
  }

  private async assertNameFree(tx: Executor, name: string, exceptId?: string): Promise<void> {
    let q = tx
      .selectFrom('workflows')
      .select('id')
      .where('name_key', '=', name.toLowerCase())
      .where('deleted_at', 'is', null);
    if (exceptId) q = q.where('id', '!=', exceptId);
    if (await q.executeTakeFirst())
      throw new ConflictError(`A workflow named "${name}" already exists.`, { field: 'name' });
  }

  async create(
    input: { name: unknown; description?: unknown; definition: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Workflow> {
    const ownerId = principal.user?.id;
    if (ownerId === undefined)
      throw new ValidationError('A workflow is owned by a user; the operator cannot own one.');
    const name = validateName(input.name);
    const description = validateDescription(input.description);
    const definition = validateDefinition(input.definition);
    const id = crypto.randomUUID();
    await this.ctx.store.transaction(async (tx) => {
      await this.assertNameFree(tx, name);
      const now = this.ctx.clock.now().toISOString();
      const by = userIdOf(actor);
      await tx
        .insertInto('workflows')
        .values({
          id,
          name,
          name_key: name.toLowerCase(),
          description,
          owner_id: ownerId,
          current_version: 1,
          deleted_at: null,
          created_by: by,
          created_at: now,
          updated_by: by,
          updated_at: now,
        })
        .execute();
      await tx
        .insertInto('workflow_versions')
        .values({
          workflow_id: id,
          version: 1,
          definition: JSON.stringify(definition),
          created_by: by,
          created_at: now,
        })
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'workflow.created',
        target: { type: 'workflow', id },
        details: { name, version: 1 },
      });
    });
    return this.get(id, OPERATOR);
  }

  /** Changes name/description; a new definition stores a new version (running instances keep theirs). */
  async update(
    id: string,
    input: { name?: unknown; description?: unknown; definition?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Workflow> {
    const name = input.name === undefined ? undefined : validateName(input.name);
    const description = input.description === undefined ? undefined : validateDescription(input.description);
    const definition = input.definition === undefined ? undefined : validateDefinition(input.definition);
    if (name === undefined && description === undefined && definition === undefined) {
      throw new ValidationError('Nothing to update: give name, description or definition.');
    }
    await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      const by = userIdOf(actor);
      // Write first (bumps the version) so concurrent updates serialise on the row.
      const bumped = await tx
        .updateTable('workflows')
        .set((eb) => ({
          current_version: definition ? eb('current_version', '+', 1) : eb.ref('current_version'),
          updated_at: now,
          updated_by: by,
        }))
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (Number(bumped.numUpdatedRows) !== 1) throw new NotFoundError('Workflow', id);
      const row = await this.findRow(id, principal, tx);
      if (name !== undefined) {
        await this.assertNameFree(tx, name, id);
        await tx
          .updateTable('workflows')
          .set({ name, name_key: name.toLowerCase() })
          .where('id', '=', id)
          .execute();
      }
      if (description !== undefined)
        await tx.updateTable('workflows').set({ description }).where('id', '=', id).execute();
      if (definition) {
        await tx
          .insertInto('workflow_versions')
          .values({
            workflow_id: id,
            version: row.current_version,
            definition: JSON.stringify(definition),
            created_by: by,
            created_at: now,
          })
          .execute();
      }
      await this.audit.record(tx, {
        actor,
        action: 'workflow.updated',
        target: { type: 'workflow', id },
        details: {
          ...(name !== undefined ? { name } : {}),
          ...(definition ? { version: row.current_version } : {}),
        },
      });
    });
    return this.get(id, OPERATOR);
  }

  private assertOwnerOrAdmin(row: Selectable<WorkflowsTable>, principal: Principal, what: string): void {
    if (isAdmin(principal) || principal.user?.id === row.owner_id) return;
    throw new ForbiddenError(`Only the workflow's owner or an Admin may ${what}.`, { workflow: row.id });
  }

  async delete(id: string, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(id, principal, tx);
      this.assertOwnerOrAdmin(row, principal, 'delete it');
      const now = this.ctx.clock.now().toISOString();
      await tx
        .updateTable('workflows')
        .set({ deleted_at: now, updated_at: now, updated_by: userIdOf(actor) })
        .where('id', '=', id)
        .execute();
      // Queued runs of a deleted workflow will not start.
      await tx
        .updateTable('workflow_instances')
        .set({ cancel_requested: 1, updated_at: now })
        .where('workflow_id', '=', id)
        .where('status', 'in', ['QUEUED', 'IN_PROGRESS'])
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'workflow.deleted',
        target: { type: 'workflow', id },
        details: { name: row.name },
      });
    });
  }

  /**
   * Replaces the users and/or the groups the workflow is shared with: `userIds` replaces the
   * users, `groupIds` the groups; a list not given stays as it is (so a client that only knows
   * `userIds` keeps the group shares).
   */
  async setSharing(
    id: string,
    sharing: { userIds?: unknown; groupIds?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Workflow> {
    const { userIds, groupIds } = sharing;
    if (userIds === undefined && groupIds === undefined) {
      throw new ValidationError('Give "userIds", "groupIds" or both.', { field: 'userIds' });
    }
    for (const [field, list, what] of [
      ['userIds', userIds, 'user'],
      ['groupIds', groupIds, 'group'],
    ] as const) {
      if (
        list !== undefined &&
        (!Array.isArray(list) || list.length > MAX_SHARES || list.some((u) => !isId(u)))
      ) {
        throw new ValidationError(`"${field}" must be a list of at most ${MAX_SHARES} ${what} ids.`, {
          field,
        });
      }
    }
    const users = userIds === undefined ? undefined : [...new Set(userIds as number[])];
    const groups =
      groupIds === undefined ? undefined : [...new Set(groupIds as number[])].sort((a, b) => a - b);
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(id, principal, tx);
      this.assertOwnerOrAdmin(row, principal, 'change its sharing');
      const details: { userIds?: number[]; groupIds?: number[] } = {};
      if (users !== undefined) {
        if (users.length > 0) {
          const found = await tx.selectFrom('users').select('id').where('id', 'in', users).execute();
          // Which ids are unknown is not said: the answer must not tell who has an account.
          if (found.length !== users.length) {
            throw new ValidationError('One or more of the user ids do not name a Gatehouse user.', {
              field: 'userIds',
            });
          }
        }
        await tx.deleteFrom('workflow_shares').where('workflow_id', '=', id).execute();
        const shared = users.filter((u) => u !== row.owner_id);
        if (shared.length > 0) {
          await tx
            .insertInto('workflow_shares')
            .values(shared.map((user_id) => ({ workflow_id: id, user_id })))
            .execute();
        }
        details.userIds = shared;
      }
      if (groups !== undefined) {
        if (groups.length > 0) {
          const found = new Set(
            (await tx.selectFrom('groups').select('id').where('id', 'in', groups).execute()).map((g) => g.id),
          );
          // Groups are listed to every `user`-scoped caller (GET /v1/groups): naming the unknown ones tells nothing new.
          const unknown = groups.filter((g) => !found.has(g));
          if (unknown.length > 0) {
            throw new ValidationError(`Unknown group ids: ${unknown.join(', ')}.`, {
              field: 'groupIds',
              unknown,
            });
          }
        }
        await tx.deleteFrom('workflow_group_shares').where('workflow_id', '=', id).execute();
        if (groups.length > 0) {
          await tx
            .insertInto('workflow_group_shares')
            .values(groups.map((group_id) => ({ workflow_id: id, group_id })))
            .execute();
        }
        details.groupIds = groups;
      }
      await tx
        .updateTable('workflows')
        .set({ updated_at: this.ctx.clock.now().toISOString(), updated_by: userIdOf(actor) })
        .where('id', '=', id)
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'workflow.shared',
        target: { type: 'workflow', id },
        details,
      });
    });
    return this.get(id, OPERATOR);
  }

  /** Queues a run of the current version (or `version`); the engine picks it up. */
  async start(
    id: string,
    input: { input?: unknown; version?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<WorkflowInstance> {
    const row = await this.findRow(id, principal);
    const version = parseVersion(input.version) ?? row.current_version;
    const stored = await this.db
      .selectFrom('workflow_versions')
      .select('definition')
      .where('workflow_id', '=', id)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!stored)
      throw new ValidationError(`Workflow "${row.name}" has no version ${version}.`, { field: 'version' });
    const runInput = input.input === undefined ? {} : input.input;
    validateInput(JSON.parse(stored.definition) as WorkflowDefinition, runInput);
    const instanceId = crypto.randomUUID();
    await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      const by = userIdOf(actor);
      await tx
        .insertInto('workflow_instances')
        .values({
          id: instanceId,
          workflow_id: id,
          version,
          status: 'QUEUED',
          pc: 0,
          step_count: 0,
          input: JSON.stringify(runInput),
          variables: '{}',
          outputs: '{}',
          error: null,
          cancel_requested: 0,
          lease_owner: null,
          lease_expires_at: null,
          due_at: null,
          created_by: by,
          created_at: now,
          updated_by: by,
          updated_at: now,
          started_at: null,
          ended_at: null,
        })
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'workflow.run_started',
        target: { type: 'workflow_instance', id: instanceId },
        details: { workflow: id, version },
      });
    });
    this.engine?.poke();
    return this.getInstance(instanceId, principal);
  }

  /**
   * Domo's start call: `{"messageName": "Start <workflow name>", "version", "modelId", "data"}`.
   * `modelId` picks the workflow when given; otherwise the name after "Start ".
   */
  async startByMessage(
    message: { messageName?: unknown; version?: unknown; modelId?: unknown; data?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<DomoInstance> {
    let id: string;
    if (typeof message.modelId === 'string' && message.modelId !== '') {
      id = (await this.findRow(message.modelId, principal)).id;
    } else {
      if (typeof message.messageName !== 'string' || !/^Start\s+\S/.test(message.messageName)) {
        throw new ValidationError('"messageName" must be "Start <workflow name>" (or give "modelId").', {
          field: 'messageName',
        });
      }
      const name = message.messageName.replace(/^Start\s+/, '').trim();
      const row = await this.visible(principal)
        .select('workflows.id')
        .where('workflows.name_key', '=', name.toLowerCase())
        .executeTakeFirst();
      if (!row) throw new NotFoundError('Workflow', name);
      id = row.id;
    }
    const instance = await this.start(
      id,
      { input: message.data ?? {}, version: message.version },
      principal,
      actor,
    );
    return pickDomo(instance);
  }

  private instanceQuery(principal: Principal, executor: Executor = this.db) {
    return this.visible(principal, executor)
      .innerJoin('workflow_instances', 'workflow_instances.workflow_id', 'workflows.id')
      .selectAll('workflow_instances')
      .select('workflows.name as workflow_name');
  }

  async getInstance(instanceId: string, principal: Principal): Promise<WorkflowInstance> {
    const row = await this.instanceQuery(principal)
      .where('workflow_instances.id', '=', instanceId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('Workflow instance', instanceId);
    return toInstance(row);
  }

  /** The runs of a workflow, newest first (one page; see `pageInstances` for the cursor). */
  async listInstances(
    workflowId: string,
    principal: Principal,
    query: InstancePageQuery = {},
  ): Promise<WorkflowInstance[]> {
    return (await this.pageInstances(workflowId, principal, query)).items;
  }

  /**
   * The runs of a workflow, newest first (created_at desc, then id), by cursor: the page walks
   * workflow_instances_workflow_idx (workflow_id, created_at desc, id) from the cursor and stops
   * after `limit + 1` rows (SQLite `SEARCH workflow_instances USING INDEX
   * workflow_instances_workflow_idx (workflow_id=? AND created_at<?)`, PostgreSQL `Index Scan using
   * workflow_instances_workflow_idx`, `Index Cond: workflow_id = … AND created_at <= …`), at any depth.
   * The cursor condition is `created_at <= c AND (created_at < c OR id > i)`: the first part is the
   * index range, the second skips the rows of the cursor's own instant already shown (the order
   * mixes desc and asc, so a row-value comparison cannot express it). `offset` still works for
   * compatibility, up to MAX_INSTANCE_OFFSET.
   */
  async pageInstances(
    workflowId: string,
    principal: Principal,
    query: InstancePageQuery = {},
  ): Promise<Page<WorkflowInstance>> {
    const { limit, offset } = offsetPage(query);
    if (offset > MAX_INSTANCE_OFFSET) {
      throw new ValidationError(
        `"offset" must be at most ${MAX_INSTANCE_OFFSET}; page further with "cursor" (the next page's cursor is in the Link header).`,
        { field: 'offset' },
      );
    }
    const after = decodeCursor(
      query.cursor,
      (v): v is [string, string] =>
        Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string'),
    );
    if (after !== undefined && offset > 0) {
      throw new ValidationError('Give "cursor" or "offset", not both.', { field: 'offset' });
    }
    const workflow = await this.findRow(workflowId, principal);
    // The runs alone (the workflow, visible to the principal, is known): joined to workflows, SQLite
    // looped over the (few) workflows and sorted the runs (`USE TEMP B-TREE FOR ORDER BY`).
    let q = this.db.selectFrom('workflow_instances').selectAll().where('workflow_id', '=', workflowId);
    if (after !== undefined) {
      const [createdAt, id] = after;
      q = q
        .where('created_at', '<=', createdAt)
        .where((eb) => eb.or([eb('created_at', '<', createdAt), eb('id', '>', id)]));
    }
    const rows = (
      await q
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(limit + 1)
        .offset(offset)
        .execute()
    ).map((row) => ({ ...row, workflow_name: workflow.name }));
    const kept = rows.slice(0, limit);
    const last = kept[kept.length - 1];
    return {
      items: kept.map(toInstance),
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor([last.created_at, last.id]) : null,
    };
  }

  async logs(instanceId: string, principal: Principal, query: OffsetQuery = {}): Promise<InstanceLog[]> {
    const { limit, offset } = offsetPage(query, 100);
    await this.getInstance(instanceId, principal);
    const rows = await this.db
      .selectFrom('workflow_instance_logs')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .orderBy('seq')
      .limit(limit)
      .offset(offset)
      .execute();
    return rows.map((r) => ({
      seq: r.seq,
      stepId: r.step_id,
      type: r.step_type,
      status: r.status,
      startedOn: r.started_at,
      endedOn: r.ended_at,
      durationMs: r.duration_ms,
      output: parseSummary(r.output),
      message: r.message,
      error: r.error,
    }));
  }

  /**
   * Cancels a run: a queued run that no engine holds ends at once; a running one at its
   * next step boundary (an in-flight HTTP call is aborted). Canceling a canceled run is a no-op.
   */
  async cancel(instanceId: string, principal: Principal, actor: Actor): Promise<WorkflowInstance> {
    const current = await this.getInstance(instanceId, principal);
    if (current.status === 'CANCELED') return current;
    if (TERMINAL.has(current.status)) {
      throw new ConflictError(`The run has already ended (${current.status}).`, { status: current.status });
    }
    const endedNow = await this.ctx.store.transaction(async (tx) => {
      const now = this.ctx.clock.now().toISOString();
      const by = userIdOf(actor);
      await tx
        .updateTable('workflow_instances')
        .set({ cancel_requested: 1, updated_at: now, updated_by: by })
        .where('id', '=', instanceId)
        .execute();
      const ended = await tx
        .updateTable('workflow_instances')
        .set({ status: 'CANCELED', ended_at: now })
        .where('id', '=', instanceId)
        .where((eb) =>
          eb.or([
            eb('status', '=', 'QUEUED'),
            // Waiting on a delay, held by no engine.
            eb.and([eb('status', '=', 'IN_PROGRESS'), eb('lease_owner', 'is', null)]),
          ]),
        )
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .executeTakeFirst();
      await this.audit.record(tx, {
        actor,
        action: 'workflow.run_canceled',
        target: { type: 'workflow_instance', id: instanceId },
      });
      return Number(ended.numUpdatedRows) === 1;
    });
    // A run no engine held ends here; a running one is counted by its engine when it stops.
    if (endedNow) countWorkflowRunFinished('CANCELED');
    this.engine?.cancelLocal(instanceId);
    return this.getInstance(instanceId, principal);
  }
}

/** Log outputs are JSON, cut to a summary when long (then returned as text). */
function parseSummary(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function pickDomo(instance: DomoInstance): DomoInstance {
  const { id, modelId, modelName, modelVersion, createdBy, createdOn, updatedBy, updatedOn, status } =
    instance;
  return { id, modelId, modelName, modelVersion, createdBy, createdOn, updatedBy, updatedOn, status };
}
