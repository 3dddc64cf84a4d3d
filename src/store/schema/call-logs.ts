/** The API platform's call logs (migration 016) and their per-minute and per-hour counters (016, 022). */
import type { Generated } from 'kysely';

export interface PlatformCallLogsTable {
  id: Generated<number>;
  /** When the call arrived: ISO-8601 UTC with milliseconds. */
  time: string;
  /** The access profile the credential belonged to; null when it was missing or wrong (401). */
  profile_id: number | null;
  collection_id: number;
  /** The endpoint the call matched; null when refused before matching or when none matched (404). */
  endpoint_id: number | null;
  method: string;
  /** The path as called, without the query (which may carry secrets); at most 1,000 characters. */
  path: string;
  status: number;
  /** The hundreds digit of `status` (5 for 5xx), so a class filter is an index equality. */
  status_class: number;
  /** From forwarding to the upstream's response headers (or its failure); null when not forwarded. */
  upstream_latency_ms: number | null;
  /** From the request's arrival to the end of the answer. */
  duration_ms: number;
  bytes_in: number;
  bytes_out: number;
  client_id: string | null;
  request_id: string;
  ip: string | null;
}

/** The counter columns both levels share; `lat_00`…`lat_15`: the latency histogram. */
type CallCounterColumns = {
  id: Generated<number>;
  collection_id: number;
  profile_id: number;
  endpoint_id: number;
  calls: number;
  errors: number;
  client_errors: number;
  latency_count: number;
  latency_sum_ms: number;
  bytes_in: number;
  bytes_out: number;
} & { [bucket: `lat_${string}`]: Generated<number> };

/** Per minute and (collection, profile, endpoint); 0 stands for none. */
export type PlatformCallMinutesTable = CallCounterColumns & {
  /** Minutes since the epoch (UTC). */
  minute: number;
};

/** The same per hour (migration 022): always the sum of the hour's minute rows. */
export type PlatformCallHoursTable = CallCounterColumns & {
  /** Hours since the epoch (UTC). */
  hour: number;
};

export interface CallLogTables {
  platform_call_logs: PlatformCallLogsTable;
  platform_call_minutes: PlatformCallMinutesTable;
  platform_call_hours: PlatformCallHoursTable;
}
