/**
 * Streams (issue #15, Domo's /v1/streams): large uploads into a DataSet in parts, made visible
 * all at once by a commit.
 *
 * Design (also in the README, "Streams"):
 * - A stream is made with its DataSet (through DatasetsService.create) and names it; an
 *   execution is one upload; at most one execution of a stream is ACTIVE at a time (a partial
 *   unique index), so "the current execution" is well defined and two nodes cannot both start one.
 * - Each part is checked and loaded exactly as `PUT /v1/datasets/{id}/data` is (dataset-load.ts:
 *   the same value checks, messages and limits) into a staging table of its own,
 *   `ds_<dataset hex>_s<execution id>_<random>`, and only then recorded in
 *   `dataset_stream_parts` in a short transaction that locks the execution. So parts may arrive
 *   out of order and in parallel, re-sending a part number swaps the new table in and drops the
 *   old, and a bad part leaves nothing behind. One table per part (rather than one per execution
 *   with a part column) is what makes a re-sent part a cheap swap instead of a delete of its rows,
 *   and a part loaded but not yet recorded invisible to everyone.
 * - Everything (executions, their state, the parts) is in the store: a node that crashes between
 *   parts loses nothing recorded, and any node on the same PostgreSQL continues, commits or
 *   aborts the execution.
 * - Commit is one transaction: it locks the execution, checks it is ACTIVE, has parts and that
 *   the DataSet's schema is still the one the parts were checked against (else 409, nothing
 *   changes), then REPLACE renames part 1's table into the DataSet's place and appends the others
 *   in part-number order, APPEND appends them all; the row count, the execution's state and the
 *   audit event commit with the rows. The copies run inside the database, so the transaction is
 *   short and a reader sees the old rows or the new ones, never a mix.
 * - Cleanup (`sweep`, run by the background maintenance): ACTIVE executions idle for
 *   GATEHOUSE_STREAM_EXECUTION_TTL_HOURS are aborted and their parts dropped; streams whose
 *   DataSet was deleted go; staging tables no part row names (a node died while loading one) are
 *   dropped once their execution is no longer ACTIVE.
 */
import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import { CompiledQuery, type Selectable } from 'kysely';
import { ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from '../errors.js';
import type { Executor, Tx } from '../store/index.js';
import { isUniqueViolation } from '../store/index.js';
import type {
  DatasetStreamExecutionsTable,
  DatasetStreamsTable,
  ExecutionState,
  StreamUpdateMethod,
} from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import { type Actor, SYSTEM_ACTOR, type ServiceContext } from './context.js';
import {
  appendFrom,
  createStagingTable,
  type DatasetColumn,
  dataTable,
  dropTable,
  loadCsv,
  quoteIdent,
  replaceWith,
} from './dataset-load.js';
import { assertDatasetOwnerOrAdmin, type Dataset, type DatasetsService } from './datasets.js';
import type { Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';

export const UPDATE_METHODS = ['APPEND', 'REPLACE'] as const;
export const EXECUTION_STATES = ['ACTIVE', 'SUCCESS', 'ABORTED'] as const;
/** Domo's default and largest page of streams and of executions. */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 500;
export const MAX_LIST_OFFSET = 1_000_000;
/** Part numbers run from 1 to this (S3's multipart limit; enough for 10 TB in 1 GB parts). */
export const MAX_PART = 10_000;

export interface Stream {
  id: number;
  dataSet: Dataset;
  updateMethod: StreamUpdateMethod;
  createdAt: string;
  modifiedAt: string;
}

export interface StreamPart {
  part: number;
  rows: number;
  uploadedAt: string;
}

export interface StreamExecution {
  id: number;
  startedAt: string;
  currentState: ExecutionState;
  createdAt: string;
  modifiedAt: string;
  endedAt?: string;
  /** The stream's update method when the execution started; the commit applies it. */
  updateMethod: StreamUpdateMethod;
  /** Rows the commit made visible (after SUCCESS). */
  rows?: number;
  /** The parts uploaded and kept so far, by part number (empty once committed or aborted). */
  parts: StreamPart[];
}

export interface PageQuery {
  limit?: number;
  offset?: number;
}

type StreamRow = Selectable<DatasetStreamsTable>;
type ExecutionRow = Selectable<DatasetStreamExecutionsTable>;

/** Staging tables of stream parts: `ds_<dataset hex>_s<execution id>_<random>`. */
const PART_TABLE = /^ds_[0-9a-f]{32}_s(\d+)_[0-9a-f]{8}$/;

function checkUpdateMethod(value: unknown): StreamUpdateMethod {
  if (typeof value !== 'string' || !(UPDATE_METHODS as readonly string[]).includes(value))
    throw new ValidationError(`"updateMethod" must be one of ${UPDATE_METHODS.join(', ')}.`, {
      field: 'updateMethod',
    });
  return value as StreamUpdateMethod;
}

function checkPage(query: PageQuery): { limit: number; offset: number } {
  const limit = query.limit ?? DEFAULT_LIST_LIMIT;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)
    throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}.`, {
      field: 'limit',
    });
  if (!Number.isInteger(offset) || offset < 0 || offset > MAX_LIST_OFFSET)
    throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_LIST_OFFSET}.`, {
      field: 'offset',
    });
  return { limit, offset };
}

