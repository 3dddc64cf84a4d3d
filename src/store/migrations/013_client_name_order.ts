/**
 * The client list's `?name=` filter read in list order (issue 17). Migration 008's trigram
 * indexes found the clients whose name contains a fragment, but in no useful order: a page of
 * the newest matches had to read every match (or walk the whole list when there were many), so
 * a common fragment whose matches sit at the old end of the list cost one pass over all clients
 * (31 ms on SQLite, 59 ms on PostgreSQL at 100k). This keeps the trigram postings in list order
 * (created_at, id), so a page reads its own matches and stops.
 *
 * - SQLite: the FTS5 trigram table is rebuilt with rowids that follow created_at: the rowid is
 *   the creation time in milliseconds since 1970 times 2^20, plus a sequence number among the
 *   clients created in the same millisecond. FTS5 walks a phrase's postings in rowid order,
 *   newest first (`order by rowid desc`), and takes a rowid range, so a page is the first
 *   `limit` matches from the cursor's millisecond down. Within one millisecond the sequence is
 *   not the id order; `src/services/clients.ts` sorts that millisecond's matches (only that
 *   millisecond's) itself. Times in ms fit 43 bits, so the rowid fits 63 bits until the year
 *   2248; over 2^20 clients created in one millisecond would collide (the insert then fails).
 * - PostgreSQL: a table of (trigram, created_at, client_id), one row per distinct trigram of a
 *   client's `name_key` (3 characters, any characters), keyed in that order, and a count per
 *   trigram. A fragment's page walks its rarest trigram's rows newest first from the cursor,
 *   joins each to its client to check the whole fragment, and stops after the page. Kept by
 *   statement-level triggers (one statement for a bulk insert). pg_trgm's GIN index of 008 is
 *   no longer used and is dropped (the extension, if 008 made it, is left: others may use it).
 *   It costs space: ~190 bytes per (client, distinct trigram of its name) with its index, so
 *   100k clients named like "client 12345" take ~190 MB.
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';

/** SQLite: the milliseconds since 1970 of an ISO time, exactly (julianday keeps integer ms). */
const msOf = (column: string) =>
  `(cast(round(julianday(${column}) * 86400000) as integer) - 210866760000000)`;

