/** Tables of the foundation: users, roles, grants, sessions, audit, throttling. Times are ISO-8601 UTC strings. */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: Generated<number>;
  email: string;
  /** lower-cased email; unique. */
  email_key: string;
  display_name: string;
  role_id: number;
  status: 'active' | 'disabled';
  /** scrypt hash (`scrypt$N$r$p$salt$hash`), null for accounts that cannot sign in with a password. */
  password_hash: string | null;
  /** 1 when the password was generated and must be changed at next sign-in. */
  must_change_password: number;
  /** Domo's profile fields, a JSON object of the ones set (migration 021). */
  profile: Generated<string>;
  created_at: string;
  updated_at: string;
}

export interface RolesTable {
  id: Generated<number>;
  name: string;
  /** lower-cased name; unique. */
  name_key: string;
  description: string;
  /** 1 for the built-in roles (Admin, Privileged, Editor, Participant, Social). */
  is_system: number;
  created_at: string;
  updated_at: string;
}

export interface RoleGrantsTable {
  role_id: number;
  grant_id: string;
}

export interface SessionsTable {
  /** HMAC of the session token; the token itself lives only in the browser's cookie. */
  id: string;
  user_id: number;
  /** HMAC of the CSRF token paired with this session. */
  csrf_hash: string;
  ip: string | null;
  user_agent: string | null;
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

export interface AuditEventsTable {
  id: Generated<number>;
  occurred_at: string;
  actor_type: 'user' | 'client' | 'cli' | 'system';
  /** user id, client id, or null for cli/system. */
  actor_id: string | null;
  /** e.g. the user's email at the time, for reading the log after the user is gone. */
  actor_label: string | null;
  action: string;
  /** The action up to its first dot (`user` for `user.created`): what `action=user.*` filters on, by index. */
  action_family: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  /** JSON object; never holds a secret or password. */
  details: string;
}

/** Migration 007 (replaces 001's `throttle` table): attempts per key in a fixed window. */
export interface ThrottleCountersTable {
  /** e.g. `signin:pair:alice@example.com|10.0.0.1` or `client:id:<client id>`. */
  key: string;
  count: number;
  /** End of the current window, epoch milliseconds (int8 on PostgreSQL: read it with Number()). */
  window_ends_at: number;
  /** Calls of this window reserved ahead by a process and not yet used or given back (migration 024). */
  held: Generated<number>;
  /** Until when (epoch ms) `held` may still come back; past it a refused call no longer waits for it. */
  held_until: Generated<number>;
}

export interface FoundationTables {
  users: UsersTable;
  roles: RolesTable;
  role_grants: RoleGrantsTable;
  sessions: SessionsTable;
  audit_events: AuditEventsTable;
  throttle_counters: ThrottleCountersTable;
}
