/**
 * Developer access tokens (spec 000): created by a user holding
 * `access_tokens.create`, shown once, stored only as an HMAC, acting as a user
 * with that user's *current* role and grants. They carry the recognisable
 * prefix `gh_dev_` so secret scanners and log redaction can spot them.
 *
 * Acting as someone else (e.g. a service account) needs `api.clients.manage_all`, and
 * holding every grant that user's role holds (src/services/escalation.ts); seeing or
 * revoking tokens one neither created nor acts as needs `api.clients.manage_all`.
 */
import type { Selectable } from 'kysely';
import { randomToken } from '../crypto.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { type CacheEpochs, EpochCache, epochsOf } from '../store/epochs.js';
import { likePattern } from '../store/index.js';
import type { AccessTokensTable } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import { LastUseRecorder } from './last-use.js';
import { MissingGrantError } from '../errors.js';
import { assertMayConfer } from './escalation.js';
import { decodeCursor, type Page, pageSize, toPage } from './pagination.js';
import { can, OPERATOR, type Principal } from './principal.js';
import type { UsersService } from './users.js';

export const DEV_TOKEN_PREFIX = 'gh_dev_';
/** Characters of the token (after `gh_dev_`) shown in lists. */
const SHOWN_CHARS = 8;
const HASH_PURPOSE = 'access_token';
export const MAX_EXPIRY_DAYS = 3650;
/** Last-use times are written in batches, at most this often. */
const LAST_USED_FLUSH_MS = 30_000;

export interface AccessToken {
  id: number;
  /** `gh_dev_` and the first characters of the token. */
  prefix: string;
  description: string;
  user: { id: number; email: string; displayName: string };
  createdBy: number | null;
  createdAt: string;
  /** null = never expires. */
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: 'active' | 'expired' | 'revoked';
}

export interface CreatedAccessToken {
  /** The token itself; shown once, never stored. */
  token: string;
  accessToken: AccessToken;
}

export interface CreateAccessTokenInput {
  description: unknown;
  /** The user the token acts as (id or email); default the caller. */
  user?: unknown;
  /** 1–3650; or `neverExpires: true`, chosen explicitly. */
  expiresInDays?: unknown;
  neverExpires?: unknown;
}

export interface ListAccessTokensQuery {
  /** Matches description, user email or display name. */
  q?: string;
  /** Only tokens acting as this user (id or email). */
  user?: string | number;
  /** Include revoked and expired tokens (default true). */
  includeInactive?: boolean;
  limit?: number;
  cursor?: string;
}

/** What a presented token resolves to; the guard's resolver then reads the user's live facts. */
export interface AuthenticatedToken {
  tokenId: number;
  userId: number;
}

type Row = Selectable<AccessTokensTable> & { user_email: string; user_display_name: string };

/** Whether a presented credential has the developer-token shape (cheap; no lookup). */
export function isDeveloperToken(value: string): boolean {
  return value.startsWith(DEV_TOKEN_PREFIX) && /^gh_dev_[A-Za-z0-9_-]{20,100}$/.test(value);
}

type CachedToken = Pick<Selectable<AccessTokensTable>, 'id' | 'user_id' | 'expires_at' | 'revoked_at'>;

