/**
 * Personalized data permissions (PDP) of DataSets (issue #15, Domo's `/v1/datasets/{id}/policies`).
 *
 * A policy names the users and groups it applies to and a list of filters
 * (`{column, values, operator, not}`); when the DataSet's `pdpEnabled` is on, exports and queries
 * show a caller the union of the rows their policies allow. Filters within one policy are ANDed; a
 * policy with no filters allows every row (Domo's "All Rows" policy). No policy → no row. The
 * DataSet's owner and Admins always see every row (so does the operator on the CLI).
 *
 * Semantics, chosen where Domo leaves them open (also in the README, "Personalized data permissions"):
 * - EQUALS: the value is one of `values`. LIKE: one of `values` occurs in the value, ignoring case
 *   (SQLite folds ASCII letters only, PostgreSQL every letter). CONTAINS, BEGINS_WITH, ENDS_WITH: one
 *   of `values` occurs in / starts / ends the value, case-sensitively. These four are for STRING
 *   columns only; `%`, `_` (and on SQLite's GLOB `*`, `?`, `[`) in a value are plain characters.
 * - GREATER_THAN, LESS_THAN, GREATER_THAN_EQUAL, LESS_THAN_EQUAL take one value, BETWEEN two
 *   (inclusive; a low bound above the high one matches nothing). Values are read as the column's
 *   type: numbers for LONG/DOUBLE/DECIMAL, `YYYY-MM-DD` for DATE, a date-time (or a date, taken
 *   as midnight UTC) for DATETIME, and STRING compares by code point on both stores.
 * - A null never matches a filter; `not` is the complement of its filter, so it does match nulls.
 * - A value may not be empty: an empty CSV field is stored as null, which no value equals.
 * - Renaming a column in place (`PUT /v1/datasets/{id}`, same position and type) renames it in the
 *   filters too (datasets.ts). A filter whose column has since been removed, or retyped so that its
 *   values no longer fit (a new schema on an empty DataSet), matches nothing: its policy then
 *   allows no row until it is updated (fail closed).
 *   A deleted user or group drops out of every policy (foreign-key cascade); deleting a DataSet
 *   deletes its policies.
 * - Creating a policy turns `pdpEnabled` on (a policy is only made to be applied); `PUT
 *   /v1/datasets/{id}` with `pdpEnabled` turns it on or off. Deleting the last policy leaves it on,
 *   so everyone but the owner and Admins sees no rows until it is turned off.
 *
 * The row filter is SQL over the DataSet's physical columns (`"c0"`, `"c1"`, …) with `?` for every
 * value (never a literal), built for the store's dialect; `toPostgresPlaceholders` numbers them.
 */
import type { Selectable } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import { type Dialect, type Executor, isForeignKeyViolation } from '../store/index.js';
import type { DatasetsTable } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import {
  assertDatasetOwnerOrAdmin,
  type ColumnType,
  convertValue,
  type DatasetColumn,
  hasControlCharacter,
} from './datasets.js';
import { isAdmin, type Principal } from './principal.js';
import { MAX_ROW_ID } from './row-id.js';

export { toPostgresPlaceholders } from '../store/index.js';

