/** Workflows: versioned definitions, sharing, durable instances and their step logs. */
import type { Generated } from 'kysely';

export interface WorkflowsTable {
  /** UUID (Domo's `modelId`). */
  id: string;
  name: string;
  /** lower-cased name; unique among workflows not deleted. */
  name_key: string;
  description: string;
  owner_id: number;
  /** Latest version number (1, 2, …). */
  current_version: number;
  /** Set when deleted; deleted workflows are invisible, their instances keep their history. */
  deleted_at: string | null;
  created_by: number | null;
  created_at: string;
  updated_by: number | null;
  updated_at: string;
}

export interface WorkflowVersionsTable {
  workflow_id: string;
  version: number;
  /** The validated definition, JSON. */
  definition: string;
  created_by: number | null;
  created_at: string;
}

export interface WorkflowSharesTable {
  workflow_id: string;
  user_id: number;
}

/** A workflow shared with a group: its members (now) see it (migration 019). */
export interface WorkflowGroupSharesTable {
  workflow_id: string;
  group_id: number;
}

export type WorkflowInstanceStatus = 'QUEUED' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELED';

export interface WorkflowInstancesTable {
  /** UUID (Domo's instance `id`). */
  id: string;
  workflow_id: string;
  /** The definition version this run started with. */
  version: number;
  status: WorkflowInstanceStatus;
  /** Index of the next instruction of the compiled program. */
  pc: number;
  /** Number of steps committed so far; numbers the log lines. */
  step_count: number;
  input: string;
  variables: string;
  outputs: string;
  error: string | null;
  /** 1 once a cancel was asked for; honoured at the next step boundary. */
  cancel_requested: number;
  /** Engine (node) holding the instance, and until when. */
  lease_owner: string | null;
  lease_expires_at: string | null;
  /** Not to be run before this time (a `delay` step). */
  due_at: string | null;
  created_by: number | null;
  created_at: string;
  updated_by: number | null;
  updated_at: string;
  started_at: string | null;
  ended_at: string | null;
}

export interface WorkflowInstanceLogsTable {
  id: Generated<number>;
  instance_id: string;
  /** Step number within the instance (1, 2, …); unique per instance. */
  seq: number;
  step_id: string;
  step_type: string;
  status: 'ok' | 'error' | 'canceled';
  started_at: string;
  ended_at: string;
  duration_ms: number;
  /** A short JSON summary of the step's output. */
  output: string | null;
  message: string | null;
  error: string | null;
}

export interface WorkflowTables {
  workflows: WorkflowsTable;
  workflow_versions: WorkflowVersionsTable;
  workflow_shares: WorkflowSharesTable;
  workflow_group_shares: WorkflowGroupSharesTable;
  workflow_instances: WorkflowInstancesTable;
  workflow_instance_logs: WorkflowInstanceLogsTable;
}