export class AccessTokensService {
  private readonly lastUse: LastUseRecorder<number>;
  private readonly epochs: CacheEpochs;
  /**
   * Known tokens by hash, per process, dropped on every revoke here or on another node
   * (the `access_tokens` epoch); expiry is checked on each use. Unknown hashes are not kept.
   */
  private readonly byHash: EpochCache<string, CachedToken | null>;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.byHash = new EpochCache(
      this.epochs,
      ['access_tokens'],
      10_000,
      (row) => row !== null,
      'developer_token',
    );
    this.lastUse = new LastUseRecorder(ctx.store, 'access_tokens', LAST_USED_FLUSH_MS, (error) =>
      ctx.log.warn({ err: error }, 'could not record token use'),
    );
  }

  private get db() {
    return this.ctx.store.db;
  }

  private toToken(row: Row): AccessToken {
    const now = this.ctx.clock.now().toISOString();
    return {
      id: row.id,
      prefix: row.prefix,
      description: row.description,
      user: { id: row.user_id, email: row.user_email, displayName: row.user_display_name },
      createdBy: row.created_by,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      lastUsedAt: this.lastUse.lastUsed(row.id) ?? row.last_used_at,
      revokedAt: row.revoked_at,
      status:
        row.revoked_at !== null
          ? 'revoked'
          : row.expires_at !== null && row.expires_at <= now
            ? 'expired'
            : 'active',
    };
  }

  private select() {
    return this.db
      .selectFrom('access_tokens')
      .innerJoin('users', 'users.id', 'access_tokens.user_id')
      .selectAll('access_tokens')
      .select(['users.email as user_email', 'users.display_name as user_display_name']);
  }

  async create(
    input: CreateAccessTokenInput,
    principal: Principal,
    actor: Actor,
  ): Promise<CreatedAccessToken> {
    if (typeof input.description !== 'string' || input.description.trim() === '') {
      throw new ValidationError('"description" must not be empty.', { field: 'description' });
    }
    const description = input.description.trim();
    if (description.length > 200)
      throw new ValidationError('"description" must be at most 200 characters.', { field: 'description' });
    const expiresInDays = this.validateExpiry(input);
    const me = principal.user?.id ?? null;
    let userRef = input.user;
    if (userRef === undefined || userRef === null || userRef === '') {
      if (me === null) throw new ValidationError('Name the user the token acts as.', { field: 'user' });
      userRef = me;
    }
    if (typeof userRef !== 'number' && typeof userRef !== 'string') {
      throw new ValidationError('"user" must be a user id or email.', { field: 'user' });
    }
    const user = await this.users.find(userRef);
    // Without manage-all, naming anyone but oneself is refused before saying whether they exist.
    if (user?.id !== me && !can(principal, 'api.clients.manage_all'))
      throw new MissingGrantError('api.clients.manage_all');
    if (!user) throw new ValidationError(`Unknown user "${userRef}".`, { field: 'user' });
    if (user.status !== 'active')
      throw new ValidationError(`User ${user.email} is disabled.`, { field: 'user' });
    // A token acts with its user's grants: nobody mints one for a user who holds more than they do.
    if (user.id !== me) {
      const { grants } = await this.users.getWithGrants(user.id);
      assertMayConfer(principal, grants, { kind: 'developer_token', user: user.email, role: user.role.name });
    }

    const token = `${DEV_TOKEN_PREFIX}${randomToken(32)}`;
    const prefix = token.slice(0, DEV_TOKEN_PREFIX.length + SHOWN_CHARS);
    const now = this.ctx.clock.now();
    const expiresAt =
      expiresInDays === null ? null : new Date(now.getTime() + expiresInDays * 86_400_000).toISOString();
    const id = await this.ctx.store.transaction(async (tx) => {
      const row = await tx
        .insertInto('access_tokens')
        .values({
          prefix,
          token_hash: this.ctx.keyring.hashSecret(HASH_PURPOSE, token),
          description,
          user_id: user.id,
          created_by: me,
          created_at: now.toISOString(),
          expires_at: expiresAt,
          last_used_at: null,
          revoked_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await this.audit.record(tx, {
        actor,
        action: 'developer_token.created',
        target: { type: 'developer_token', id: row.id },
        details: { prefix, description, userId: user.id, email: user.email, expiresAt },
      });
      return row.id;
    });
    return { token, accessToken: await this.get(id, OPERATOR) };
  }

  private validateExpiry(input: CreateAccessTokenInput): number | null {
    const never = input.neverExpires === true || input.neverExpires === 'true';
    const hasDays =
      input.expiresInDays !== undefined && input.expiresInDays !== null && input.expiresInDays !== '';
    if (never && hasDays) {
      throw new ValidationError('Give either "expiresInDays" or "neverExpires", not both.', {
        field: 'expiresInDays',
      });
    }
    if (never) return null;
    if (!hasDays) {
      throw new ValidationError(
        `Choose an expiry: "expiresInDays" (1–${MAX_EXPIRY_DAYS}) or "neverExpires": true.`,
        {
          field: 'expiresInDays',
        },
      );
    }
    const days =
      typeof input.expiresInDays === 'string' && /^\d+$/.test(input.expiresInDays)
        ? Number(input.expiresInDays)
        : input.expiresInDays;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_EXPIRY_DAYS) {
      throw new ValidationError(`"expiresInDays" must be a whole number from 1 to ${MAX_EXPIRY_DAYS}.`, {
        field: 'expiresInDays',
      });
    }
    return days;
  }

  /** A token the caller may see (created by them, acting as them, or any with manage-all); 404 otherwise. */
  async get(id: number, principal: Principal): Promise<AccessToken> {
    const row = await this.select().where('access_tokens.id', '=', id).executeTakeFirst();
    if (!row || !this.maySee(row, principal)) throw new NotFoundError('Access token', id);
    return this.toToken(row);
  }

  private maySee(row: Selectable<AccessTokensTable>, principal: Principal): boolean {
    if (can(principal, 'api.clients.manage_all')) return true;
    const me = principal.user?.id;
    return me !== undefined && (row.user_id === me || row.created_by === me);
  }

  /** Newest first. Without manage-all: only tokens the caller created or that act as the caller. */
  async list(query: ListAccessTokensQuery, principal: Principal): Promise<Page<AccessToken>> {
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, (v): v is number => Number.isInteger(v));
    let q = this.select();
    if (!can(principal, 'api.clients.manage_all')) {
      const me = principal.user?.id ?? -1;
      q = q.where((eb) =>
        eb.or([eb('access_tokens.user_id', '=', me), eb('access_tokens.created_by', '=', me)]),
      );
    }
    if (query.q) {
      const pattern = likePattern(query.q.toLowerCase());
      q = q.where((eb) =>
        eb.or([
          eb(eb.fn('lower', ['access_tokens.description']), 'like', eb.val(pattern)),
          eb(eb.fn('lower', ['users.email']), 'like', eb.val(pattern)),
          eb(eb.fn('lower', ['users.display_name']), 'like', eb.val(pattern)),
        ]),
      );
    }
    if (query.user !== undefined && query.user !== '') {
      const user = await this.users.find(query.user);
      q = q.where('access_tokens.user_id', '=', user?.id ?? -1);
    }
    if (query.includeInactive === false) {
      const now = this.ctx.clock.now().toISOString();
      q = q
        .where('access_tokens.revoked_at', 'is', null)
        .where((eb) =>
          eb.or([eb('access_tokens.expires_at', 'is', null), eb('access_tokens.expires_at', '>', now)]),
        );
    }
    if (after !== undefined) q = q.where('access_tokens.id', '<', after);
    const rows = await q
      .orderBy('access_tokens.id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(
      rows,
      limit,
      (row) => this.toToken(row),
      (row) => row.id,
    );
  }

  /** Revokes at once (the next request with it gets 401); no undo. Revoking a revoked token is a no-op. */
  async revoke(id: number, principal: Principal, actor: Actor): Promise<AccessToken> {
    await this.ctx.store.transaction(async (tx) => {
      const row = await tx.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || !this.maySee(row, principal)) throw new NotFoundError('Access token', id);
      if (row.revoked_at !== null) return;
      await tx
        .updateTable('access_tokens')
        .set({ revoked_at: this.ctx.clock.now().toISOString() })
        .where('id', '=', id)
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'developer_token.revoked',
        target: { type: 'developer_token', id },
        details: { prefix: row.prefix, userId: row.user_id },
      });
      await this.epochs.bump(tx, 'access_tokens');
    });
    return this.get(id, OPERATOR);
  }

  /**
   * The token's id and user when it is known, not revoked and not expired; undefined
   * otherwise. Records the use (written in batches). The caller checks the user is active.
   */
  async authenticate(token: string): Promise<AuthenticatedToken | undefined> {
    if (!isDeveloperToken(token)) return undefined;
    const hash = this.ctx.keyring.hashSecret(HASH_PURPOSE, token);
    const row = await this.byHash.get(hash, async () => {
      const found = await this.db
        .selectFrom('access_tokens')
        .select(['id', 'user_id', 'expires_at', 'revoked_at'])
        .where('token_hash', '=', hash)
        .executeTakeFirst();
      return found ?? null;
    });
    const now = this.ctx.clock.now().toISOString();
    if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now))
      return undefined;
    this.lastUse.touch(row.id, now);
    return { tokenId: row.id, userId: row.user_id };
  }

  /** Writes the batched last-use times now (also on shutdown and in tests). */
  flushLastUsed(): Promise<void> {
    return this.lastUse.flush();
  }
}
