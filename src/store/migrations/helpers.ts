import type { CreateTableBuilder } from 'kysely';
import type { Dialect } from '../index.js';

/** An auto-incrementing integer primary key on either dialect. */
export function withIdColumn<T extends string>(
  table: CreateTableBuilder<T, never>,
  dialect: Dialect,
  column = 'id',
): CreateTableBuilder<T, string> {
  return dialect === 'postgres'
    ? table.addColumn(column, 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn(column, 'integer', (c) => c.primaryKey().autoIncrement());
}
