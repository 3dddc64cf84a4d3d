/**
 * API clients (spec 004): created with a name, description, scopes and token
 * lifetime; the client ID and secret are shown once; only an HMAC of the secret
 * is stored. Clients cannot be edited, only revoked (final) or given a new
 * secret (the old one keeps working for a grace period; at most two live).
 *
 * The token endpoint reads clients, their secret hashes and their owners through
 * per-process caches dropped by the `clients`, `users` and `roles` cache epochs,
 * so a revoke or a disabled owner is seen by every node within the poll interval.
 * `last_used_at` is written in batches, never in the request path.
 */
import crypto from 'node:crypto';
import { type ExpressionBuilder, type RawBuilder, type Selectable, sql } from 'kysely';
import { addSeconds } from '../clock.js';
import { constantTimeEqual, randomHex } from '../crypto.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { inCatalogOrder, type Scope, SCOPES, validateClientScopes } from '../tokens/scopes.js';
import { type CacheEpochs, EpochCache, epochsOf } from '../store/epochs.js';
import type { ClientAuthFailureCause } from '../metrics.js';
import { type Executor, isUniqueViolation, likePattern } from '../store/index.js';
import { PreparedQuery } from '../store/prepared.js';
import type { ApiClientsTable, Database } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { LastUseRecorder } from './last-use.js';
import type { LiveUser, LiveUsers } from './live-users.js';
import { decodeCursor, encodeCursor, type Page, pageSize } from './pagination.js';
import { can, OPERATOR, type Principal } from './principal.js';
import { NO_SUCH_ROW, rowIdOf } from './row-id.js';
import { normaliseName } from './text.js';

export const SECRET_PURPOSE = 'client_secret';
export const MIN_TOKEN_TTL = 60;
export const MAX_TOKEN_TTL = 86_400;
export const DEFAULT_SECRET_GRACE_SECONDS = 86_400;
export const MAX_SECRET_GRACE_SECONDS = 30 * 86_400;
/** Length of the partial client ID shown in lists and used to name a client (`441e307a-b2a1`). */
export const CLIENT_REF_LENGTH = 13;
/**
 * Below `filterWalkMax` clients of an owner (or status), `?name=` checks each of them instead of
 * walking the name's postings (see fewClientsFor). A setting so tests can drive both plans.
 */
export const nameSearchTuning = { filterWalkMax: 1000 };
/** PostgreSQL: the most trigram postings read in one statement by a `?name=` page. */
const POSTINGS_CHUNK_MAX = 16_384;
const LAST_USED_FLUSH_MS = 5_000;
/**
 * How precise a client's `last_used_at` is: a use within this long of the last one this process
 * knows of (written, pending, or read with the client's record) is not written again. A client that
 * asks for a token every few seconds costs one row update per interval instead of one per request,
 * and 100k clients asking in turn cost one per client per interval, not one per request (the
 * largest cost left on the token endpoint of a 100k-client SQLite instance: 20–80 µs per row, WAL
 * page writes). Five minutes is finer than any use of the field: "is this client still in use"
 * before revoking it, a dormant-client review; the audit log and the call logs are the exact record.
 */
export const LAST_USED_PRECISION_MS = 5 * 60_000;

function lastUsedMsOf(at: string | null): number | null {
  return at === null ? null : Date.parse(at);
}

/** `presented` is `hash` (compared in constant time, whatever the expiry) and the secret is live at `now`. */
function matchesLive(presented: string, hash: string, expiresAt: string | null, now: string): boolean {
  const live = expiresAt === null || expiresAt > now;
  return constantTimeEqual(presented, hash) && live;
}

