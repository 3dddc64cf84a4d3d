/**
 * One ordered list of migrations for both dialects. Each migration gets the
 * dialect so the few DDL differences (identity columns) stay in one helper.
 * Never edit a migration that has shipped: add a new one.
 */
import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../index.js';
import { foundation } from './001_foundation.js';
import { oauth } from './002_oauth.js';
import { accessTokens } from './003_access_tokens.js';
import { workflows } from './004_workflows.js';
import { scaleQueries } from './005_scale_queries.js';
import { revocationFeed } from './006_revocation_feed.js';
import { throttleCounters } from './007_throttle_counters.js';
import { throttleCountersUnlogged } from './007_throttle_counters_unlogged.js';
import { clientNameSearch } from './008_client_name_search.js';
import { groups } from './009_groups.js';
import { datasets } from './010_datasets.js';
import { datasetPolicies } from './011_dataset_policies.js';
import { datasetStreams } from './012_dataset_streams.js';
import { clientNameOrder } from './013_client_name_order.js';
import { apiPlatform } from './014_api_platform.js';
import { platformDomains } from './015_platform_domains.js';
import { platformCallLogs } from './016_platform_call_logs.js';
import { platformPolicies } from './017_platform_policies.js';
import { workflowGroupShares } from './019_workflow_group_shares.js';
import { userProfiles } from './021_user_profiles.js';
import { platformCallHours } from './022_platform_call_hours.js';
import { throttleHeldCalls } from './024_throttle_held_calls.js';

export type MigrationStep = (db: Kysely<unknown>, dialect: Dialect) => Promise<void>;

const ORDERED: ReadonlyArray<[string, { up: MigrationStep; down?: MigrationStep }]> = [
  ['001_foundation', foundation],
  ['002_oauth', oauth],
  ['003_access_tokens', accessTokens],
  ['004_workflows', workflows],
  ['005_scale_queries', scaleQueries],
  ['006_revocation_feed', revocationFeed],
  ['007_throttle_counters', throttleCounters],
  ['007_throttle_counters_unlogged', throttleCountersUnlogged],
  ['008_client_name_search', clientNameSearch],
  ['009_groups', groups],
  ['010_datasets', datasets],
  ['011_dataset_policies', datasetPolicies],
  ['012_dataset_streams', datasetStreams],
  ['013_client_name_order', clientNameOrder],
  ['014_api_platform', apiPlatform],
  ['015_platform_domains', platformDomains],
  ['016_platform_call_logs', platformCallLogs],
  ['017_platform_policies', platformPolicies],
  ['019_workflow_group_shares', workflowGroupShares],
  ['021_user_profiles', userProfiles],
  ['022_platform_call_hours', platformCallHours],
  ['024_throttle_held_calls', throttleHeldCalls],
];

/** Every migration this version knows, in order (a database with others was made by a newer version). */
export const MIGRATION_NAMES: readonly string[] = ORDERED.map(([name]) => name);

export function buildMigrations(dialect: Dialect): Record<string, Migration> {
  const result: Record<string, Migration> = {};
  for (const [name, step] of ORDERED) {
    result[name] = {
      up: (db) => step.up(db, dialect),
      ...(step.down ? { down: (db: Kysely<unknown>) => step.down!(db, dialect) } : {}),
    };
  }
  return result;
}
