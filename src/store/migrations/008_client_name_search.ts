/**
 * A trigram index for the client list's `?name=` filter (a case-insensitive substring of the
 * name), so a name few clients have is found without reading every client (issue 17).
 *
 * - SQLite: an FTS5 table with the trigram tokenizer over `name_key` (the lower-cased name),
 *   holding the client id beside it, kept in step with `api_clients` by triggers. Its rowid is
 *   the client row's rowid at insert time; the triggers find rows by `id`, which never changes.
 * - PostgreSQL: a GIN index with pg_trgm's `gin_trgm_ops` on `name_key`, which `LIKE '%…%'`
 *   uses. pg_trgm is a trusted extension (PostgreSQL 13+: any role that may create objects in
 *   the database can add it); it is created in the `public` schema, or used where it already is,
 *   because a Gatehouse schema may be dropped with its contents. When it cannot be created (the
 *   server lacks the contrib package, or PostgreSQL < 13 and the role is not a superuser) the
 *   migration goes on without the index (the filter then reads every client, as before) and a
 *   DBA can add it later:
 *   `create extension pg_trgm; create index api_clients_name_trgm_idx on <schema>.api_clients
 *   using gin (name_key gin_trgm_ops);`
 *
 * `src/services/clients.ts` (`nameCandidates`) says how the list uses them.
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';

export const clientNameSearch = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    if (dialect === 'sqlite') {
      await sql`create virtual table api_clients_name_fts using fts5(name_key, id unindexed, tokenize = 'trigram')`.execute(
        db,
      );
      await sql`insert into api_clients_name_fts (rowid, name_key, id) select rowid, name_key, id from api_clients`.execute(
        db,
      );
      await sql`create trigger api_clients_name_fts_insert after insert on api_clients begin
          insert into api_clients_name_fts (rowid, name_key, id) values (new.rowid, new.name_key, new.id);
        end`.execute(db);
      await sql`create trigger api_clients_name_fts_update after update of name_key on api_clients begin
          update api_clients_name_fts set name_key = new.name_key where id = old.id;
        end`.execute(db);
      await sql`create trigger api_clients_name_fts_delete after delete on api_clients begin
          delete from api_clients_name_fts where id = old.id;
        end`.execute(db);
      return;
    }
    // A failed CREATE EXTENSION would abort the migration's transaction: try it in a savepoint.
    await sql`savepoint gatehouse_pg_trgm`.execute(db);
    try {
      await sql`create extension if not exists pg_trgm with schema public`.execute(db);
      await sql`release savepoint gatehouse_pg_trgm`.execute(db);
    } catch {
      await sql`rollback to savepoint gatehouse_pg_trgm`.execute(db);
    }
    const { rows } = await sql<{ schema: string }>`
      select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'pg_trgm'`.execute(db);
    const schema = rows[0]?.schema;
    if (schema === undefined) return;
    await sql`create index api_clients_name_trgm_idx on api_clients using gin (name_key ${sql.id(schema, 'gin_trgm_ops')})`.execute(
      db,
    );
  },
};
