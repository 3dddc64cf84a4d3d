/**
 * DataSets (issue #15, Domo's /v1/datasets): metadata, CSV import and export, and (later) queries.
 *
 * Design (also in the README, "DataSets"):
 * - Where rows live: in the store itself, one physical table per dataset, `ds_<id without
 *   dashes>`, next to Gatehouse's own tables (SQLite file by default; on PostgreSQL in the
 *   instance's schema, so every node on that PostgreSQL reads the same rows). Columns are typed
 *   (STRING text, LONG integer/bigint, DECIMAL numeric, DOUBLE real/double precision, DATE text
 *   `YYYY-MM-DD`/date, DATETIME text ISO UTC/timestamptz) and named by position, `c0…cN`, so a
 *   column's name can be anything and renaming it is a metadata change. A leading `_r` column
 *   (SQLite: the rowid alias; PostgreSQL: an identity) keeps the rows in import order and pages
 *   the export. The catalogue is the `datasets` table (migration 010).
 * - Why not an embedded analytical engine (DuckDB): its files are per node, so a second node on
 *   the same PostgreSQL would not see the rows, and it would be a second store to back up and
 *   migrate. SQLite and PostgreSQL run the GROUP BY target on 1M rows in one scan; DuckDB stays
 *   the bench's reference (bench/datasets.mjs).
 * - Uploads are atomic without holding a long write lock: rows are checked and inserted in
 *   batches into a staging table (`ds_<id>_u<random>`), and one short transaction then swaps it
 *   in (REPLACE: drop + rename) or copies it over (APPEND), updates the row count and writes the
 *   audit event. A bad value, a broken CSV or a too-large body drops the staging table: the
 *   dataset is unchanged. The body is read as a stream (csv-parse), so memory stays bounded.
 *   The loading itself (staging table, checked rows, swap) is src/services/dataset-load.ts,
 *   shared with the Streams API.
 * - Queries: src/services/dataset-sql.ts compiles the caller's SQL from its AST through
 *   allow-lists (one SELECT, the only table `table`, known functions) into SQL whose `table` is a
 *   subquery over this dataset's physical table with the PDP row filter inside it;
 *   src/services/dataset-query.ts runs it read-only with a time limit and a row cap (PostgreSQL:
 *   its own connections; SQLite: a child process that is killed past the limit).
 */
import crypto from 'node:crypto';
import type { Readable } from 'node:stream';
import { CompiledQuery, type Selectable } from 'kysely';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { Executor, Tx } from '../store/index.js';
import { likePattern } from '../store/index.js';
import type { DatasetsTable } from '../store/schema/index.js';
import {
  appendFrom,
  COLUMN_TYPES,
  type ColumnType,
  createStagingTable,
  createTableSql,
  type DatasetColumn,
  dataTable,
  dropTable,
  loadCsv,
  PG_TYPES,
  quoteIdent,
  replaceWith,
  SQLITE_TYPES,
  stagingTableName,
  sweepStaleTables,
} from './dataset-load.js';
import { type ExportParameter, exportRows } from './dataset-export.js';
import type { AuditService } from './audit.js';
import type { RowFilter } from './dataset-policies.js';
import type { Actor, ServiceContext } from './context.js';
import { isAdmin, type Principal } from './principal.js';

export { csvField } from './dataset-export.js';
export {
  COLUMN_TYPES,
  type ColumnType,
  convertValue,
  type DatasetColumn,
  dataTable,
  MAX_RECORD_BYTES,
  quoteIdent,
} from './dataset-load.js';

export interface Dataset {
  id: string;
  name: string;
  description: string;
  rows: number;
  columns: number;
  schema: { columns: DatasetColumn[] };
  owner: { id: number; name: string };
  createdAt: string;
  updatedAt: string;
  dataCurrentAt: string | null;
  pdpEnabled: boolean;
}

export const MAX_NAME_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 2000;
export const MAX_COLUMNS = 500;
export const MAX_COLUMN_NAME_LENGTH = 200;
/** Domo's largest page of datasets. */
export const MAX_LIST_LIMIT = 50;
export const MAX_LIST_OFFSET = 1_000_000;
export const LIST_SORTS = ['name', 'lastTouched', 'lastUpdated'] as const;
export type ListSort = (typeof LIST_SORTS)[number];