export const clientNameOrder = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    if (dialect === 'sqlite') {
      for (const name of ['insert', 'update', 'delete']) {
        await sql`drop trigger if exists ${sql.id(`api_clients_name_fts_${name}`)}`.execute(db);
      }
      await sql`drop table if exists api_clients_name_fts`.execute(db);
      await sql`create virtual table api_clients_name_fts using fts5(name_key, id unindexed, tokenize = 'trigram')`.execute(
        db,
      );
      await sql
        .raw(
          `insert into api_clients_name_fts (rowid, name_key, id)
           select ms * 1048576 + row_number() over (partition by ms order by id) - 1, name_key, id
           from (select ${msOf('created_at')} as ms, name_key, id from api_clients)`,
        )
        .execute(db);
      await sql`insert into api_clients_name_fts (api_clients_name_fts) values ('optimize')`.execute(db);
      // The next free rowid of a millisecond: one past the highest already taken in it.
      const insertRow = (row: string) => `
        insert into api_clients_name_fts (rowid, name_key, id)
          select coalesce((select max(rowid) + 1 from api_clients_name_fts where rowid >= b and rowid < b + 1048576), b),
            ${row}.name_key, ${row}.id
          from (select ${msOf(`${row}.created_at`)} * 1048576 as b);`;
      const deleteRow = (row: string) => `
        delete from api_clients_name_fts
          where rowid >= ${msOf(`${row}.created_at`)} * 1048576 and rowid < (${msOf(`${row}.created_at`)} + 1) * 1048576
            and id = ${row}.id;`;
      await sql
        .raw(
          `create trigger api_clients_name_fts_insert after insert on api_clients begin ${insertRow('new')} end`,
        )
        .execute(db);
      await sql
        .raw(
          `create trigger api_clients_name_fts_update after update of name_key, created_at on api_clients begin
            ${deleteRow('old')} ${insertRow('new')} end`,
        )
        .execute(db);
      await sql
        .raw(
          `create trigger api_clients_name_fts_delete after delete on api_clients begin ${deleteRow('old')} end`,
        )
        .execute(db);
      return;
    }

    await sql`drop index if exists api_clients_name_trgm_idx`.execute(db);
    await sql`create table api_client_name_trigrams (
        trigram text not null,
        created_at text not null,
        client_id text not null references api_clients (id) on delete cascade,
        primary key (trigram, created_at, client_id)
      )`.execute(db);
    await sql`create table api_client_name_trigram_counts (trigram text primary key, clients bigint not null)`.execute(
      db,
    );
    // Every distinct 3-character piece of each name_key (characters, as substr counts them).
    const trigramsOf = (rows: string) => `
      select distinct substr(c.name_key, i, 3) as trigram, c.created_at, c.id as client_id
      from ${rows} c cross join lateral generate_series(1, char_length(c.name_key) - 2) as i`;
    await sql
      .raw(
        `insert into api_client_name_trigrams (trigram, created_at, client_id) ${trigramsOf('api_clients')}`,
      )
      .execute(db);
    await sql`insert into api_client_name_trigram_counts (trigram, clients)
      select trigram, count(*) from api_client_name_trigrams group by trigram`.execute(db);
    // Counts change in trigram order, so two creating transactions lock the rows in one order.
    const count = (rows: string, sign: '' | '-') => `
      insert into api_client_name_trigram_counts as t (trigram, clients)
        select trigram, ${sign}count(*) from (${trigramsOf(rows)}) x group by trigram order by trigram
        on conflict (trigram) do update set clients = t.clients + excluded.clients;`;
    await sql
      .raw(
        `create function api_clients_name_trigrams_added() returns trigger language plpgsql as $$
          begin
            insert into api_client_name_trigrams (trigram, created_at, client_id) ${trigramsOf('added')};
            ${count('added', '')}
            return null;
          end $$`,
      )
      .execute(db);
    // The rows go with their client (on delete cascade); the counts are taken down here.
    await sql
      .raw(
        `create function api_clients_name_trigrams_removed() returns trigger language plpgsql as $$
          begin
            ${count('removed', '-')}
            return null;
          end $$`,
      )
      .execute(db);
    await sql
      .raw(
        `create function api_clients_name_trigrams_changed() returns trigger language plpgsql as $$
          begin
            if new.name_key is distinct from old.name_key or new.created_at is distinct from old.created_at then
              delete from api_client_name_trigrams where client_id = old.id;
              insert into api_client_name_trigrams (trigram, created_at, client_id)
                select distinct substr(new.name_key, i, 3), new.created_at, new.id
                from generate_series(1, char_length(new.name_key) - 2) as i;
              insert into api_client_name_trigram_counts as t (trigram, clients)
                select trigram, sum(n) from (
                  (select distinct substr(old.name_key, i, 3) as trigram, -1 as n
                    from generate_series(1, char_length(old.name_key) - 2) as i)
                  union all
                  (select distinct substr(new.name_key, i, 3), 1
                    from generate_series(1, char_length(new.name_key) - 2) as i)
                ) x group by trigram order by trigram
                on conflict (trigram) do update set clients = t.clients + excluded.clients;
            end if;
            return null;
          end $$`,
      )
      .execute(db);
    await sql`create trigger api_clients_name_trigrams_insert after insert on api_clients
      referencing new table as added for each statement execute function api_clients_name_trigrams_added()`.execute(
      db,
    );
    await sql`create trigger api_clients_name_trigrams_delete after delete on api_clients
      referencing old table as removed for each statement execute function api_clients_name_trigrams_removed()`.execute(
      db,
    );
    await sql`create trigger api_clients_name_trigrams_update after update of name_key, created_at on api_clients
      for each row execute function api_clients_name_trigrams_changed()`.execute(db);
  },
};
