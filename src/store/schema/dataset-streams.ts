/** Streams, their executions and uploaded parts (migration 012). */
import type { Generated } from 'kysely';

export type StreamUpdateMethod = 'APPEND' | 'REPLACE';
export type ExecutionState = 'ACTIVE' | 'SUCCESS' | 'ABORTED';

export interface DatasetStreamsTable {
  id: Generated<number>;
  /** The DataSet the stream loads; unique (one stream per DataSet). */
  dataset_id: string;
  update_method: StreamUpdateMethod;
  created_at: string;
  modified_at: string;
}

export interface DatasetStreamExecutionsTable {
  id: Generated<number>;
  stream_id: number;
  state: ExecutionState;
  update_method: StreamUpdateMethod;
  /** JSON `[{name, type}]`: the DataSet's schema when the execution started. */
  columns: string;
  /** Rows made visible by the commit; null before. */
  row_count: number | null;
  created_at: string;
  /** Last activity; abandoned ACTIVE executions expire counted from here. */
  modified_at: string;
  ended_at: string | null;
}

export interface DatasetStreamPartsTable {
  execution_id: number;
  part: number;
  /** The staging table holding this part's checked rows. */
  table_name: string;
  row_count: number;
  uploaded_at: string;
}

export interface DatasetStreamTables {
  dataset_streams: DatasetStreamsTable;
  dataset_stream_executions: DatasetStreamExecutionsTable;
  dataset_stream_parts: DatasetStreamPartsTable;
}