// ---------------------------------------------------------------------------------------------
// Values

// ---------------------------------------------------------------------------------------------
// Input checks

/** True when `text` holds a C0 control character or DEL. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function checkName(value: unknown): string {
  if (typeof value !== 'string') throw new ValidationError('"name" must be a string.', { field: 'name' });
  const name = value.trim();
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || hasControlCharacter(name))
    throw new ValidationError(`"name" must be 1–${MAX_NAME_LENGTH} characters without control characters.`, {
      field: 'name',
    });
  return name;
}

function checkDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' || value.length > MAX_DESCRIPTION_LENGTH || value.includes('\u0000'))
    throw new ValidationError(
      `"description" must be a string of at most ${MAX_DESCRIPTION_LENGTH} characters.`,
      {
        field: 'description',
      },
    );
  return value;
}

/** The columns of a `schema` object; a 400 names the first bad one. */
export function checkSchema(value: unknown): DatasetColumn[] {
  const columns = (value as { columns?: unknown } | null)?.columns;
  if (typeof value !== 'object' || value === null || !Array.isArray(columns))
    throw new ValidationError('"schema" must be {"columns": [{"name", "type"}, …]}.', { field: 'schema' });
  if (columns.length === 0 || columns.length > MAX_COLUMNS)
    throw new ValidationError(`"schema.columns" must have 1–${MAX_COLUMNS} columns.`, {
      field: 'schema.columns',
    });
  const seen = new Set<string>();
  return columns.map((column: unknown, i) => {
    const field = `schema.columns[${i}]`;
    const { name, type } = (column ?? {}) as { name?: unknown; type?: unknown };
    if (typeof column !== 'object' || column === null || Array.isArray(column))
      throw new ValidationError(`"${field}" must be {"name", "type"}.`, { field });
    if (
      typeof name !== 'string' ||
      name.trim().length === 0 ||
      name.length > MAX_COLUMN_NAME_LENGTH ||
      hasControlCharacter(name)
    )
      throw new ValidationError(
        `"${field}.name" must be 1–${MAX_COLUMN_NAME_LENGTH} characters without control characters.`,
        { field: `${field}.name` },
      );
    if (typeof type !== 'string' || !(COLUMN_TYPES as readonly string[]).includes(type))
      throw new ValidationError(`"${field}.type" must be one of ${COLUMN_TYPES.join(', ')}.`, {
        field: `${field}.type`,
        allowed: COLUMN_TYPES,
      });
    // SQL names are case-insensitive in SQLite: two columns differing in case could not be told apart in a query.
    const key = name.toLowerCase();
    if (seen.has(key))
      throw new ValidationError(`Column name "${name}" is used twice (names are case-insensitive).`, {
        field: `${field}.name`,
      });
    seen.add(key);
    return { name, type: type as ColumnType };
  });
}

// ---------------------------------------------------------------------------------------------

export interface ListQuery {
  limit?: number;
  offset?: number;
  sort?: string;
  nameLike?: string;
}

export interface UploadOptions {
  updateMethod: 'REPLACE' | 'APPEND';
}

/**
 * A column renamed in place (same position, same type) keeps its PDP filters: they name columns
 * by name (as Domo's do), so each is renamed with it rather than left naming a column that is gone.
 */
async function renamePolicyColumns(
  tx: Executor,
  datasetId: string,
  old: readonly DatasetColumn[],
  columns: readonly DatasetColumn[],
): Promise<number> {
  const renamed = new Map<string, string>();
  old.forEach((c, i) => {
    if (columns[i] && columns[i].name !== c.name) renamed.set(c.name, columns[i].name);
  });
  if (renamed.size === 0) return 0;
  let changed = 0;
  const policies = await tx
    .selectFrom('dataset_policies')
    .select(['id', 'filters'])
    .where('dataset_id', '=', datasetId)
    .execute();
  for (const policy of policies) {
    const filters = JSON.parse(policy.filters) as Array<{ column: string }>;
    if (!filters.some((f) => renamed.has(f.column))) continue;
    const next = filters.map((f) => ({ ...f, column: renamed.get(f.column) ?? f.column }));
    await tx
      .updateTable('dataset_policies')
      .set({ filters: JSON.stringify(next) })
      .where('id', '=', policy.id)
      .execute();
    changed++;
  }
  return changed;
}