export const POLICY_OPERATORS = [
  'EQUALS',
  'LIKE',
  'GREATER_THAN',
  'LESS_THAN',
  'GREATER_THAN_EQUAL',
  'LESS_THAN_EQUAL',
  'BETWEEN',
  'BEGINS_WITH',
  'ENDS_WITH',
  'CONTAINS',
] as const;
export type PolicyOperator = (typeof POLICY_OPERATORS)[number];
export const POLICY_TYPES = ['user', 'system'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

export interface PolicyFilter {
  column: string;
  values: string[];
  operator: PolicyOperator;
  not: boolean;
}

/** A policy as Domo answers it. */
export interface DatasetPolicy {
  id: number;
  type: PolicyType;
  name: string;
  filters: PolicyFilter[];
  users: number[];
  groups: number[];
}

export interface PolicyInput {
  name?: unknown;
  type?: unknown;
  users?: unknown;
  groups?: unknown;
  filters?: unknown;
}

/**
 * Which rows of a DataSet a caller may read: every row, none, or those where `sql` (a boolean
 * expression over the physical columns `"c<i>"`, values only as `?` placeholders, in order of
 * `parameters`) is true. On PostgreSQL number the placeholders with `toPostgresPlaceholders`.
 * The query compiler (dataset-sql.ts) and the export apply it.
 */
export type RowFilter =
  | { kind: 'all' }
  | { kind: 'none' }
  | { kind: 'where'; sql: string; parameters: unknown[] };

export const ALL_ROWS: RowFilter = Object.freeze({ kind: 'all' });
export const NO_ROWS: RowFilter = Object.freeze({ kind: 'none' });

export const MAX_POLICY_NAME_LENGTH = 200;
export const MAX_POLICIES_PER_DATASET = 1000;
export const MAX_FILTERS_PER_POLICY = 100;
export const MAX_VALUES_PER_FILTER = 1000;
export const MAX_VALUE_LENGTH = 1000;
export const MAX_POLICY_MEMBERS = 10_000;
/**
 * All values of all a DataSet's policies. One caller may be in every policy, and a value binds at
 * most two parameters: 20,000 stays under SQLite's 32,766 and PostgreSQL's 65,535.
 */
export const MAX_VALUES_PER_DATASET = 10_000;

const STRING_ONLY: ReadonlySet<PolicyOperator> = new Set(['LIKE', 'CONTAINS', 'BEGINS_WITH', 'ENDS_WITH']);
const ONE_VALUE: ReadonlySet<PolicyOperator> = new Set([
  'GREATER_THAN',
  'LESS_THAN',
  'GREATER_THAN_EQUAL',
  'LESS_THAN_EQUAL',
]);
const COMPARE: Record<string, string> = {
  GREATER_THAN: '>',
  LESS_THAN: '<',
  GREATER_THAN_EQUAL: '>=',
  LESS_THAN_EQUAL: '<=',
};
const PG_CAST: Record<ColumnType, string> = {
  STRING: 'text',
  LONG: 'bigint',
  DECIMAL: 'numeric',
  DOUBLE: 'double precision',
  DATE: 'date',
  DATETIME: 'timestamptz',
};
const DATE_ONLY = /^\s*\d{4}-\d{2}-\d{2}\s*$/;

// ---------------------------------------------------------------------------------------------
// Filter SQL

/** A filter value as the column's type stores it (bound as such), or why it is not one. */
function filterValue(
  type: ColumnType,
  raw: string,
  dialect: Dialect,
): { value: unknown } | { error: string } {
  if (raw === '') return { error: 'empty (an empty field is stored as null, which no value equals)' };
  const text = type === 'DATETIME' && DATE_ONLY.test(raw) ? `${raw.trim()}T00:00:00Z` : raw;
  const converted = convertValue(type, text);
  if ('error' in converted) return converted;
  // SQLite keeps DECIMAL as a number (NUMERIC affinity); PostgreSQL's numeric takes the digits as written.
  if (type === 'DECIMAL' && dialect === 'sqlite') return { value: Number(converted.value) };
  return { value: converted.value };
}

/** `%`, `_` and `\` as plain characters in a LIKE pattern (with `escape '\'`). */
function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** `*`, `?` and `[` as plain characters in a SQLite GLOB pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[]/g, (c) => `[${c}]`);
}

/**
 * One filter as SQL over `"c<index>"`, or undefined when it cannot match any row now (its column
 * is gone or retyped so that a value no longer fits).
 */
