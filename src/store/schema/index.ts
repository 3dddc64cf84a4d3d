/**
 * The typed database schema: one interface per part, merged here.
 * Later parts add `schema/<part>.ts` and extend `Database` with it.
 */
import type { AccessTokenTables } from './access-tokens.js';
import type { CallLogTables } from './call-logs.js';
import type { DatasetStreamTables } from './dataset-streams.js';
import type { DatasetTables } from './datasets.js';
import type { DomainTables } from './domains.js';
import type { FoundationTables } from './foundation.js';
import type { GroupTables } from './groups.js';
import type { OAuthTables } from './oauth.js';
import type { PlatformTables } from './platform.js';
import type { WorkflowTables } from './workflows.js';

export type * from './access-tokens.js';
export type * from './call-logs.js';
export type * from './dataset-streams.js';
export type * from './datasets.js';
export type * from './domains.js';
export type * from './foundation.js';
export type * from './groups.js';
export type * from './oauth.js';
export type * from './platform.js';

export type * from './workflows.js';

export interface Database
  extends FoundationTables,
    OAuthTables,
    AccessTokenTables,
    WorkflowTables,
    GroupTables {}
export interface Database
  extends FoundationTables,
    OAuthTables,
    AccessTokenTables,
    WorkflowTables,
    DatasetTables {}
export interface Database extends DatasetStreamTables {}
export interface Database extends PlatformTables {}
export interface Database extends DomainTables {}
export interface Database extends CallLogTables {}