/** A stream id from a path; anything that cannot be a row id names nothing (404). */
function streamIdOf(ref: number | string): number {
  const id = rowIdOf(ref);
  if (id === undefined || id === NO_SUCH_ROW) throw new NotFoundError('Stream', ref);
  return id;
}

function checkPart(part: unknown): number {
  if (typeof part !== 'number' || !Number.isInteger(part) || part < 1 || part > MAX_PART)
    throw new ValidationError(`The part number must be a whole number from 1 to ${MAX_PART}.`, {
      field: 'partNum',
    });
  return part;
}

export class StreamsService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly datasets: DatasetsService,
    private readonly audit: AuditService,
  ) {}

  private get db() {
    return this.ctx.store.db;
  }

  private get postgres(): boolean {
    return this.ctx.store.dialect === 'postgres';
  }

  private raw<R = Record<string, unknown>>(executor: Executor, text: string, parameters: unknown[] = []) {
    return executor.executeQuery<R>(CompiledQuery.raw(text, parameters));
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /** The stream `ref` names, if its DataSet still exists (a stream outlives it only until the sweep). */
  private async findStream(ref: number | string, executor: Executor = this.db): Promise<StreamRow> {
    const id = streamIdOf(ref);
    const row = await executor
      .selectFrom('dataset_streams')
      .innerJoin('datasets', 'datasets.id', 'dataset_streams.dataset_id')
      .selectAll('dataset_streams')
      .where('dataset_streams.id', '=', id)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('Stream', ref);
    return row;
  }

  /** The execution `ref` of `stream`; with `lock`, held until `executor` (a transaction) ends. */
  private async findExecution(
    stream: StreamRow,
    ref: number | string,
    executor: Executor = this.db,
    lock = false,
  ): Promise<ExecutionRow> {
    const id = rowIdOf(ref);
    if (id === undefined || id === NO_SUCH_ROW)
      throw new NotFoundError(`Execution ${ref} of stream`, stream.id);
    let query = executor
      .selectFrom('dataset_stream_executions')
      .selectAll()
      .where('id', '=', id)
      .where('stream_id', '=', stream.id);
    if (lock && this.postgres) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw new NotFoundError(`Execution ${ref} of stream`, stream.id);
    return row;
  }

  private async toStreams(rows: StreamRow[]): Promise<Stream[]> {
    const datasets = await this.datasets.getMany(rows.map((r) => r.dataset_id));
    return rows.flatMap((row) => {
      const dataSet = datasets.get(row.dataset_id);
      if (!dataSet) return [];
      return [
        {
          id: row.id,
          dataSet,
          updateMethod: row.update_method,
          createdAt: row.created_at,
          modifiedAt: row.modified_at,
        },
      ];
    });
  }

  private async toStream(row: StreamRow): Promise<Stream> {
    const [stream] = await this.toStreams([row]);
    if (!stream) throw new NotFoundError('Stream', row.id);
    return stream;
  }

  private async toExecutions(rows: ExecutionRow[], executor: Executor = this.db): Promise<StreamExecution[]> {
    const ids = rows.map((r) => r.id);
    const parts =
      ids.length === 0
        ? []
        : await executor
            .selectFrom('dataset_stream_parts')
            .select(['execution_id', 'part', 'row_count', 'uploaded_at'])
            .where('execution_id', 'in', ids)
            .orderBy('execution_id')
            .orderBy('part')
            .execute();
    return rows.map((row) => ({
      id: row.id,
      startedAt: row.created_at,
      currentState: row.state,
      createdAt: row.created_at,
      modifiedAt: row.modified_at,
      ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
      updateMethod: row.update_method,
      ...(row.row_count === null ? {} : { rows: Number(row.row_count) }),
      parts: parts
        .filter((p) => p.execution_id === row.id)
        .map((p) => ({ part: p.part, rows: Number(p.row_count), uploadedAt: p.uploaded_at })),
    }));
  }

  private async toExecution(row: ExecutionRow, executor: Executor = this.db): Promise<StreamExecution> {
    return (await this.toExecutions([row], executor))[0] as StreamExecution;
  }

  async list(query: PageQuery = {}): Promise<Stream[]> {
    const { limit, offset } = checkPage(query);
    const rows = await this.db
      .selectFrom('dataset_streams')
      .innerJoin('datasets', 'datasets.id', 'dataset_streams.dataset_id')
      .selectAll('dataset_streams')
      .orderBy('dataset_streams.id')
      .limit(limit)
      .offset(offset)
      .execute();
    return this.toStreams(rows);
  }

  async get(ref: number | string): Promise<Stream> {
    return this.toStream(await this.findStream(ref));
  }

  /**
   * Domo's search: `dataSource.id:<DataSet id>` (the stream of that DataSet) or
   * `dataSource.owner.id:<user id>` (the streams of that owner's DataSets).
   */
  async search(q: string, query: PageQuery = {}): Promise<Stream[]> {
    const { limit, offset } = checkPage(query);
    let select = this.db
      .selectFrom('dataset_streams')
      .innerJoin('datasets', 'datasets.id', 'dataset_streams.dataset_id')
      .selectAll('dataset_streams');
    const byDataset = /^dataSource\.id:(.+)$/.exec(q.trim());
    const byOwner = /^dataSource\.owner\.id:(.+)$/.exec(q.trim());
    if (byDataset) select = select.where('dataset_streams.dataset_id', '=', byDataset[1]!.trim());
    else if (byOwner) {
      const owner = rowIdOf(byOwner[1]!);
      if (owner === undefined)
        throw new ValidationError('"dataSource.owner.id" must be a user id (a whole number).', {
          field: 'q',
        });
      if (owner === NO_SUCH_ROW) return [];
      select = select.where('datasets.owner_user_id', '=', owner);
    } else
      throw new ValidationError('"q" must be dataSource.id:<DataSet id> or dataSource.owner.id:<user id>.', {
        field: 'q',
      });
    const rows = await select.orderBy('dataset_streams.id').limit(limit).offset(offset).execute();
    return this.toStreams(rows);
  }

  async listExecutions(streamRef: number | string, query: PageQuery = {}): Promise<StreamExecution[]> {
    const { limit, offset } = checkPage(query);
    const stream = await this.findStream(streamRef);
    const rows = await this.db
      .selectFrom('dataset_stream_executions')
      .selectAll()
      .where('stream_id', '=', stream.id)
      .orderBy('id')
      .limit(limit)
      .offset(offset)
      .execute();
    return this.toExecutions(rows);
  }

  async getExecution(streamRef: number | string, executionRef: number | string): Promise<StreamExecution> {
    const stream = await this.findStream(streamRef);
    return this.toExecution(await this.findExecution(stream, executionRef));
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  /** Writes need the DataSet's owner or an Admin, as the DataSet's own writes do. */
  private async assertCanWrite(stream: StreamRow, principal: Principal, what: string, executor: Executor) {
    const dataset = await executor
      .selectFrom('datasets')
      .selectAll()
      .where('id', '=', stream.dataset_id)
      .executeTakeFirst();
    if (!dataset) throw new NotFoundError('Stream', stream.id);
    assertDatasetOwnerOrAdmin(dataset, principal, what);
    return dataset;
  }

  /** Creates the DataSet (as POST /v1/datasets does) and its stream, in one transaction. */
  async create(
    input: { dataSet?: unknown; updateMethod?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Stream> {
    const updateMethod = checkUpdateMethod(input.updateMethod);
    if (typeof input.dataSet !== 'object' || input.dataSet === null || Array.isArray(input.dataSet))
      throw new ValidationError('"dataSet" must be {name, description, schema}.', { field: 'dataSet' });
    const dataSet = input.dataSet as { name?: unknown; description?: unknown; schema?: unknown };
    let id: number | undefined;
    await this.datasets.create(
      { name: dataSet.name, description: dataSet.description, schema: dataSet.schema },
      principal,
      actor,
      async (tx, datasetId) => {
        const now = this.ctx.clock.now().toISOString();
        const row = await tx
          .insertInto('dataset_streams')
          .values({ dataset_id: datasetId, update_method: updateMethod, created_at: now, modified_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        await this.audit.record(tx, {
          actor,
          action: 'stream.created',
          target: { type: 'stream', id: row.id },
          details: { dataset: datasetId, updateMethod },
        });
        id = row.id;
      },
    );
    if (id === undefined) throw new Error('the stream was not created with its DataSet');
    return this.get(id);
  }

  async update(
    ref: number | string,
    input: { updateMethod?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Stream> {
    const updateMethod = input.updateMethod === undefined ? undefined : checkUpdateMethod(input.updateMethod);
    const id = await this.ctx.store.transaction(async (tx) => {
      const stream = await this.findStream(ref, tx);
      await this.assertCanWrite(stream, principal, 'change its stream', tx);
      if (updateMethod === undefined || updateMethod === stream.update_method) return stream.id;
      await tx
        .updateTable('dataset_streams')
        .set({ update_method: updateMethod, modified_at: this.ctx.clock.now().toISOString() })
        .where('id', '=', stream.id)
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'stream.updated',
        target: { type: 'stream', id: stream.id },
        details: { updateMethod },
      });
      return stream.id;
    });
    return this.get(id);
  }

  /** Deletes the stream, its executions and their parts; the DataSet and its rows stay. */
  async delete(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const stream = await this.findStream(ref, tx);
      await this.assertCanWrite(stream, principal, 'delete its stream', tx);
      const parts = await this.dropStream(tx, stream.id);
      await this.audit.record(tx, {
        actor,
        action: 'stream.deleted',
        target: { type: 'stream', id: stream.id },
        details: { dataset: stream.dataset_id, droppedParts: parts },
      });
    });
  }

  /** Inside `tx`: the stream's part tables, parts, executions and the stream itself go. */
  private async dropStream(tx: Tx, streamId: number): Promise<number> {
    const parts = await tx
      .selectFrom('dataset_stream_parts')
      .innerJoin(
        'dataset_stream_executions',
        'dataset_stream_executions.id',
        'dataset_stream_parts.execution_id',
      )
      .select('dataset_stream_parts.table_name')
      .where('dataset_stream_executions.stream_id', '=', streamId)
      .execute();
    for (const part of parts) await this.raw(tx, `drop table if exists ${quoteIdent(part.table_name)}`);
    const executions = tx
      .selectFrom('dataset_stream_executions')
      .select('id')
      .where('stream_id', '=', streamId);
    await tx.deleteFrom('dataset_stream_parts').where('execution_id', 'in', executions).execute();
    await tx.deleteFrom('dataset_stream_executions').where('stream_id', '=', streamId).execute();
    await tx.deleteFrom('dataset_streams').where('id', '=', streamId).execute();
    return parts.length;
  }

  // -------------------------------------------------------------------------------------------
  // Executions

  /** Starts an upload. One execution of a stream is ACTIVE at a time: another is a 409 naming it. */
  async createExecution(
    streamRef: number | string,
    principal: Principal,
    actor: Actor,
  ): Promise<StreamExecution> {
    const activeConflict = (id: number | undefined) =>
      new ConflictError(
        `Stream ${streamRef} already has an ACTIVE execution${id === undefined ? '' : ` (${id})`}: commit or abort it first.`,
        id === undefined ? undefined : { execution: id },
      );
    try {
      return await this.ctx.store.transaction(async (tx) => {
        const stream = await this.findStream(streamRef, tx);
        const dataset = await this.assertCanWrite(stream, principal, 'upload into it', tx);
        const active = await tx
          .selectFrom('dataset_stream_executions')
          .select('id')
          .where('stream_id', '=', stream.id)
          .where('state', '=', 'ACTIVE')
          .executeTakeFirst();
        if (active) throw activeConflict(active.id);
        const now = this.ctx.clock.now().toISOString();
        const row = await tx
          .insertInto('dataset_stream_executions')
          .values({
            stream_id: stream.id,
            state: 'ACTIVE',
            update_method: stream.update_method,
            columns: dataset.columns,
            row_count: null,
            created_at: now,
            modified_at: now,
            ended_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await this.audit.record(tx, {
          actor,
          action: 'stream.execution_created',
          target: { type: 'stream', id: stream.id },
          details: { execution: row.id, dataset: stream.dataset_id, updateMethod: row.update_method },
        });
        return this.toExecution(row, tx);
      });
    } catch (error) {
      // Two nodes raced to start one: the partial unique index let one win.
      if (isUniqueViolation(error)) throw activeConflict(undefined);
      throw error;
    }
  }

  private notActive(execution: ExecutionRow, doing: string): ConflictError {
    return new ConflictError(`Execution ${execution.id} is ${execution.state}: it cannot ${doing}.`, {
      execution: execution.id,
      currentState: execution.state,
    });
  }

  /**
   * Uploads part `partNum` (CSV, no header row, already gunzipped) of an ACTIVE execution. The rows
   * are checked and loaded into a staging table of their own before anything is recorded; a bad
   * value is a 400 naming the part, row, column and value, and leaves the execution as it was.
   * Re-sending a part number replaces that part.
   */
  async uploadPart(
    streamRef: number | string,
    executionRef: number | string,
    partNum: number,
    body: Readable,
    principal: Principal,
    actor: Actor,
  ): Promise<StreamExecution> {
    const part = checkPart(partNum);
    const stream = await this.findStream(streamRef);
    await this.assertCanWrite(stream, principal, 'upload into it', this.db);
    const execution = await this.findExecution(stream, executionRef);
    if (execution.state !== 'ACTIVE') throw this.notActive(execution, 'take more parts');
    const columns = JSON.parse(execution.columns) as DatasetColumn[];
    const table = `${dataTable(stream.dataset_id)}_s${execution.id}_${crypto.randomBytes(4).toString('hex')}`;
    const store = this.ctx.store;
    await createStagingTable(store, table, columns);
    let recorded = false;
    try {
      let rows: number;
      try {
        rows = await loadCsv(store, table, columns, body, {
          maxBytes: this.ctx.config.datasetMaxUploadBytes,
          label: `Part ${part}`,
        });
      } catch (error) {
        if (error instanceof ValidationError)
          throw new ValidationError(
            error.message.replace('Nothing was imported.', 'The part was not stored.'),
            { part, ...(error.details as object | undefined) },
          );
        if (error instanceof PayloadTooLargeError) throw error;
        // The execution may have ended under the upload (a commit, an abort, the stream deleted).
        const now = await this.db
          .selectFrom('dataset_stream_executions')
          .selectAll()
          .where('id', '=', execution.id)
          .executeTakeFirst();
        if (!now) throw new NotFoundError(`Execution ${executionRef} of stream`, stream.id);
        if (now.state !== 'ACTIVE') throw this.notActive(now, 'take more parts');
        throw error;
      }
      const result = await store.transaction(async (tx) => {
        const current = await this.findExecution(stream, execution.id, tx, true);
        if (current.state !== 'ACTIVE') throw this.notActive(current, 'take more parts');
        const previous = await tx
          .selectFrom('dataset_stream_parts')
          .select('table_name')
          .where('execution_id', '=', current.id)
          .where('part', '=', part)
          .executeTakeFirst();
        const now = this.ctx.clock.now().toISOString();
        if (previous) {
          await tx
            .updateTable('dataset_stream_parts')
            .set({ table_name: table, row_count: rows, uploaded_at: now })
            .where('execution_id', '=', current.id)
            .where('part', '=', part)
            .execute();
          await this.raw(tx, `drop table if exists ${quoteIdent(previous.table_name)}`);
        } else {
          await tx
            .insertInto('dataset_stream_parts')
            .values({ execution_id: current.id, part, table_name: table, row_count: rows, uploaded_at: now })
            .execute();
        }
        const updated = await tx
          .updateTable('dataset_stream_executions')
          .set({ modified_at: now })
          .where('id', '=', current.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await this.audit.record(tx, {
          actor,
          action: 'stream.part_uploaded',
          target: { type: 'stream', id: stream.id },
          details: { execution: current.id, part, rows, replaced: previous !== undefined },
        });
        return this.toExecution(updated, tx);
      });
      recorded = true;
      return result;
    } finally {
      if (!recorded)
        await dropTable(store, table).catch((error: unknown) =>
          this.ctx.log.warn({ err: error, table }, 'could not drop a stream part staging table'),
        );
    }
  }

  /**
   * Makes every part visible at once, in part-number order: REPLACE replaces the DataSet's rows,
   * APPEND adds to them. One transaction; with no parts, or when the DataSet's schema changed
   * since the execution started, a 409 and nothing changes (the execution stays ACTIVE).
   */
  async commit(
    streamRef: number | string,
    executionRef: number | string,
    principal: Principal,
    actor: Actor,
  ): Promise<StreamExecution> {
    return this.ctx.store.transaction(async (tx) => {
      const stream = await this.findStream(streamRef, tx);
      const dataset = await this.assertCanWrite(stream, principal, 'upload into it', tx);
      const execution = await this.findExecution(stream, executionRef, tx, true);
      if (execution.state !== 'ACTIVE') throw this.notActive(execution, 'be committed');
      const parts = await tx
        .selectFrom('dataset_stream_parts')
        .select(['part', 'table_name', 'row_count'])
        .where('execution_id', '=', execution.id)
        .orderBy('part')
        .execute();
      if (parts.length === 0)
        throw new ConflictError(`Execution ${execution.id} has no parts: upload at least one, or abort it.`, {
          execution: execution.id,
        });
      if (dataset.columns !== execution.columns)
        throw new ConflictError(
          `The DataSet's schema changed after execution ${execution.id} started; its parts no longer fit. Abort it and start a new one.`,
          { execution: execution.id },
        );
      const columns = JSON.parse(execution.columns) as DatasetColumn[];
      const table = dataTable(stream.dataset_id);
      const rows = parts.reduce((sum, p) => sum + Number(p.row_count), 0);
      const replace = execution.update_method === 'REPLACE';
      for (const [i, p] of parts.entries()) {
        if (replace && i === 0) await replaceWith(tx, this.ctx.store.dialect, table, p.table_name);
        else await appendFrom(tx, table, p.table_name, columns);
      }
      const total = replace ? rows : Number(dataset.row_count) + rows;
      const now = this.ctx.clock.now().toISOString();
      await tx
        .updateTable('datasets')
        .set({ row_count: total, data_current_at: now, updated_at: now })
        .where('id', '=', stream.dataset_id)
        .execute();
      await tx.deleteFrom('dataset_stream_parts').where('execution_id', '=', execution.id).execute();
      const updated = await tx
        .updateTable('dataset_stream_executions')
        .set({ state: 'SUCCESS', row_count: rows, modified_at: now, ended_at: now })
        .where('id', '=', execution.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.audit.record(tx, {
        actor,
        action: 'stream.execution_committed',
        target: { type: 'stream', id: stream.id },
        details: {
          execution: execution.id,
          dataset: stream.dataset_id,
          updateMethod: execution.update_method,
          parts: parts.length,
          rows,
          total,
        },
      });
      return this.toExecution(updated, tx);
    });
  }

  /**
   * Aborts an ACTIVE execution (`executionRef`, or the stream's ACTIVE one when undefined) and
   * drops its parts. Aborting one that has ended is a 409.
   */
  async abort(
    streamRef: number | string,
    executionRef: number | string | undefined,
    principal: Principal,
    actor: Actor,
  ): Promise<StreamExecution> {
    return this.ctx.store.transaction(async (tx) => {
      const stream = await this.findStream(streamRef, tx);
      await this.assertCanWrite(stream, principal, 'abort an upload into it', tx);
      let ref = executionRef;
      if (ref === undefined) {
        const active = await tx
          .selectFrom('dataset_stream_executions')
          .select('id')
          .where('stream_id', '=', stream.id)
          .where('state', '=', 'ACTIVE')
          .executeTakeFirst();
        if (!active) throw new ConflictError(`Stream ${stream.id} has no ACTIVE execution to abort.`);
        ref = active.id;
      }
      const execution = await this.findExecution(stream, ref, tx, true);
      if (execution.state !== 'ACTIVE') throw this.notActive(execution, 'be aborted');
      const updated = await this.abortLocked(tx, execution, actor, 'aborted');
      return this.toExecution(updated, tx);
    });
  }

  /** Inside `tx`, with the execution locked and ACTIVE: ABORTED, its parts dropped, audited. */
  private async abortLocked(
    tx: Tx,
    execution: ExecutionRow,
    actor: Actor,
    reason: 'aborted' | 'expired',
  ): Promise<ExecutionRow> {
    const parts = await tx
      .selectFrom('dataset_stream_parts')
      .select('table_name')
      .where('execution_id', '=', execution.id)
      .execute();
    for (const p of parts) await this.raw(tx, `drop table if exists ${quoteIdent(p.table_name)}`);
    await tx.deleteFrom('dataset_stream_parts').where('execution_id', '=', execution.id).execute();
    const now = this.ctx.clock.now().toISOString();
    const updated = await tx
      .updateTable('dataset_stream_executions')
      .set({ state: 'ABORTED', modified_at: now, ended_at: now })
      .where('id', '=', execution.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.record(tx, {
      actor,
      action: 'stream.execution_aborted',
      target: { type: 'stream', id: execution.stream_id },
      details: { execution: execution.id, droppedParts: parts.length, reason },
    });
    return updated;
  }

  // -------------------------------------------------------------------------------------------
  // Cleanup

  /**
   * The background cleanup (every serving node runs it; each step is a conditional write, so
   * nodes racing on the same execution do it once): aborts ACTIVE executions idle for longer
   * than GATEHOUSE_STREAM_EXECUTION_TTL_HOURS, deletes streams whose DataSet is gone, and drops
   * part staging tables that no part names once their execution has ended.
   */
  async sweep(): Promise<{ expired: number; orphanStreams: number; orphanTables: number }> {
    const cutoff = new Date(
      this.ctx.clock.now().getTime() - this.ctx.config.streamExecutionTtlHours * 3_600_000,
    ).toISOString();
    const idle = await this.db
      .selectFrom('dataset_stream_executions')
      .select('id')
      .where('state', '=', 'ACTIVE')
      .where('modified_at', '<', cutoff)
      .orderBy('id')
      .execute();
    let expired = 0;
    for (const { id } of idle) {
      const done = await this.ctx.store.transaction(async (tx) => {
        let query = tx.selectFrom('dataset_stream_executions').selectAll().where('id', '=', id);
        if (this.postgres) query = query.forUpdate();
        const execution = await query.executeTakeFirst();
        // Another node got there first, or a part arrived meanwhile.
        if (!execution || execution.state !== 'ACTIVE' || execution.modified_at >= cutoff) return false;
        await this.abortLocked(tx, execution, SYSTEM_ACTOR, 'expired');
        return true;
      });
      if (done) expired++;
    }

    const orphans = await this.db
      .selectFrom('dataset_streams')
      .leftJoin('datasets', 'datasets.id', 'dataset_streams.dataset_id')
      .select(['dataset_streams.id', 'dataset_streams.dataset_id'])
      .where('datasets.id', 'is', null)
      .execute();
    let orphanStreams = 0;
    for (const orphan of orphans) {
      await this.ctx.store.transaction(async (tx) => {
        const still = await tx
          .selectFrom('dataset_streams')
          .leftJoin('datasets', 'datasets.id', 'dataset_streams.dataset_id')
          .select(['dataset_streams.id', 'datasets.id as dataset'])
          .where('dataset_streams.id', '=', orphan.id)
          .executeTakeFirst();
        if (!still || still.dataset !== null) return;
        const parts = await this.dropStream(tx, orphan.id);
        await this.audit.record(tx, {
          actor: SYSTEM_ACTOR,
          action: 'stream.deleted',
          target: { type: 'stream', id: orphan.id },
          details: { dataset: orphan.dataset_id, droppedParts: parts, reason: 'dataset deleted' },
        });
        orphanStreams++;
      });
    }

    const orphanTables = await this.dropUnrecordedPartTables();
    return { expired, orphanStreams, orphanTables };
  }

  /** Part staging tables no part row names, of executions that are no longer ACTIVE (or gone). */
  private async dropUnrecordedPartTables(): Promise<number> {
    const listed = this.postgres
      ? await this.raw<{ name: string }>(
          this.db,
          `select tablename as name from pg_tables where schemaname = current_schema() and tablename like 'ds\\_%\\_s%' escape '\\'`,
        )
      : await this.raw<{ name: string }>(
          this.db,
          `select name from sqlite_master where type = 'table' and name like 'ds\\_%\\_s%' escape '\\'`,
        );
    const tables = listed.rows
      .map((r) => ({ name: r.name, execution: Number(PART_TABLE.exec(r.name)?.[1] ?? Number.NaN) }))
      .filter((t) => Number.isSafeInteger(t.execution));
    let dropped = 0;
    for (const t of tables) {
      const named = await this.db
        .selectFrom('dataset_stream_parts')
        .select('part')
        .where('table_name', '=', t.name)
        .executeTakeFirst();
      if (named) continue;
      const execution = await this.db
        .selectFrom('dataset_stream_executions')
        .select('state')
        .where('id', '=', t.execution)
        .executeTakeFirst();
      // A part of an ACTIVE execution may be loading right now; it is recorded or dropped by its upload.
      if (execution?.state === 'ACTIVE') continue;
      await dropTable(this.ctx.store, t.name);
      dropped++;
    }
    if (dropped > 0) this.ctx.log.info({ dropped }, 'streams: dropped staging tables of ended executions');
    return dropped;
  }
}