function filterSql(
  filter: PolicyFilter,
  columns: readonly DatasetColumn[],
  dialect: Dialect,
): { sql: string; parameters: unknown[] } | undefined {
  const index = columns.findIndex((c) => c.name === filter.column);
  const column = columns[index];
  if (!column || !POLICY_OPERATORS.includes(filter.operator)) return undefined;
  if (STRING_ONLY.has(filter.operator) && column.type !== 'STRING') return undefined;
  const values: unknown[] = [];
  for (const raw of filter.values) {
    const converted = filterValue(column.type, raw, dialect);
    if ('error' in converted) return undefined;
    values.push(converted.value);
  }
  if (values.length === 0) return undefined;
  const name = `"c${index}"`;
  const pg = dialect === 'postgres';
  const param = pg ? `cast(? as ${PG_CAST[column.type]})` : '?';
  // STRING order is by code point on both: SQLite's BINARY collation, PostgreSQL's "C".
  const ordered = pg && column.type === 'STRING' ? `${name} collate "C"` : name;
  const any = (one: (value: string) => { sql: string; parameters: unknown[] }) => {
    const parts = (values as string[]).map(one);
    return {
      sql: parts.length === 1 ? parts[0]!.sql : `(${parts.map((p) => p.sql).join(' or ')})`,
      parameters: parts.flatMap((p) => p.parameters),
    };
  };
  let positive: { sql: string; parameters: unknown[] };
  switch (filter.operator) {
    case 'EQUALS':
      positive =
        values.length === 1
          ? { sql: `${name} = ${param}`, parameters: values }
          : { sql: `${name} in (${values.map(() => param).join(', ')})`, parameters: values };
      break;
    case 'GREATER_THAN':
    case 'LESS_THAN':
    case 'GREATER_THAN_EQUAL':
    case 'LESS_THAN_EQUAL':
      if (values.length !== 1) return undefined;
      positive = { sql: `${ordered} ${COMPARE[filter.operator]} ${param}`, parameters: values };
      break;
    case 'BETWEEN':
      if (values.length !== 2) return undefined;
      positive = { sql: `${ordered} between ${param} and ${param}`, parameters: values };
      break;
    case 'LIKE':
      positive = any((v) => ({
        sql: `lower(${name}) like lower(${param}) escape ?`,
        parameters: [`%${likeEscape(v)}%`, '\\'],
      }));
      break;
    case 'CONTAINS':
    case 'BEGINS_WITH':
    case 'ENDS_WITH': {
      const before = filter.operator === 'BEGINS_WITH' ? '' : pg ? '%' : '*';
      const after = filter.operator === 'ENDS_WITH' ? '' : pg ? '%' : '*';
      // SQLite's LIKE ignores ASCII case; its GLOB is the case-sensitive match.
      positive = any((v) =>
        pg
          ? { sql: `${name} like ${param} escape ?`, parameters: [`${before}${likeEscape(v)}${after}`, '\\'] }
          : { sql: `${name} glob ?`, parameters: [`${before}${globEscape(v)}${after}`] },
      );
      break;
    }
  }
  if (!filter.not) return positive;
  return { sql: `(${name} is null or not (${positive.sql}))`, parameters: positive.parameters };
}

/**
 * The rows `policies` allow together: the union over the policies of the AND of each one's
 * filters. No policy → none; a policy without filters → all.
 */
export function buildRowFilter(
  policies: ReadonlyArray<{ filters: readonly PolicyFilter[] }>,
  columns: readonly DatasetColumn[],
  dialect: Dialect,
): RowFilter {
  const allowed: Array<{ sql: string; parameters: unknown[] }> = [];
  for (const policy of policies) {
    if (policy.filters.length === 0) return ALL_ROWS;
    const parts: Array<{ sql: string; parameters: unknown[] }> = [];
    for (const filter of policy.filters) {
      const part = filterSql(filter, columns, dialect);
      if (!part) break;
      parts.push(part);
    }
    if (parts.length !== policy.filters.length) continue; // one filter can match nothing: neither can the policy
    allowed.push({
      sql: parts.length === 1 ? parts[0]!.sql : `(${parts.map((p) => p.sql).join(' and ')})`,
      parameters: parts.flatMap((p) => p.parameters),
    });
  }
  if (allowed.length === 0) return NO_ROWS;
  return {
    kind: 'where',
    sql: allowed.length === 1 ? allowed[0]!.sql : `(${allowed.map((p) => p.sql).join(' or ')})`,
    parameters: allowed.flatMap((p) => p.parameters),
  };
}

// ---------------------------------------------------------------------------------------------
// Input checks (the route's schema fixed the JSON types; these say which value is wrong and why)

function checkPolicyName(value: unknown): string {
  if (typeof value !== 'string') throw new ValidationError('"name" must be a string.', { field: 'name' });
  const name = value.normalize('NFC').trim();
  if (name.length === 0 || name.length > MAX_POLICY_NAME_LENGTH || hasControlCharacter(name))
    throw new ValidationError(
      `"name" must be 1–${MAX_POLICY_NAME_LENGTH} characters without control characters.`,
      { field: 'name' },
    );
  return name;
}