/** Writes change a dataset only for its owner or an Admin; everyone with `data.view` reads every dataset. */
export function assertDatasetOwnerOrAdmin(
  row: Pick<Selectable<DatasetsTable>, 'id' | 'owner_user_id'>,
  principal: Principal,
  what: string,
): void {
  if (isAdmin(principal) || principal.user?.id === row.owner_user_id) return;
  throw new ForbiddenError(`Only the DataSet's owner or an Admin may ${what}.`, { dataset: row.id });
}

export class DatasetsService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {}

  private get db() {
    return this.ctx.store.db;
  }

  private get postgres(): boolean {
    return this.ctx.store.dialect === 'postgres';
  }

  private async raw<R = Record<string, unknown>>(
    executor: Executor,
    text: string,
    parameters: unknown[] = [],
  ) {
    return executor.executeQuery<R>(CompiledQuery.raw(text, parameters));
  }

  private async findRow(id: string, executor: Executor = this.db): Promise<Selectable<DatasetsTable>> {
    const row = await executor.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError('DataSet', id);
    return row;
  }

  private async toDatasets(
    rows: Array<Selectable<DatasetsTable>>,
    executor: Executor = this.db,
  ): Promise<Dataset[]> {
    const ownerIds = [...new Set(rows.map((r) => r.owner_user_id))];
    const owners =
      ownerIds.length === 0
        ? []
        : await executor
            .selectFrom('users')
            .select(['id', 'display_name'])
            .where('id', 'in', ownerIds)
            .execute();
    const names = new Map(owners.map((o) => [o.id, o.display_name]));
    return rows.map((row) => {
      const columns = JSON.parse(row.columns) as DatasetColumn[];
      return {
        id: row.id,
        name: row.name,
        description: row.description,
        rows: Number(row.row_count),
        columns: columns.length,
        schema: { columns },
        owner: { id: row.owner_user_id, name: names.get(row.owner_user_id) ?? '' },
        createdAt: row.created_at,
        updatedAt: row.updated_at,
        dataCurrentAt: row.data_current_at,
        pdpEnabled: row.pdp_enabled === 1,
      };
    });
  }

  private async toDataset(row: Selectable<DatasetsTable>, executor: Executor = this.db): Promise<Dataset> {
    return (await this.toDatasets([row], executor))[0] as Dataset;
  }

  private assertOwnerOrAdmin(row: Selectable<DatasetsTable>, principal: Principal, what: string): void {
    assertDatasetOwnerOrAdmin(row, principal, what);
  }

  async list(query: ListQuery = {}): Promise<Dataset[]> {
    const limit = query.limit ?? MAX_LIST_LIMIT;
    const offset = query.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT)
      throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_LIST_LIMIT}.`, {
        field: 'limit',
      });
    if (!Number.isInteger(offset) || offset < 0 || offset > MAX_LIST_OFFSET)
      throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_LIST_OFFSET}.`, {
        field: 'offset',
      });
    const sort = query.sort ?? 'name';
    if (!(LIST_SORTS as readonly string[]).includes(sort))
      throw new ValidationError(`"sort" must be one of ${LIST_SORTS.join(', ')}.`, { field: 'sort' });
    let q = this.db.selectFrom('datasets').selectAll();
    if (query.nameLike) q = q.where('name_key', 'like', likePattern(query.nameLike.toLowerCase()));
    q = sort === 'name' ? q.orderBy('name_key').orderBy('id') : q.orderBy('updated_at', 'desc').orderBy('id');
    return this.toDatasets(await q.limit(limit).offset(offset).execute());
  }

  async get(id: string): Promise<Dataset> {
    return this.toDataset(await this.findRow(id));
  }

  /** The datasets of `ids` that exist, by id (one query each for datasets and owners). */
  async getMany(ids: readonly string[]): Promise<Map<string, Dataset>> {
    if (ids.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('datasets')
      .selectAll()
      .where('id', 'in', [...new Set(ids)])
      .execute();
    return new Map((await this.toDatasets(rows)).map((d) => [d.id, d]));
  }

  /**
   * `alsoInTransaction` writes what belongs with the new DataSet in the same transaction (the
   * Streams API's stream), so the two exist together or not at all.
   */
  async create(
    input: { name: unknown; description?: unknown; schema: unknown },
    principal: Principal,
    actor: Actor,
    alsoInTransaction?: (tx: Tx, datasetId: string) => Promise<void>,
  ): Promise<Dataset> {
    const name = checkName(input.name);
    const description = checkDescription(input.description);
    const columns = checkSchema(input.schema);
    const ownerId = principal.user?.id;
    if (ownerId === undefined)
      throw new ForbiddenError('Only a user (or a client acting for one) may own a DataSet.');
    const id = crypto.randomUUID();
    const now = this.ctx.clock.now().toISOString();
    await this.ctx.store.transaction(async (tx) => {
      await tx
        .insertInto('datasets')
        .values({
          id,
          name,
          name_key: name.toLowerCase(),
          description,
          owner_user_id: ownerId,
          columns: JSON.stringify(columns),
          row_count: 0,
          pdp_enabled: 0,
          created_at: now,
          updated_at: now,
          data_current_at: null,
        })
        .execute();
      await this.raw(tx, createTableSql(this.ctx.store.dialect, dataTable(id), columns));
      await this.audit.record(tx, {
        actor,
        action: 'dataset.created',
        target: { type: 'dataset', id },
        details: { name, columns: columns.length },
      });
      await alsoInTransaction?.(tx, id);
    });
    return this.get(id);
  }

  /**
   * Name, description, schema and `pdpEnabled` (PDP policies apply to exports and queries while it
   * is on; see dataset-policies.ts). With rows stored, a schema may rename columns and add columns
   * at the end (their values null), but not drop or retype one (409: replace the data of a new
   * dataset instead); without rows any schema goes.
   */
  async update(
    id: string,
    input: { name?: unknown; description?: unknown; schema?: unknown; pdpEnabled?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<Dataset> {
    const name = input.name === undefined ? undefined : checkName(input.name);
    if (input.pdpEnabled !== undefined && typeof input.pdpEnabled !== 'boolean')
      throw new ValidationError('"pdpEnabled" must be true or false.', { field: 'pdpEnabled' });
    const pdpEnabled = input.pdpEnabled as boolean | undefined;
    const description = input.description === undefined ? undefined : checkDescription(input.description);
    const columns = input.schema === undefined ? undefined : checkSchema(input.schema);
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(id, tx);
      this.assertOwnerOrAdmin(row, principal, 'change it');
      const now = this.ctx.clock.now().toISOString();
      let schemaChange: string | undefined;
      let policiesRenamed = 0;
      if (columns) {
        const old = JSON.parse(row.columns) as DatasetColumn[];
        const table = dataTable(id);
        const sameTypes = old.every((c, i) => columns[i]?.type === c.type);
        if (Number(row.row_count) === 0 && !(sameTypes && columns.length >= old.length)) {
          await this.raw(tx, `drop table ${quoteIdent(table)}`);
          await this.raw(tx, createTableSql(this.ctx.store.dialect, table, columns));
          schemaChange = 'recreated';
        } else {
          if (columns.length < old.length || !sameTypes) {
            const i = old.findIndex((c, j) => columns[j]?.type !== c.type);
            throw new ConflictError(
              i === -1
                ? `The DataSet has ${row.row_count} rows: its schema may rename and add columns, not remove them.`
                : `The DataSet has ${row.row_count} rows: column ${i + 1} ("${old[i]?.name}") cannot change type from ${old[i]?.type}. Create a new DataSet, or change the schema before importing data.`,
              { field: 'schema.columns' },
            );
          }
          const types = this.postgres ? PG_TYPES : SQLITE_TYPES;
          for (let i = old.length; i < columns.length; i++)
            await this.raw(
              tx,
              `alter table ${quoteIdent(table)} add column "c${i}" ${types[columns[i]!.type]}`,
            );
          schemaChange = columns.length > old.length ? 'columns added' : 'renamed';
          policiesRenamed = await renamePolicyColumns(tx, id, old, columns);
        }
      }
      await tx
        .updateTable('datasets')
        .set({
          ...(name !== undefined ? { name, name_key: name.toLowerCase() } : {}),
          ...(description !== undefined ? { description } : {}),
          ...(columns ? { columns: JSON.stringify(columns) } : {}),
          ...(pdpEnabled !== undefined ? { pdp_enabled: pdpEnabled ? 1 : 0 } : {}),
          updated_at: now,
        })
        .where('id', '=', id)
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'dataset.updated',
        target: { type: 'dataset', id },
        details: {
          ...(name !== undefined ? { name } : {}),
          ...(description !== undefined ? { description: true } : {}),
          ...(schemaChange ? { schema: schemaChange, columns: columns?.length } : {}),
          ...(pdpEnabled !== undefined ? { pdpEnabled } : {}),
          ...(policiesRenamed > 0 ? { policiesRenamed } : {}),
        },
      });
    });
    return this.get(id);
  }

  async delete(id: string, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(id, tx);
      this.assertOwnerOrAdmin(row, principal, 'delete it');
      await tx.deleteFrom('datasets').where('id', '=', id).execute();
      await this.raw(tx, `drop table if exists ${quoteIdent(dataTable(id))}`);
      await this.audit.record(tx, {
        actor,
        action: 'dataset.deleted',
        target: { type: 'dataset', id },
        details: { name: row.name, rows: Number(row.row_count) },
      });
    });
  }

  /**
   * Imports a CSV body (no header row) read from `body` as it arrives: every value is checked
   * against the schema and the rows go to a staging table in batches; then one short transaction
   * replaces or appends. A bad value answers 400 naming the row, the column and the value, and
   * the dataset is as it was.
   */
  async importCsv(
    id: string,
    body: Readable,
    options: UploadOptions,
    principal: Principal,
    actor: Actor,
  ): Promise<Dataset> {
    const row = await this.findRow(id);
    this.assertOwnerOrAdmin(row, principal, 'import data into it');
    const columns = JSON.parse(row.columns) as DatasetColumn[];
    const table = dataTable(id);
    const staging = stagingTableName(table);
    const store = this.ctx.store;
    await createStagingTable(store, staging, columns);
    try {
      const count = await loadCsv(store, staging, columns, body, {
        maxBytes: this.ctx.config.datasetMaxUploadBytes,
      });
      const now = this.ctx.clock.now().toISOString();
      await this.ctx.store.transaction(async (tx) => {
        const current = await this.findRow(id, tx);
        if (current.columns !== row.columns)
          throw new ConflictError(
            'The DataSet\u2019s schema changed during the import; nothing was imported.',
          );
        let total: number;
        if (options.updateMethod === 'REPLACE') {
          await replaceWith(tx, store.dialect, table, staging);
          total = count;
        } else {
          await appendFrom(tx, table, staging, columns);
          total = Number(current.row_count) + count;
        }
        await tx
          .updateTable('datasets')
          .set({ row_count: total, data_current_at: now, updated_at: now })
          .where('id', '=', id)
          .execute();
        await this.audit.record(tx, {
          actor,
          action: options.updateMethod === 'REPLACE' ? 'dataset.data_replaced' : 'dataset.data_appended',
          target: { type: 'dataset', id },
          details: { rows: count, total },
        });
      });
    } finally {
      await dropTable(store, staging).catch((error: unknown) => {
        this.ctx.log.warn({ err: error, table: staging }, 'could not drop a dataset staging table');
      });
    }
    return this.get(id);
  }

  /** Drops stale staging tables and old retired tables (see `sweepStaleTables`); returns how many. */
  async sweepTables(): Promise<number> {
    const dropped = await sweepStaleTables(this.ctx.store);
    if (dropped.length > 0) this.ctx.log.info({ tables: dropped }, 'dropped stale DataSet tables');
    return dropped.length;
  }

  /**
   * The rows as CSV, in import order, streamed a page at a time (dataset-export.ts: no
   * connection, snapshot or lock is held while the client reads; a REPLACE meanwhile does not
   * change what this export sends).
   */
  async exportCsv(
    id: string,
    options: { includeHeader: boolean },
    filter: RowFilter = { kind: 'all' },
  ): Promise<Readable> {
    const row = await this.findRow(id);
    const columns = JSON.parse(row.columns) as DatasetColumn[];
    // The caller's PDP row filter: a condition over c<i> with `?` values (none: the header only).
    return exportRows(this.ctx.store, dataTable(id), columns, {
      includeHeader: options.includeHeader,
      ...(filter.kind === 'none' ? { noRows: true } : {}),
      ...(filter.kind === 'where'
        ? { where: { sql: filter.sql, params: filter.parameters as ExportParameter[] } }
        : {}),
    });
  }
}
