/**
 * Admin sign-in sessions. The session token (256 random bits) lives only in
 * the browser's cookie; the database keeps its HMAC as the row id, so a copy
 * of the database cannot be replayed as a cookie. Each session has a CSRF
 * token derived from the session token by HMAC (so `GET /me` can hand it out
 * again after a page reload); only the CSRF token's own HMAC is stored.
 *
 * Lifetime: 12 hours absolute, 2 hours idle (sliding). `last_seen_at` is
 * written at most once a minute per session to keep reads cheap.
 */
import type { Config } from '../config.js';
import { randomToken } from '../crypto.js';
import { InvalidCredentialsError, TooManyRequestsError, ValidationError } from '../errors.js';
import type { AuditService } from './audit.js';
import type { Actor, ServiceContext } from './context.js';
import {
  isThrottled,
  rateLimitHeaders,
  type ThrottleRule,
  type ThrottleService,
  throttleKey,
} from './throttle.js';
import { checkPasswordPolicy } from './password-policy.js';
import { nameKey } from './text.js';
import type { User, UsersService } from './users.js';

export const SESSION_ABSOLUTE_SECONDS = 12 * 60 * 60;
export const SESSION_IDLE_SECONDS = 2 * 60 * 60;
/** `last_seen_at` is refreshed only when it is older than this. */
export const LAST_SEEN_RESOLUTION_SECONDS = 60;

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface ActiveSession {
  /** HMAC of the cookie's token. */
  readonly id: string;
  readonly userId: number;
  readonly csrfHash: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
}

export interface SignInInput {
  email: string;
  password: string;
  ip?: string;
  userAgent?: string;
}

export interface SignInResult {
  user: User;
  /** Goes into the cookie; never stored. */
  token: string;
  csrfToken: string;
  expiresAt: string;
}

/**
 * The sign-in throttle rules (limits from config), most specific first: the
 * (account, address) pair, the source address over all accounts, and the
 * account from everywhere (the global ceiling). A success forgets the pair's failures and gives back its
 * own reservation under the other two.
 */
function signInRules(limits: Config['throttle'], email: string, ip: string | undefined): ThrottleRule[] {
  const account = nameKey(email);
  const address = ip ?? 'unknown';
  return [
    {
      name: 'signin',
      key: throttleKey('signin:pair', account, address),
      limit: limits.signIn,
      onSuccess: 'reset',
    },
    {
      name: 'signin_address',
      key: throttleKey('signin:ip', address),
      limit: limits.signInAddress,
      onSuccess: 'release',
    },
    {
      name: 'signin_account',
      key: throttleKey('signin:account', account),
      limit: limits.signInAccount,
      onSuccess: 'release',
    },
  ];
}

