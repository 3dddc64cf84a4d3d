import type { Generated } from 'kysely';

/** Dataset metadata (migration 010); each dataset's rows are in a table `ds_<id without dashes>`. */
export interface DatasetsTable {
  id: string;
  name: string;
  /** lower-cased name, for sorting and `nameLike`. */
  name_key: string;
  description: string;
  owner_user_id: number;
  /** JSON `[{name, type}]`; the i-th column's rows are in physical column `c<i>`. */
  columns: string;
  row_count: number;
  /** 1 when personalized data permissions apply (PDP, migration 011's policies). */
  pdp_enabled: number;
  created_at: string;
  updated_at: string;
  data_current_at: string | null;
}

/** PDP policies (migration 011); deleted with their dataset. */
export interface DatasetPoliciesTable {
  id: Generated<number>;
  dataset_id: string;
  name: string;
  /** `user` or `system` (Domo's labels; both filter the same way). */
  type: string;
  /** JSON `[{column, values, operator, not}]`, the column by name. */
  filters: string;
  created_at: string;
  updated_at: string;
}

/** The users a policy applies to; a deleted user leaves every policy (cascade). */
export interface DatasetPolicyUsersTable {
  policy_id: number;
  user_id: number;
}

/** The groups a policy applies to (their members, now); a deleted group leaves every policy. */
export interface DatasetPolicyGroupsTable {
  policy_id: number;
  group_id: number;
}

export interface DatasetTables {
  datasets: DatasetsTable;
  dataset_policies: DatasetPoliciesTable;
  dataset_policy_users: DatasetPolicyUsersTable;
  dataset_policy_groups: DatasetPolicyGroupsTable;
}