/** What lists and admin screens show: never the whole client ID, never a secret. */
export interface ApiClientView {
  /** The first 13 characters of the client ID: enough to recognise it, and the handle in URLs and the CLI. */
  id: string;
  name: string;
  description: string;
  scopes: Scope[];
  tokenTtlSeconds: number;
  owner: { id: number; email: string; displayName: string };
  status: 'active' | 'revoked';
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Returned once, at creation or secret rotation. */
export interface IssuedClientCredentials {
  client: ApiClientView;
  clientId: string;
  clientSecret: string;
}

/** A live secret of a client: its HMAC, and when it ends (null: never). */
export interface LiveSecret {
  readonly hash: string;
  readonly expiresAt: string | null;
}

/**
 * The cached form the token endpoint and token verification use: only what they read, held as
 * compactly as one object allows, since a process keeps up to GATEHOUSE_CLIENT_CACHE_SIZE of them
 * (README › Caches and memory at scale). No name: the answers that show one read the row.
 */
export interface ClientRecord {
  /** The client ID: the cache key's own string (the row's copy of the same text is not kept). */
  readonly id: string;
  /** One frozen array per distinct scope set, shared by every record that has it. */
  readonly scopes: readonly Scope[];
  readonly tokenTtlSeconds: number;
  readonly ownerUserId: number;
  readonly status: 'active' | 'revoked';
  /**
   * One live secret (null: none) as two fields rather than an object in an array (that pair took
   * ~100 bytes of every entry), and the others: during a rotation's grace period the previous
   * secret, otherwise one shared empty array. Authentication tries every one: order does not matter.
   */
  readonly secretHash: string | null;
  readonly secretExpiresAt: string | null;
  readonly otherSecrets: readonly LiveSecret[];
  /**
   * When this process last knew the client to be used (epoch ms; null: never): read with the
   * record, moved by `touch`. The cached record is shared, so this is per process, not per request.
   */
  lastUsedMs: number | null;
}

/** The `otherSecrets` of a client with one live secret. */
const NO_OTHER_SECRETS: readonly LiveSecret[] = Object.freeze([]);

/** The owner of a client as the token service needs it: the user's live facts (one cache, see live-users.ts). */
export type ClientOwner = LiveUser;

/**
 * The owner whose clients `principal` may see: null for all of them (`api.clients.manage_all`,
 * the operator), otherwise the principal's own user.
 */
function ownerFilter(principal: Principal): number | null {
  if (can(principal, 'api.clients.manage_all')) return null;
  return principal.user?.id ?? -1;
}

export interface CreateClientInput {
  name: unknown;
  description?: unknown;
  scopes: unknown;
  tokenTtlSeconds?: unknown;
  /** Owner (user id or email); only for CLI/system actors. A user actor always owns what they create. */
  owner?: unknown;
}

export interface ListClientsQuery {
  name?: string;
  owner?: string | number;
  status?: 'active' | 'revoked';
  limit?: number;
  cursor?: string;
}

export function validateClientName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError('Client name must not be empty.', { field: 'name' });
  }
  const name = normaliseName(value, 'name', 'Client name');
  if (name.length > 100)
    throw new ValidationError('Client name must be at most 100 characters.', { field: 'name' });
  return name;
}

function validateDescription(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string')
    throw new ValidationError('Description must be a string.', { field: 'description' });
  if (value.length > 1000)
    throw new ValidationError('Description must be at most 1000 characters.', { field: 'description' });
  return value.trim();
}

function validateTtl(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_TOKEN_TTL || n > MAX_TOKEN_TTL) {
    throw new ValidationError(
      `Token lifetime must be a whole number of seconds from ${MIN_TOKEN_TTL} to ${MAX_TOKEN_TTL}.`,
      {
        field: 'tokenTtlSeconds',
      },
    );
  }
  return n;
}

export function validateGraceSeconds(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_SECRET_GRACE_SECONDS;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_SECRET_GRACE_SECONDS) {
    throw new ValidationError(
      `Grace period must be a whole number of seconds from 0 to ${MAX_SECRET_GRACE_SECONDS}.`,
      {
        field: 'graceSeconds',
      },
    );
  }
  return n;
}

/** A full client ID (UUID) or the 13-character partial ID lists show. */
function parseClientRef(ref: string): { full: string } | { prefix: string } | undefined {
  const value = ref.trim().toLowerCase();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) return { full: value };
  if (/^[0-9a-f]{8}-[0-9a-f]{4}$/.test(value)) return { prefix: value };
  return undefined;
}

/** Hex digits in order, and one past `f`: the successor of a prefix's last character. */
const HEX_ORDER = '0123456789abcdefg';

/**
 * `id` starts with `prefix` (lower-case hex and dashes, ending in a hex digit), as a range on the
 * primary key: `id >= prefix AND id < successor(prefix)`, where the successor raises the last
 * digit by one (`…b2a9` → `…b2aa`, `…b2af` → `…b2ag`). Both planners search the primary key
 * with that range (SQLite `SEARCH api_clients USING INDEX sqlite_autoindex_api_clients_1 (id>? AND
 * id<?)`, PostgreSQL `Index Scan using api_clients_pkey`), where `LIKE 'prefix%'` read every row
 * on PostgreSQL (a LIKE prefix needs the C collation to use a b-tree) and was a scan on SQLite
 * too (case-insensitive LIKE). Digits and letters sort in the same order under every collation
 * and every id has its dashes in the same places, so the range holds under PostgreSQL's
 * collation as well; the `substr` check keeps the answer exact regardless.
 */
function idHasPrefix(
  eb: ExpressionBuilder<Database, 'api_clients'>,
  column: 'api_clients.id',
  prefix: string,
) {
  const last = HEX_ORDER.indexOf(prefix.slice(-1));
  if (last === -1 || last === HEX_ORDER.length - 1) throw new Error(`not a partial client id: ${prefix}`);
  const upper = prefix.slice(0, -1) + HEX_ORDER[last + 1];
  return eb.and([
    eb(column, '>=', prefix),
    eb(column, '<', upper),
    eb(eb.fn('substr', [column, eb.val(1), eb.val(prefix.length)]), '=', prefix),
  ]);
}

