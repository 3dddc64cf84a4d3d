/**
 * The one cache of live user facts: a user, their status, their role and the grants the
 * role holds now. Everything that decides what a caller may do reads users through it:
 * the guard's resolvers (sessions, developer tokens, client JWTs), the token endpoint
 * (a client's owner) and token verification. Per process, dropped by any user or role
 * change here or on another node (the `users` and `roles` cache epochs), so a disabled
 * user or a removed grant counts from the very next request on every surface at once.
 */
import { DEFAULT_EPOCH_CACHE_ENTRIES, EpochCache, epochsOf } from '../store/epochs.js';
import type { ServiceContext } from './context.js';
import type { GrantId } from './grants.js';
import type { RolesService } from './roles.js';
import type { User, UsersService } from './users.js';

/** A user as they are now, with the grants of their role (disabled users included: callers check `status`). */
export interface LiveUser {
  readonly id: number;
  readonly email: string;
  readonly status: User['status'];
  /** The role's name, for display and the `role` claim only: never an authorization decision. */
  readonly roleName: string;
  readonly grants: ReadonlySet<GrantId>;
  readonly user: User;
}

export class LiveUsers {
  private readonly cache: EpochCache<number, LiveUser | null>;

  constructor(
    ctx: ServiceContext,
    private readonly users: UsersService,
    private readonly roles: RolesService,
  ) {
    // "No such user" is not kept: creating a user bumps no epoch, and unknown ids must not evict real entries.
    this.cache = new EpochCache(
      epochsOf(ctx.store),
      ['users', 'roles'],
      DEFAULT_EPOCH_CACHE_ENTRIES,
      (live) => live !== null,
      'live_user',
    );
  }

  /** The user and their role's grants as of the last users/roles change; null when there is no such user. */
  get(userId: number): Promise<LiveUser | null> {
    return this.cache.get(userId, () => this.load(userId));
  }

  /** Like `get`, but null unless the user is active. */
  async active(userId: number): Promise<LiveUser | null> {
    const live = await this.get(userId);
    return live?.status === 'active' ? live : null;
  }

  private async load(userId: number): Promise<LiveUser | null> {
    const user = await this.users.find(userId);
    if (!user) return null;
    const grants = new Set(await this.roles.grantsOf(user.role.id));
    return { id: user.id, email: user.email, status: user.status, roleName: user.role.name, grants, user };
  }
}