export class SessionsService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly users: UsersService,
    private readonly throttle: ThrottleService,
    private readonly audit: AuditService,
  ) {}

  /** The CSRF token paired with a session token. */
  csrfTokenFor(token: string): string {
    return this.ctx.keyring.hashSecret('csrf-token', token);
  }

  /**
   * Checks email and password under the sign-in throttle and opens a session.
   * The attempt is reserved before the password is looked at, so concurrent
   * guesses cannot all get through. Every failure looks the same to the caller.
   */
  async signIn(input: SignInInput): Promise<SignInResult> {
    const attempted = input.email.trim().slice(0, 320);
    const reservation = await this.throttle.reserve(
      signInRules(this.ctx.config.throttle, attempted, input.ip),
    );
    if (isThrottled(reservation)) {
      await this.ctx.store.transaction((tx) =>
        this.audit.record(tx, {
          actor: { type: 'system' },
          action: 'session.throttled',
          details: { email: attempted },
          ip: input.ip,
        }),
      );
      throw new TooManyRequestsError(
        'Too many failed sign-in attempts; try again later.',
        reservation.retryAfterSeconds,
        rateLimitHeaders(reservation),
      );
    }
    const user = await this.users.checkPassword(attempted, input.password);
    if (!user) {
      await this.ctx.store.transaction((tx) =>
        this.audit.record(tx, {
          actor: { type: 'system' },
          action: 'session.failed',
          details: { email: attempted },
          ip: input.ip,
        }),
      );
      throw new InvalidCredentialsError();
    }
    const token = randomToken(32);
    const csrfToken = this.csrfTokenFor(token);
    const now = this.ctx.clock.now();
    const expiresAt = new Date(now.getTime() + SESSION_ABSOLUTE_SECONDS * 1000).toISOString();
    // Always the same release, whatever earlier attempts did, so a success costs the same.
    await reservation.succeeded();
    await this.ctx.store.transaction(async (tx) => {
      await tx
        .insertInto('sessions')
        .values({
          id: this.ctx.keyring.hashSecret('session', token),
          user_id: user.id,
          csrf_hash: this.ctx.keyring.hashSecret('csrf', csrfToken),
          ip: input.ip ?? null,
          user_agent: input.userAgent?.slice(0, 500) ?? null,
          created_at: now.toISOString(),
          last_seen_at: now.toISOString(),
          expires_at: expiresAt,
        })
        .execute();
      await this.audit.record(tx, {
        actor: { type: 'user', userId: user.id, label: user.email, ip: input.ip },
        action: 'session.created',
        target: { type: 'user', id: user.id },
      });
    });
    return { user, token, csrfToken, expiresAt };
  }

  /** The live session for a cookie token, or undefined when it is unknown, expired or idle too long. */
  async authenticate(token: string): Promise<ActiveSession | undefined> {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    const id = this.ctx.keyring.hashSecret('session', token);
    const row = await this.ctx.store.db
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const now = this.ctx.clock.now();
    const idleSince = now.getTime() - Date.parse(row.last_seen_at);
    if (Date.parse(row.expires_at) <= now.getTime() || idleSince >= SESSION_IDLE_SECONDS * 1000) {
      await this.ctx.store.db.deleteFrom('sessions').where('id', '=', id).execute();
      return undefined;
    }
    let lastSeenAt = row.last_seen_at;
    if (idleSince >= LAST_SEEN_RESOLUTION_SECONDS * 1000) {
      lastSeenAt = now.toISOString();
      await this.ctx.store.db
        .updateTable('sessions')
        .set({ last_seen_at: lastSeenAt })
        .where('id', '=', id)
        .execute();
    }
    return {
      id,
      userId: row.user_id,
      csrfHash: row.csrf_hash,
      createdAt: row.created_at,
      lastSeenAt,
      expiresAt: row.expires_at,
    };
  }

  /** Constant-time check of a presented X-CSRF-Token. */
  verifyCsrf(session: ActiveSession, presented: string | undefined): boolean {
    if (presented === undefined || presented === '') return false;
    return this.ctx.keyring.verifySecret('csrf', presented, session.csrfHash);
  }

  async signOut(sessionId: string, userId: number, actor: Actor): Promise<void> {
    await this.ctx.store.transaction(async (tx) => {
      await tx.deleteFrom('sessions').where('id', '=', sessionId).execute();
      await this.audit.record(tx, { actor, action: 'session.deleted', target: { type: 'user', id: userId } });
    });
  }

  /**
   * A signed-in user replaces their own password. Wrong current passwords count
   * against the same throttle rules as sign-in (account and address). Other sessions of the
   * user end; `keepSessionId` (the caller's) stays.
   */
  async changeOwnPassword(
    user: User,
    input: { currentPassword: string; newPassword: string; keepSessionId?: string; ip?: string },
    actor: Actor,
  ): Promise<void> {
    const newPassword = await checkPasswordPolicy(input.newPassword, {
      field: 'newPassword',
      email: user.email,
    });
    const reservation = await this.throttle.reserve(
      signInRules(this.ctx.config.throttle, user.email, input.ip),
    );
    if (isThrottled(reservation)) {
      throw new TooManyRequestsError(
        'Too many failed attempts; try again later.',
        reservation.retryAfterSeconds,
        rateLimitHeaders(reservation),
      );
    }
    const checked = await this.users.checkPassword(user.email, input.currentPassword);
    if (!checked || checked.id !== user.id) {
      throw new ValidationError('Current password is incorrect.', { field: 'currentPassword' });
    }
    await reservation.succeeded();
    if (newPassword === input.currentPassword) {
      throw new ValidationError('New password must differ from the current password.', {
        field: 'newPassword',
      });
    }
    await this.users.setPassword(
      user.id,
      newPassword,
      { mustChange: false, keepSessionId: input.keepSessionId },
      actor,
    );
  }
}
