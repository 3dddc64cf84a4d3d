/**
 * The service container: one instance of each service over one store. The
 * HTTP layer, the CLI and the admin UI all go through these.
 */
import { AccessTokensService } from './access-tokens.js';
import { AuditService } from './audit.js';
import { CallLogsService } from './call-logs.js';
import { ClientsService } from './clients.js';
import { GroupsService } from './groups.js';
import { DatasetPoliciesService } from './dataset-policies.js';
import { DatasetQueryService } from './dataset-query.js';
import { DatasetsService } from './datasets.js';
import { DomainsService } from './platform/domains.js';
import { type CacheEpochs, epochsOf } from '../store/epochs.js';
import type { ServiceContext } from './context.js';
import { KeysService } from './keys.js';
import { GatewayLimits } from './platform/limits.js';
import { PlatformService } from './platform/service.js';
import { LiveUsers } from './live-users.js';
import { RolesService } from './roles.js';
import { SessionsService } from './sessions.js';
import { StreamsService } from './streams.js';
import { RedisThrottleCounter, StoreThrottleCounter, ThrottleService } from './throttle.js';
import { TokenService } from './tokens.js';
import { UsersService } from './users.js';
import { WorkflowsService } from './workflows.js';

export interface Services {
  readonly ctx: ServiceContext;
  readonly audit: AuditService;
  readonly roles: RolesService;
  readonly users: UsersService;
  /** The one cache of users' live facts (status, role, grants) every authorization decision reads. */
  readonly liveUsers: LiveUsers;
  /** Failed-attempt counters (database or Redis); `throttle.close()` when the process stops. */
  readonly throttle: ThrottleService;
  readonly sessions: SessionsService;
  readonly clients: ClientsService;
  readonly keys: KeysService;
  /** JWT access tokens: `tokens.issue`, and `tokens.verify` for everything Gatehouse checks. */
  readonly tokens: TokenService;
  /** Cross-process cache invalidation (start/stop polling with the app). */
  readonly epochs: CacheEpochs;
  readonly workflows: WorkflowsService;
  /** Developer access tokens (`gh_dev_…`). */
  readonly accessTokens: AccessTokensService;
  /** Groups of users (Domo's `/v1/groups`). */
  readonly groups: GroupsService;
  /** DataSets (Domo's /v1/datasets): metadata, CSV import/export, queries. */
  readonly datasets: DatasetsService;
  /** PDP policies of DataSets and the row filter they make for a caller. */
  readonly datasetPolicies: DatasetPoliciesService;
  /** DataSet queries (`POST /v1/datasets/query/execute/{id}`); `datasetQueries.close()` when the app stops. */
  readonly datasetQueries: DatasetQueryService;
  /** Streams (Domo's /v1/streams): multi-part uploads into a DataSet, committed at once. */
  readonly streams: StreamsService;
  /** The API platform: collections, endpoints, access profiles, policies, and the gateway's catalog. */
  readonly platform: PlatformService;
  /** The gateway's policy enforcement (rate, quota, concurrency) on the throttle's counters. */
  readonly gatewayLimits: GatewayLimits;
  /** Custom domains: per-host issuers, the instance's own issuer set, SNI certificates. */
  readonly domains: DomainsService;
  /** The gateway's call logs (batched writer; `callLogs.flush()` when the app stops) and dashboard counters. */
  readonly callLogs: CallLogsService;
}

export function createServices(ctx: ServiceContext): Services {
  const audit = new AuditService(ctx.store, ctx.clock);
  const roles = new RolesService(ctx, audit);
  const users = new UsersService(ctx, roles, audit);
  // One counter backend per process: the throttles and the gateway's policies share it (and its Redis connection).
  const counter =
    ctx.config.redisUrl === undefined
      ? new StoreThrottleCounter(ctx.store)
      : new RedisThrottleCounter(ctx.config.redisUrl, `${ctx.config.redisPrefix}throttle:`);
  const throttle = new ThrottleService(counter, ctx.clock);
  const gatewayLimits = new GatewayLimits(counter, ctx.clock, (err, what) =>
    ctx.log.warn({ err }, `failed ${what}`),
  );
  const sessions = new SessionsService(ctx, users, throttle, audit);
  const liveUsers = new LiveUsers(ctx, users, roles);
  const clients = new ClientsService(ctx, audit, liveUsers);
  const keys = new KeysService(ctx, audit);
  const domains = new DomainsService(ctx, audit);
  const tokens = new TokenService(ctx, audit, keys, clients, domains);
  const workflows = new WorkflowsService(ctx, audit);
  const accessTokens = new AccessTokensService(ctx, users, audit);
  const groups = new GroupsService(ctx, users, audit);
  const datasets = new DatasetsService(ctx, audit);
  return {
    ctx,
    audit,
    roles,
    users,
    liveUsers,
    throttle,
    sessions,
    clients,
    keys,
    tokens,
    epochs: epochsOf(ctx.store),
    workflows,
    accessTokens,
    groups,
    datasets,
    datasetPolicies: new DatasetPoliciesService(ctx, audit),
    datasetQueries: new DatasetQueryService(ctx),
    streams: new StreamsService(ctx, datasets, audit),
    platform: new PlatformService(ctx, audit, clients),
    gatewayLimits,
    domains,
    callLogs: new CallLogsService(ctx),
  };
}
