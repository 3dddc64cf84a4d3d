/** Groups of users (migration 009). */
import type { Generated } from 'kysely';

export interface GroupsTable {
  id: Generated<number>;
  name: string;
  /** lower-cased name; unique. */
  name_key: string;
  description: string;
  /** The user who created it (Domo's `creatorId`); null for the CLI. Not a foreign key: it outlives the user. */
  created_by: number | null;
  created_at: string;
  updated_at: string;
}

export interface GroupMembersTable {
  group_id: number;
  user_id: number;
  added_at: string;
}

export interface GroupTables {
  groups: GroupsTable;
  group_members: GroupMembersTable;
}