function checkType(value: unknown): PolicyType {
  if (typeof value !== 'string' || !(POLICY_TYPES as readonly string[]).includes(value))
    throw new ValidationError(`"type" must be one of ${POLICY_TYPES.join(', ')}.`, {
      field: 'type',
      allowed: POLICY_TYPES,
    });
  return value as PolicyType;
}

function checkIds(value: unknown, field: 'users' | 'groups'): number[] {
  if (!Array.isArray(value) || value.length > MAX_POLICY_MEMBERS)
    throw new ValidationError(`"${field}" must be an array of at most ${MAX_POLICY_MEMBERS} ids.`, { field });
  for (const id of value)
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_ROW_ID)
      throw new ValidationError(`"${field}" must hold whole-number ids.`, { field });
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

/** The filters of a policy, checked against the DataSet's columns; column names as the schema spells them. */
export function checkFilters(
  value: unknown,
  columns: readonly DatasetColumn[],
  dialect: Dialect,
): PolicyFilter[] {
  if (!Array.isArray(value) || value.length > MAX_FILTERS_PER_POLICY)
    throw new ValidationError(`"filters" must be an array of at most ${MAX_FILTERS_PER_POLICY} filters.`, {
      field: 'filters',
    });
  return value.map((item: unknown, i): PolicyFilter => {
    const field = `filters[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new ValidationError(`"${field}" must be {"column", "values", "operator", "not"}.`, { field });
    const { column, values, operator, not } = item as Record<string, unknown>;
    if (typeof column !== 'string')
      throw new ValidationError(`"${field}.column" must be a column name.`, { field: `${field}.column` });
    const schemaColumn = columns.find((c) => c.name.toLowerCase() === column.toLowerCase());
    if (!schemaColumn)
      throw new ValidationError(`"${field}.column": the DataSet has no column "${column}".`, {
        field: `${field}.column`,
        column,
      });
    if (typeof operator !== 'string' || !(POLICY_OPERATORS as readonly string[]).includes(operator))
      throw new ValidationError(`"${field}.operator" must be one of ${POLICY_OPERATORS.join(', ')}.`, {
        field: `${field}.operator`,
        allowed: POLICY_OPERATORS,
      });
    const op = operator as PolicyOperator;
    if (not !== undefined && typeof not !== 'boolean')
      throw new ValidationError(`"${field}.not" must be true or false.`, { field: `${field}.not` });
    if (STRING_ONLY.has(op) && schemaColumn.type !== 'STRING')
      throw new ValidationError(
        `"${field}.operator": ${op} applies to STRING columns; "${schemaColumn.name}" is ${schemaColumn.type}.`,
        { field: `${field}.operator`, column: schemaColumn.name, type: schemaColumn.type },
      );
    const count = op === 'BETWEEN' ? 2 : ONE_VALUE.has(op) ? 1 : undefined;
    if (
      !Array.isArray(values) ||
      values.length === 0 ||
      values.length > MAX_VALUES_PER_FILTER ||
      (count !== undefined && values.length !== count)
    )
      throw new ValidationError(
        count === undefined
          ? `"${field}.values" must be an array of 1–${MAX_VALUES_PER_FILTER} strings.`
          : `"${field}.values": ${op} takes ${count === 1 ? 'one value' : 'two values (low, high)'}.`,
        { field: `${field}.values` },
      );
    values.forEach((raw: unknown, j) => {
      const where = `${field}.values[${j}]`;
      if (typeof raw !== 'string' || raw.length > MAX_VALUE_LENGTH)
        throw new ValidationError(`"${where}" must be a string of at most ${MAX_VALUE_LENGTH} characters.`, {
          field: where,
        });
      const converted = filterValue(schemaColumn.type, raw, dialect);
      if ('error' in converted) {
        const shown = raw.length > 100 ? `${raw.slice(0, 100)}…` : raw;
        throw new ValidationError(
          `"${where}": "${shown}" is ${converted.error} for column "${schemaColumn.name}" (${schemaColumn.type}).`,
          {
            field: where,
            column: schemaColumn.name,
            type: schemaColumn.type,
            value: shown,
            reason: converted.error,
          },
        );
      }
    });
    return { column: schemaColumn.name, values: values as string[], operator: op, not: not === true };
  });
}

// ---------------------------------------------------------------------------------------------

type PolicyRow = { id: number; name: string; type: string; filters: string };

export class DatasetPoliciesService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {}

  private get db() {
    return this.ctx.store.db;
  }

  private async dataset(id: string, executor: Executor = this.db): Promise<Selectable<DatasetsTable>> {
    const row = await executor.selectFrom('datasets').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError('DataSet', id);
    return row;
  }

  private async policyRow(datasetId: string, policyId: number, executor: Executor): Promise<PolicyRow> {
    const row =
      Number.isInteger(policyId) && policyId >= 0 && policyId <= MAX_ROW_ID
        ? await executor
            .selectFrom('dataset_policies')
            .select(['id', 'name', 'type', 'filters'])
            .where('id', '=', policyId)
            .where('dataset_id', '=', datasetId)
            .executeTakeFirst()
        : undefined;
    if (!row) throw new NotFoundError('Policy', policyId);
    return row;
  }

  /** Policies with their users and groups, in the order of `rows`. */
  private async toPolicies(rows: PolicyRow[], executor: Executor = this.db): Promise<DatasetPolicy[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const [users, groups] = await Promise.all([
      executor
        .selectFrom('dataset_policy_users')
        .select(['policy_id', 'user_id as member'])
        .where('policy_id', 'in', ids)
        .orderBy('user_id')
        .execute(),
      executor
        .selectFrom('dataset_policy_groups')
        .select(['policy_id', 'group_id as member'])
        .where('policy_id', 'in', ids)
        .orderBy('group_id')
        .execute(),
    ]);
    const byPolicy = (links: Array<{ policy_id: number; member: number }>) => {
      const map = new Map<number, number[]>();
      for (const link of links) map.set(link.policy_id, [...(map.get(link.policy_id) ?? []), link.member]);
      return map;
    };
    const usersOf = byPolicy(users);
    const groupsOf = byPolicy(groups);
    return rows.map((row) => ({
      id: row.id,
      type: row.type as PolicyType,
      name: row.name,
      filters: JSON.parse(row.filters) as PolicyFilter[],
      users: usersOf.get(row.id) ?? [],
      groups: groupsOf.get(row.id) ?? [],
    }));
  }

  /** A 400 naming the ids in `ids` that name no row of `table`. */
  private async assertExist(
    executor: Executor,
    table: 'users' | 'groups',
    ids: readonly number[],
  ): Promise<void> {
    if (ids.length === 0) return;
    const found = new Set<number>();
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await executor
        .selectFrom(table)
        .select('id')
        .where('id', 'in', ids.slice(i, i + 1000))
        .execute();
      for (const row of rows) found.add(row.id);
    }
    const unknown = ids.filter((id) => !found.has(id));
    if (unknown.length > 0)
      throw new ValidationError(
        `"${table}": no ${table === 'users' ? 'user' : 'group'} has the id ${unknown.slice(0, 20).join(', ')}${unknown.length > 20 ? ', …' : ''}.`,
        { field: table, unknown: unknown.slice(0, 100) },
      );
  }

  private async setMembers(
    executor: Executor,
    policyId: number,
    users: readonly number[] | undefined,
    groups: readonly number[] | undefined,
  ): Promise<void> {
    if (users) {
      await executor.deleteFrom('dataset_policy_users').where('policy_id', '=', policyId).execute();
      for (let i = 0; i < users.length; i += 1000)
        await executor
          .insertInto('dataset_policy_users')
          .values(users.slice(i, i + 1000).map((user_id) => ({ policy_id: policyId, user_id })))
          .execute();
    }
    if (groups) {
      await executor.deleteFrom('dataset_policy_groups').where('policy_id', '=', policyId).execute();
      for (let i = 0; i < groups.length; i += 1000)
        await executor
          .insertInto('dataset_policy_groups')
          .values(groups.slice(i, i + 1000).map((group_id) => ({ policy_id: policyId, group_id })))
          .execute();
    }
  }

  /** 409-free but bounded: a DataSet's policies together hold at most MAX_VALUES_PER_DATASET values. */
  private async assertWithinLimits(
    executor: Executor,
    datasetId: string,
    filters: readonly PolicyFilter[],
    replacing?: number,
  ): Promise<void> {
    let q = executor
      .selectFrom('dataset_policies')
      .select(['id', 'filters'])
      .where('dataset_id', '=', datasetId);
    if (replacing !== undefined) q = q.where('id', '!=', replacing);
    const others = await q.execute();
    if (replacing === undefined && others.length >= MAX_POLICIES_PER_DATASET)
      throw new ValidationError(`A DataSet has at most ${MAX_POLICIES_PER_DATASET} policies.`);
    const count = (list: readonly PolicyFilter[]) => list.reduce((n, f) => n + f.values.length, 0);
    const total = others.reduce(
      (n, row) => n + count(JSON.parse(row.filters) as PolicyFilter[]),
      count(filters),
    );
    if (total > MAX_VALUES_PER_DATASET)
      throw new ValidationError(
        `A DataSet's policies hold at most ${MAX_VALUES_PER_DATASET} filter values together; this one would make ${total}.`,
        { field: 'filters' },
      );
  }

  /**
   * A write's transaction. The users, groups and DataSet it names were checked in it, but another
   * node may delete one before the insert (PostgreSQL, read committed): a 409, not a 500.
   */
  private async writing<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    try {
      return await this.ctx.store.transaction(work);
    } catch (error) {
      if (isForeignKeyViolation(error))
        throw new ConflictError('The DataSet, a user or a group was deleted meanwhile; nothing was changed.');
      throw error;
    }
  }

  async list(datasetId: string): Promise<DatasetPolicy[]> {
    await this.dataset(datasetId);
    const rows = await this.db
      .selectFrom('dataset_policies')
      .select(['id', 'name', 'type', 'filters'])
      .where('dataset_id', '=', datasetId)
      .orderBy('id')
      .execute();
    return this.toPolicies(rows);
  }

  async get(datasetId: string, policyId: number): Promise<DatasetPolicy> {
    await this.dataset(datasetId);
    const row = await this.policyRow(datasetId, policyId, this.db);
    return (await this.toPolicies([row]))[0]!;
  }

  /** Creates a policy and turns the DataSet's `pdpEnabled` on. */
  async create(
    datasetId: string,
    input: PolicyInput,
    principal: Principal,
    actor: Actor,
  ): Promise<DatasetPolicy> {
    const name = checkPolicyName(input.name);
    const type = input.type === undefined ? 'user' : checkType(input.type);
    const users = input.users === undefined ? [] : checkIds(input.users, 'users');
    const groups = input.groups === undefined ? [] : checkIds(input.groups, 'groups');
    if (input.filters === undefined)
      throw new ValidationError('"filters" is required (an empty list allows every row).', {
        field: 'filters',
      });
    const id = await this.writing(async (tx) => {
      const dataset = await this.dataset(datasetId, tx);
      assertDatasetOwnerOrAdmin(dataset, principal, 'change its policies');
      const columns = JSON.parse(dataset.columns) as DatasetColumn[];
      const filters = checkFilters(input.filters, columns, this.ctx.store.dialect);
      await this.assertExist(tx, 'users', users);
      await this.assertExist(tx, 'groups', groups);
      await this.assertWithinLimits(tx, datasetId, filters);
      const now = this.ctx.clock.now().toISOString();
      const row = await tx
        .insertInto('dataset_policies')
        .values({
          dataset_id: datasetId,
          name,
          type,
          filters: JSON.stringify(filters),
          created_at: now,
          updated_at: now,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.setMembers(tx, row.id, users, groups);
      const enabled = dataset.pdp_enabled !== 1;
      if (enabled)
        await tx
          .updateTable('datasets')
          .set({ pdp_enabled: 1, updated_at: now })
          .where('id', '=', datasetId)
          .execute();
      await this.audit.record(tx, {
        actor,
        action: 'dataset.policy_created',
        target: { type: 'dataset', id: datasetId },
        details: {
          policyId: row.id,
          name,
          type,
          filters: filters.length,
          users: users.length,
          groups: groups.length,
          ...(enabled ? { pdpEnabled: true } : {}),
        },
      });
      return row.id;
    });
    return this.get(datasetId, id);
  }

  /** Changes the given fields (name, type, users, groups, filters); the others stay. */
  async update(
    datasetId: string,
    policyId: number,
    input: PolicyInput,
    principal: Principal,
    actor: Actor,
  ): Promise<DatasetPolicy> {
    const name = input.name === undefined ? undefined : checkPolicyName(input.name);
    const type = input.type === undefined ? undefined : checkType(input.type);
    const users = input.users === undefined ? undefined : checkIds(input.users, 'users');
    const groups = input.groups === undefined ? undefined : checkIds(input.groups, 'groups');
    await this.writing(async (tx) => {
      const dataset = await this.dataset(datasetId, tx);
      assertDatasetOwnerOrAdmin(dataset, principal, 'change its policies');
      const current = await this.policyRow(datasetId, policyId, tx);
      const columns = JSON.parse(dataset.columns) as DatasetColumn[];
      const filters =
        input.filters === undefined
          ? undefined
          : checkFilters(input.filters, columns, this.ctx.store.dialect);
      if ([name, type, users, groups, filters].every((v) => v === undefined))
        throw new ValidationError('Nothing to update: give name, type, users, groups or filters.');
      if (users) await this.assertExist(tx, 'users', users);
      if (groups) await this.assertExist(tx, 'groups', groups);
      if (filters) await this.assertWithinLimits(tx, datasetId, filters, current.id);
      await tx
        .updateTable('dataset_policies')
        .set({
          ...(name !== undefined ? { name } : {}),
          ...(type !== undefined ? { type } : {}),
          ...(filters !== undefined ? { filters: JSON.stringify(filters) } : {}),
          updated_at: this.ctx.clock.now().toISOString(),
        })
        .where('id', '=', current.id)
        .execute();
      await this.setMembers(tx, current.id, users, groups);
      await this.audit.record(tx, {
        actor,
        action: 'dataset.policy_updated',
        target: { type: 'dataset', id: datasetId },
        details: {
          policyId: current.id,
          ...(name !== undefined ? { name: { from: current.name, to: name } } : {}),
          ...(type !== undefined ? { type } : {}),
          ...(filters !== undefined ? { filters: filters.length } : {}),
          ...(users !== undefined ? { users: users.length } : {}),
          ...(groups !== undefined ? { groups: groups.length } : {}),
        },
      });
    });
    return this.get(datasetId, policyId);
  }

  async delete(datasetId: string, policyId: number, principal: Principal, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      const dataset = await this.dataset(datasetId, tx);
      assertDatasetOwnerOrAdmin(dataset, principal, 'change its policies');
      const current = await this.policyRow(datasetId, policyId, tx);
      await tx.deleteFrom('dataset_policies').where('id', '=', current.id).execute();
      await this.audit.record(tx, {
        actor,
        action: 'dataset.policy_deleted',
        target: { type: 'dataset', id: datasetId },
        details: { policyId: current.id, name: current.name },
      });
    });
  }

  /**
   * The rows of a DataSet `principal` may read: all when PDP is off, for Admins and for the owner
   * (a client token counts as its owner user); else the union of the rows their policies allow
   * (as a named user or as a member of a named group), none without a policy.
   */
  async rowFilter(datasetId: string, principal: Principal, executor: Executor = this.db): Promise<RowFilter> {
    const dataset = await this.dataset(datasetId, executor);
    if (dataset.pdp_enabled !== 1 || isAdmin(principal)) return ALL_ROWS;
    const userId = principal.user?.id;
    if (userId === undefined) return NO_ROWS;
    if (userId === dataset.owner_user_id) return ALL_ROWS;
    const policies = await executor
      .selectFrom('dataset_policies')
      .select('filters')
      .where('dataset_id', '=', datasetId)
      .where((eb) =>
        eb.or([
          eb(
            'id',
            'in',
            eb.selectFrom('dataset_policy_users').select('policy_id').where('user_id', '=', userId),
          ),
          eb(
            'id',
            'in',
            eb
              .selectFrom('dataset_policy_groups')
              .innerJoin('group_members', 'group_members.group_id', 'dataset_policy_groups.group_id')
              .select('dataset_policy_groups.policy_id')
              .where('group_members.user_id', '=', userId),
          ),
        ]),
      )
      .orderBy('id')
      .execute();
    return buildRowFilter(
      policies.map((p) => ({ filters: JSON.parse(p.filters) as PolicyFilter[] })),
      JSON.parse(dataset.columns) as DatasetColumn[],
      this.ctx.store.dialect,
    );
  }
}