type ClientRow = Selectable<ApiClientsTable> & { owner_email: string; owner_display_name: string };
/** A client's place in the list order (newest first by created_at, then id). */
type ClientKey = { id: string; created_at: string };

const byListOrder = (a: ClientKey, b: ClientKey): number =>
  a.created_at === b.created_at
    ? a.id < b.id
      ? 1
      : a.id > b.id
        ? -1
        : 0
    : a.created_at < b.created_at
      ? 1
      : -1;

/** The 3-character pieces of a text, by code point (as SQL's substr counts characters). */
function trigramsOf(text: string): string[] {
  const chars = [...text];
  return chars.slice(0, -2).map((_, i) => chars.slice(i, i + 3).join(''));
}

function actorLabel(actor: Actor): string {
  switch (actor.type) {
    case 'user':
      return `user:${actor.userId}`;
    case 'client':
      return `client:${actor.clientId}`;
    default:
      return actor.type;
  }
}

export class ClientsService {
  private readonly epochs: CacheEpochs;
  private readonly records: EpochCache<string, ClientRecord | null>;
  /** Each distinct scope set (in catalog order, by its space-joined names): the one frozen array records share. */
  private readonly scopeSets = new Map<string, readonly Scope[]>();
  private readonly lastUse: LastUseRecorder<string>;
  /** What an unknown client ID is compared against: a secret hash no presented secret can match. */
  private readonly unknownClientHash: string;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
    private readonly liveUsers: LiveUsers,
  ) {
    this.epochs = epochsOf(ctx.store);
    // "No such client" is not kept, so a flood of unknown client IDs cannot evict the clients in use;
    // each costs one indexed query, and client authentication throttles the failures.
    this.records = new EpochCache(
      this.epochs,
      ['clients'],
      ctx.config.clientCacheSize,
      (record) => record !== null,
      'client',
      // A change to one client (`bumpKeys` with its id) forgets that client only.
      (key) => key,
    );
    this.lastUse = new LastUseRecorder(ctx.store, 'api_clients', LAST_USED_FLUSH_MS, (error) =>
      ctx.log.warn({ err: error }, 'could not record last use of API clients'),
    );
    this.unknownClientHash = ctx.keyring.hashSecret('unknown-client', randomHex(32));
  }

  private get db() {
    return this.ctx.store.db;
  }

  async create(input: CreateClientInput, actor: Actor): Promise<IssuedClientCredentials> {
    const issued = await this.ctx.store.transaction((tx) => this.createIn(tx, input, actor));
    return { client: await this.get(issued.clientId, OPERATOR), ...issued };
  }

  /**
   * `create` inside the caller's write transaction (an oauth2 access profile and its client are
   * made together): the same checks, audit event and cache epoch; the secret is returned once.
   */
  async createIn(
    tx: Executor,
    input: CreateClientInput,
    actor: Actor,
  ): Promise<{ clientId: string; clientSecret: string }> {
    const name = validateClientName(input.name);
    const description = validateDescription(input.description);
    const scopes = validateClientScopes(input.scopes);
    const ttl = validateTtl(input.tokenTtlSeconds, this.ctx.config.tokenTtlSeconds);
    const clientSecret = randomHex(32);
    const secretHash = this.ctx.keyring.hashSecret(SECRET_PURPOSE, clientSecret);
    const ownerId = await this.resolveOwner(input, actor, tx);
    const id = await this.unusedClientId(tx);
    const now = this.ctx.clock.now().toISOString();
    try {
      await tx
        .insertInto('api_clients')
        .values({
          id,
          name,
          name_key: name.toLowerCase(),
          description,
          scopes: JSON.stringify(scopes),
          token_ttl_seconds: ttl,
          owner_user_id: ownerId,
          status: 'active',
          created_at: now,
          revoked_at: null,
          revoked_by: null,
          last_used_at: null,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new ConflictError(`An active API client named "${name}" already exists.`, { field: 'name' });
      }
      throw error;
    }
    await tx
      .insertInto('client_secrets')
      .values({ client_id: id, secret_hash: secretHash, created_at: now, expires_at: null })
      .execute();
    await this.audit.record(tx, {
      actor,
      action: 'api_client.created',
      target: { type: 'api_client', id },
      details: { name, scopes, ttlSeconds: ttl, ownerUserId: ownerId },
    });
    await this.epochs.bumpKeys(tx, 'clients', [id]);
    return { clientId: id, clientSecret };
  }

  /**
   * Newest first by (created_at, id), cursor-paginated, in two steps: the page's keys from
   * api_clients alone, then those rows with their owners. Without the join the planner has one
   * table to plan, and each filter has an index that continues with the list order (migration
   * 005), so the first step walks one index from the cursor and stops after `limit + 1` entries,
   * at 100k clients as at 10 (plans at 100k):
   *   no filter:  SQLite `SCAN api_clients USING COVERING INDEX api_clients_created_idx`;
   *               PostgreSQL `Index Only Scan Backward using api_clients_created_idx`.
   *   owner (and every principal who sees only their own): `api_clients_owner_created_idx (owner_user_id=?)`
   *               (an owner email is looked up first by users' unique email_key).
   *   status:     `api_clients_status_created_idx (status=?)`.
   *   name (a case-insensitive substring) of 3 characters or more: the trigram postings of
   *               migration 013, which are kept in list order, walked from the cursor; see
   *               nameKeys. With an owner or status filter that leaves under nameSearchTuning.filterWalkMax
   *               clients, those are walked instead and each name checked. Shorter fragments:
   *               checked on the name_key that api_clients_created_idx carries while walking it
   *               in list order (no trigram to look up; a fragment that short is in most names,
   *               so the walk stops after about a page).
   *   cursor:     `(created_at, id) < (?, ?)`, a row value both planners use as the range start.
   * With the join in one statement, SQLite preferred to loop over the 50 owners and sort their
   * clients (`SCAN users … USE TEMP B-TREE FOR ORDER BY`) once a cursor was given.
   */
  async list(query: ListClientsQuery, principal: Principal): Promise<Page<ApiClientView>> {
    const limit = pageSize(query.limit);
    const after = decodeCursor(
      query.cursor,
      (v): v is [string, string] =>
        Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string'),
    );
    if (query.status !== undefined && query.status !== 'active' && query.status !== 'revoked') {
      throw new ValidationError('"status" must be active or revoked.', { field: 'status' });
    }
    const owners: number[] = [];
    const ownedBy = ownerFilter(principal);
    if (ownedBy !== null) owners.push(ownedBy);
    if (query.owner !== undefined && query.owner !== '') {
      const owner = String(query.owner).trim();
      const ownerRef = rowIdOf(owner);
      if (ownerRef === NO_SUCH_ROW) return { items: [], nextCursor: null };
      const ownerId =
        ownerRef !== undefined
          ? ownerRef
          : (
              await this.db
                .selectFrom('users')
                .select('id')
                .where('email_key', '=', owner.toLowerCase())
                .executeTakeFirst()
            )?.id;
      if (ownerId === undefined) return { items: [], nextCursor: null };
      owners.push(ownerId);
    }
    const fragment = query.name ? query.name.trim().toLowerCase() : undefined;
    let keys: ClientKey[];
    if (
      fragment !== undefined &&
      [...fragment].length >= 3 &&
      !(await this.fewClientsFor(owners, query.status))
    ) {
      keys = await this.nameKeys(fragment, { owners, status: query.status, after }, limit + 1);
    } else {
      let q = this.db.selectFrom('api_clients').select(['id', 'created_at']);
      for (const owner of owners) q = q.where('owner_user_id', '=', owner);
      if (fragment !== undefined) {
        q = q.where(sql<boolean>`${sql.ref('name_key')} like ${likePattern(fragment)} escape '\\'`);
      }
      if (query.status) q = q.where('status', '=', query.status);
      if (after) {
        const [createdAt, id] = after;
        q = q.where((eb) => eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(createdAt, id)));
      }
      keys = await q
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
    }
    const kept = keys.slice(0, limit).map((k) => k.id);
    const rows =
      kept.length === 0 ? [] : await this.selectClients().where('api_clients.id', 'in', kept).execute();
    const byId = new Map(rows.map((row) => [row.id, row]));
    // A client is never deleted, so every key has its row.
    const ordered = kept.flatMap((id) => byId.get(id) ?? []);
    const last = keys[limit - 1];
    return {
      items: ordered.map((row) => this.toView(row)),
      nextCursor: keys.length > limit && last !== undefined ? encodeCursor([last.created_at, last.id]) : null,
    };
  }

  /**
   * Whether an owner or status filter leaves fewer than nameSearchTuning.filterWalkMax clients, counted on
   * its index (at most that many entries read). Then `?name=` walks those clients in list
   * order and checks each name, which costs at most that many rows: a user who sees only their
   * own few clients, searching a name thousands of others' clients have, would otherwise walk
   * the name's postings through all of those.
   */
  private async fewClientsFor(owners: number[], status: string | undefined): Promise<boolean> {
    if (owners.length === 0 && !status) return false;
    let inner = this.db.selectFrom('api_clients').select(sql<number>`1`.as('one'));
    for (const owner of owners) inner = inner.where('owner_user_id', '=', owner);
    if (status) inner = inner.where('status', '=', status as 'active' | 'revoked');
    const row = await this.db
      .selectFrom(inner.limit(nameSearchTuning.filterWalkMax).as('x'))
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n) < nameSearchTuning.filterWalkMax;
  }

  /**
   * The first `count` clients in list order (from `after`) whose name_key contains `fragment`
   * (lower case, 3 characters or more) and that pass the other filters, read through the
   * trigram postings of migration 013, which are in list order, so the read stops after the
   * page: a name few clients have, many have, or many have at the far end of the list all cost
   * about one page (plus, for a rare name, the postings its rarest trigram has). The exact
   * `LIKE` check stays on: the trigrams only find candidates (the answer never depends on them).
   *
   * SQLite: FTS5's phrase query (the fragment's trigrams, adjacent and in order) with
   * `order by rowid desc`; the rowid is the creation millisecond × 2^20 + a sequence, so the
   * postings come in created_at order, newest first, and the cursor is a rowid range. Clients
   * created in the same millisecond are not in id order among themselves: when the page ends
   * inside a millisecond, every match of that millisecond is read and the whole sorted here.
   * Plan: `SCAN api_clients_name_fts VIRTUAL TABLE INDEX 0:M…` then
   * `SEARCH c USING INDEX sqlite_autoindex_api_clients_1 (id=?)`, no temp b-tree.
   *
   * PostgreSQL: the fragment's rarest trigram (by api_client_name_trigram_counts; a trigram
   * no client has means no match) and its rows of api_client_name_trigrams, keyed (trigram,
   * created_at, client_id): `Nested Loop Left Join -> Limit -> Index (Only) Scan Backward
   * using api_client_name_trigrams_pkey` from the cursor, each posting's client read by
   * `Index Scan using api_clients_pkey` and checked for the whole fragment and the other
   * filters. A rare name costs one lookup per posting of its rarest trigram.
   */
  private async nameKeys(
    fragment: string,
    filters: { owners: number[]; status?: string; after?: [string, string] },
    count: number,
  ): Promise<ClientKey[]> {
    const { owners, status, after } = filters;
    const conditions = [sql`c.name_key like ${likePattern(fragment)} escape '\\'`];
    for (const owner of owners) conditions.push(sql`c.owner_user_id = ${owner}`);
    if (status) conditions.push(sql`c.status = ${status}`);
    if (this.ctx.store.dialect === 'sqlite') {
      const phrase = `"${fragment.replaceAll('"', '""')}"`;
      conditions.push(sql`api_clients_name_fts match ${phrase}`);
      if (after) {
        conditions.push(sql`(c.created_at, c.id) < (${after[0]}, ${after[1]})`);
        conditions.push(
          sql`api_clients_name_fts.rowid < (cast(round(julianday(${after[0]}) * 86400000) as integer) - 210866760000000 + 1) * 1048576`,
        );
      }
      const read = async (extra: RawBuilder<unknown>[], max?: number) =>
        (
          await sql<ClientKey & { ms: number }>`
            select api_clients_name_fts.rowid >> 20 as ms, c.id, c.created_at
            from api_clients_name_fts join api_clients c on c.id = api_clients_name_fts.id
            where ${sql.join([...conditions, ...extra], sql` and `)}
            order by api_clients_name_fts.rowid desc ${max === undefined ? sql`` : sql`limit ${max}`}`.execute(
            this.db,
          )
        ).rows;
      const first = await read([], count);
      if (first.length < count) return first.sort(byListOrder);
      // The page ends in millisecond `ms`: the matches before it are all read; take all of it.
      const ms = first[count - 1]!.ms;
      const boundary = await read([
        sql`api_clients_name_fts.rowid >= cast(${ms} as integer) * 1048576`,
        sql`api_clients_name_fts.rowid < (cast(${ms} as integer) + 1) * 1048576`,
      ]);
      return [...first.filter((k) => k.ms > ms), ...boundary].sort(byListOrder).slice(0, count);
    }
    const trigrams = [...new Set(trigramsOf(fragment))];
    // The rarest of the fragment's trigrams, by api_client_name_trigram_counts; none (no
    // postings read) when one of them is in no client's name.
    const rarest = sql`(
      select case when count(*) = ${trigrams.length} then min(trigram) filter (where n = 1) end
      from (
        select trigram, row_number() over (order by clients, trigram) as n
        from api_client_name_trigram_counts where trigram in (${sql.join(trigrams)}) and clients > 0
      ) counted
    )`;
    // The postings are read in chunks with a LIMIT (2 pages' worth, then 4 times more each
    // time, at most POSTINGS_CHUNK_MAX), so the planner takes the ordered index scan whatever its
    // statistics say; without a limit, on a table not yet analysed, it sorted every posting of
    // the trigram (100 ms for 11k at 100k clients). Each posting's client is read in a lateral
    // subquery it may not flatten (`offset 0`), so that is a primary-key lookup per posting.
    const found: ClientKey[] = [];
    let from = after;
    for (let chunk = count * 2; ; chunk = Math.min(chunk * 4, POSTINGS_CHUNK_MAX)) {
      const { rows } = await sql<{ created_at: string; client_id: string; hit: boolean }>`
        select t.created_at, t.client_id, c.id is not null as hit
        from (
          select created_at, client_id from api_client_name_trigrams
          where trigram = ${rarest} ${from ? sql`and (created_at, client_id) < (${from[0]}, ${from[1]})` : sql``}
          order by created_at desc, client_id desc
          limit ${chunk}
        ) t
        left join lateral (
          select c.id from api_clients c
          where c.id = t.client_id and ${sql.join(conditions, sql` and `)}
          offset 0
        ) c on true
        order by t.created_at desc, t.client_id desc`.execute(this.db);
      for (const row of rows) if (row.hit) found.push({ id: row.client_id, created_at: row.created_at });
      const last = rows.at(-1);
      if (found.length >= count || rows.length < chunk || last === undefined) return found.slice(0, count);
      from = [last.created_at, last.client_id];
    }
  }

  /** By full client ID or partial ID; 404 when it does not exist or the principal may not see it. */
  async get(ref: string, principal: Principal, executor: Executor = this.db): Promise<ApiClientView> {
    return this.toView(await this.findRow(ref, principal, executor));
  }

  /** Final: the client gets `invalid_client` from now on and its tokens are rejected by Gatehouse at once. */
  async revoke(ref: string, actor: Actor, principal: Principal): Promise<ApiClientView> {
    const id = await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(ref, principal, tx, true);
      await this.revokeIn(tx, row.id, actor);
      return row.id;
    });
    return this.get(id, OPERATOR);
  }

  /**
   * `revoke` of a client by its full id inside the caller's write transaction (deleting an oauth2
   * access profile revokes its client); nothing when it is revoked already.
   */
  async revokeIn(tx: Executor, clientId: string, actor: Actor): Promise<void> {
    const row = await this.findRow(clientId, OPERATOR, tx, true);
    if (row.status === 'revoked') return;
    const now = this.ctx.clock.now().toISOString();
    const updated = await tx
      .updateTable('api_clients')
      .set({ status: 'revoked', revoked_at: now, revoked_by: actorLabel(actor) })
      .where('id', '=', row.id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    // Someone else revoked it a moment ago: theirs is the event.
    if (Number(updated.numUpdatedRows) === 0) return;
    await this.audit.record(tx, {
      actor,
      action: 'api_client.revoked',
      target: { type: 'api_client', id: row.id },
      details: { name: row.name, ownerUserId: row.owner_user_id },
    });
    await this.epochs.bumpKeys(tx, 'clients', [row.id]);
  }

  /**
   * A new secret, shown once. The current one keeps working for `graceSeconds`
   * (0 = ends now); any older one ends now, so at most two are ever live.
   * Only the owner (or the CLI) may do this: it hands out working credentials.
   */
  async rotateSecret(
    ref: string,
    options: { graceSeconds?: unknown },
    actor: Actor,
    principal: Principal,
  ): Promise<IssuedClientCredentials & { previousSecretExpiresAt: string | null }> {
    const grace = validateGraceSeconds(options.graceSeconds);
    const clientSecret = randomHex(32);
    const secretHash = this.ctx.keyring.hashSecret(SECRET_PURPOSE, clientSecret);
    const result = await this.ctx.store.transaction(async (tx) => {
      const row = await this.findRow(ref, principal, tx, true);
      if (principal.kind !== 'operator' && row.owner_user_id !== principal.user?.id) {
        throw new ForbiddenError('Only the owner of an API client can rotate its secret.');
      }
      if (row.status !== 'active') throw new ConflictError('This API client is revoked; create a new one.');
      const now = this.ctx.clock.now();
      const nowIso = now.toISOString();
      const live = await this.liveSecrets(tx, row.id, nowIso);
      const [current, ...older] = live;
      let previousExpiresAt: string | null = null;
      if (older.length > 0) {
        await tx
          .updateTable('client_secrets')
          .set({ expires_at: nowIso })
          .where(
            'id',
            'in',
            older.map((s) => s.id),
          )
          .execute();
      }
      if (current) {
        const graceEnd = addSeconds(now, grace).toISOString();
        previousExpiresAt =
          current.expires_at !== null && current.expires_at < graceEnd ? current.expires_at : graceEnd;
        await tx
          .updateTable('client_secrets')
          .set({ expires_at: previousExpiresAt })
          .where('id', '=', current.id)
          .execute();
      }
      await tx
        .insertInto('client_secrets')
        .values({ client_id: row.id, secret_hash: secretHash, created_at: nowIso, expires_at: null })
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'api_client.secret_rotated',
        target: { type: 'api_client', id: row.id },
        details: { graceSeconds: grace, previousExpiresAt },
      });
      await this.epochs.bumpKeys(tx, 'clients', [row.id]);
      return { id: row.id, previousExpiresAt };
    });
    return {
      client: await this.get(result.id, OPERATOR),
      clientId: result.id,
      clientSecret,
      previousSecretExpiresAt: result.previousExpiresAt,
    };
  }

  /**
   * Client authentication for the OAuth endpoints (src/oauth/client-auth.ts): the client and its
   * owner only if the secret matches a live secret, the client is active and the owner is active;
   * otherwise the cause, which the caller counts in the metrics and never tells the client.
   */
  async verify(
    clientId: string,
    secret: string,
  ): Promise<{ client: ClientRecord; owner: ClientOwner } | { failure: ClientAuthFailureCause }> {
    // An unknown client does the same work as a wrong secret: the HMAC, then a
    // constant-time compare (against a stored-hash-shaped dummy), so the two answers take the same time.
    const presented = this.ctx.keyring.hashSecret(SECRET_PURPOSE, secret.length > 512 ? '' : secret);
    const client = await this.record(clientId);
    const now = this.ctx.clock.now().toISOString();
    const hash = client ? client.secretHash : this.unknownClientHash;
    let matched = hash !== null && matchesLive(presented, hash, client?.secretExpiresAt ?? null, now);
    for (const s of client?.otherSecrets ?? NO_OTHER_SECRETS) {
      if (matchesLive(presented, s.hash, s.expiresAt, now)) matched = true;
    }
    // The caller answers the same invalid_client whatever failed; the metrics say which.
    if (!client) return { failure: 'unknown_client' };
    if (secret.length > 512 || !matched) return { failure: 'wrong_secret' };
    if (client.status !== 'active') return { failure: 'client_inactive' };
    const owner = await this.owner(client.ownerUserId);
    if (owner?.status !== 'active') return { failure: 'owner_inactive' };
    return { client, owner };
  }

  /** The cached record of a client (null when there is none). */
  record(clientId: string): Promise<ClientRecord | null> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(clientId))
      return Promise.resolve(null);
    return this.records.get(clientId, () => this.loadRecord(clientId));
  }

  /** The owner's live facts (status, role and grants as of the last users/roles change). */
  owner(userId: number): Promise<ClientOwner | null> {
    return this.liveUsers.get(userId);
  }

  /**
   * Notes a successful use, written to the database in a batch a few seconds later, unless the
   * last known use is within `LAST_USED_PRECISION_MS` (then nothing is noted).
   */
  touch(client: ClientRecord): void {
    const now = this.ctx.clock.now();
    const nowMs = now.getTime();
    if (client.lastUsedMs !== null && nowMs - client.lastUsedMs < LAST_USED_PRECISION_MS) return;
    client.lastUsedMs = nowMs;
    this.lastUse.touch(client.id, now.toISOString());
  }

  /** Writes pending `last_used_at` values (bookkeeping: no audit event, no cache epoch). */
  flushLastUsed(): Promise<void> {
    return this.lastUse.flush();
  }

  /**
   * One statement, compiled once: the client with its live secrets (a cache miss costs one
   * round trip and no query building; 100k clients asking in turn miss every time).
   */
  private readonly recordQuery = new PreparedQuery(2, (db: Executor, clientId: string, now: string) =>
    db
      .selectFrom('api_clients')
      .leftJoin('client_secrets', (join) =>
        join
          .onRef('client_secrets.client_id', '=', 'api_clients.id')
          .on((eb) =>
            eb.or([eb('client_secrets.expires_at', 'is', null), eb('client_secrets.expires_at', '>', now)]),
          ),
      )
      .select([
        'api_clients.scopes',
        'api_clients.token_ttl_seconds',
        'api_clients.owner_user_id',
        'api_clients.status',
        'api_clients.last_used_at',
        'client_secrets.secret_hash',
        'client_secrets.expires_at as secret_expires_at',
      ])
      .where('api_clients.id', '=', clientId),
  );

  private async loadRecord(clientId: string): Promise<ClientRecord | null> {
    const rows = await this.recordQuery.execute(this.db, clientId, this.ctx.clock.now().toISOString());
    const row = rows[0];
    if (!row) return null;
    // A client without a live secret has one row with a null secret (the left join).
    const others = rows.length > 1 ? rows.slice(1) : [];
    return {
      // `clientId` is the same text (the lookup is by equality), and the cache keeps it as the key.
      id: clientId,
      scopes: this.scopeSet(row.scopes),
      tokenTtlSeconds: row.token_ttl_seconds,
      ownerUserId: row.owner_user_id,
      // The literals, not the row's strings: one copy for every record.
      status: row.status === 'active' ? 'active' : 'revoked',
      secretHash: row.secret_hash,
      secretExpiresAt: row.secret_expires_at,
      otherSecrets:
        others.length === 0
          ? NO_OTHER_SECRETS
          : others.map((r) => ({ hash: r.secret_hash!, expiresAt: r.secret_expires_at })),
      // A use noted here but not yet written is newer than the row's.
      lastUsedMs: lastUsedMsOf(this.lastUse.lastUsed(clientId) ?? row.last_used_at),
    };
  }

  /** A client's scopes as the shared frozen array of its set (at most one per subset of the catalog). */
  private scopeSet(text: string): readonly Scope[] {
    const scopes = this.parseScopes(text);
    const key = scopes.join(' ');
    let shared = this.scopeSets.get(key);
    if (!shared) {
      shared = Object.freeze(scopes);
      this.scopeSets.set(key, shared);
    }
    return shared;
  }

  private liveSecrets(executor: Executor, clientId: string, now: string) {
    return executor
      .selectFrom('client_secrets')
      .select(['id', 'secret_hash', 'expires_at', 'created_at'])
      .where('client_id', '=', clientId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
  }

  private parseScopes(text: string): Scope[] {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed)
      ? inCatalogOrder(parsed.filter((s): s is Scope => SCOPES.includes(s as Scope)))
      : [];
  }

  private selectClients(executor: Executor = this.db) {
    return executor
      .selectFrom('api_clients')
      .innerJoin('users', 'users.id', 'api_clients.owner_user_id')
      .selectAll('api_clients')
      .select(['users.email as owner_email', 'users.display_name as owner_display_name']);
  }

  /**
   * `lock`: inside a write transaction, hold the client's row until commit (PostgreSQL
   * `FOR UPDATE OF api_clients`), so writes to one client from several nodes run one
   * after the other and each sees the other's result. SQLite writers are serial already.
   */
  private async findRow(
    ref: string,
    principal: Principal,
    executor: Executor,
    lock = false,
  ): Promise<ClientRow> {
    const parsed = typeof ref === 'string' ? parseClientRef(ref) : undefined;
    if (!parsed)
      throw new NotFoundError('API client', typeof ref === 'string' ? ref.slice(0, 40) : undefined);
    let q = this.selectClients(executor);
    if (lock && this.ctx.store.dialect === 'postgres') q = q.forUpdate('api_clients');
    q =
      'full' in parsed
        ? q.where('api_clients.id', '=', parsed.full)
        : q.where((eb) => idHasPrefix(eb, 'api_clients.id', parsed.prefix));
    const ownedBy = ownerFilter(principal);
    if (ownedBy !== null) q = q.where('api_clients.owner_user_id', '=', ownedBy);
    const rows = await q.limit(2).execute();
    if (rows.length !== 1) throw new NotFoundError('API client', ref);
    return rows[0]!;
  }

  private toView(row: ClientRow): ApiClientView {
    return {
      id: row.id.slice(0, CLIENT_REF_LENGTH),
      name: row.name,
      description: row.description,
      scopes: this.parseScopes(row.scopes),
      tokenTtlSeconds: row.token_ttl_seconds,
      owner: { id: row.owner_user_id, email: row.owner_email, displayName: row.owner_display_name },
      status: row.status,
      createdAt: row.created_at,
      lastUsedAt: this.lastUse.lastUsed(row.id) ?? row.last_used_at,
      revokedAt: row.revoked_at,
    };
  }

  private async resolveOwner(input: CreateClientInput, actor: Actor, tx: Executor): Promise<number> {
    let ownerId: number | undefined;
    if (actor.type === 'user') {
      ownerId = actor.userId;
    } else {
      const ref = input.owner;
      if (typeof ref !== 'string' && typeof ref !== 'number') {
        throw new ValidationError('Name the owner of the client (a user id or email).', { field: 'owner' });
      }
      const text = String(ref).trim();
      const id = rowIdOf(text);
      const row =
        id === NO_SUCH_ROW
          ? undefined
          : await tx
              .selectFrom('users')
              .select('id')
              .where(id !== undefined ? 'id' : 'email_key', '=', id ?? text.toLowerCase())
              .executeTakeFirst();
      if (!row) throw new ValidationError(`Unknown user "${text}".`, { field: 'owner' });
      ownerId = row.id;
    }
    const owner = await tx
      .selectFrom('users')
      .innerJoin('role_grants', 'role_grants.role_id', 'users.role_id')
      .select(['users.status'])
      .where('users.id', '=', ownerId)
      .where('role_grants.grant_id', '=', 'api.clients.create')
      .executeTakeFirst();
    if (owner?.status !== 'active') {
      throw new ValidationError('The owner must be an active user holding the grant "api.clients.create".', {
        field: 'owner',
      });
    }
    return ownerId;
  }

  /** A new UUID whose partial ID is not in use, so the partial ID names one client. */
  private async unusedClientId(tx: Executor): Promise<string> {
    for (;;) {
      const id = crypto.randomUUID();
      const taken = await tx
        .selectFrom('api_clients')
        .select('id')
        .where((eb) => idHasPrefix(eb, 'api_clients.id', id.slice(0, CLIENT_REF_LENGTH)))
        .executeTakeFirst();
      if (!taken) return id;
    }
  }
}
