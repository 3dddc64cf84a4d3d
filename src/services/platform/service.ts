/**
 * The API platform (issue 14, spec 003): an organisation's own APIs behind Gatehouse.
 *
 *   API collection   a URL prefix (`/<prefix>/…`) forwarded to an upstream base URL
 *   endpoint         a method + path pattern (`/orders/:id`) of a collection, its upstream path and timeout
 *   access profile   the collections a caller may use, how it authenticates (oauth2 | token | jwt),
 *                    an optional IP allow-list, and a policy
 *   policy           what a profile may spend: rate limit, quota, concurrency (enforced by ./limits.ts)
 *
 * Every write needs `gateway.manage`, runs in one transaction, writes an audit event
 * (`api_collection.*`, `api_endpoint.*`, `access_profile.*`, `platform_policy.*`) and bumps the `platform` cache epoch,
 * so every process and node drops its `GatewayCatalog` and the next call sees the change (a
 * disabled profile is refused on its next call). An oauth2 profile's credential IS an API client
 * of the token service (created and revoked through ClientsService in the same transaction), so
 * it is listed, rotated and revoked with the other clients; a `token` profile's API token is shown
 * once and stored as an HMAC; a `jwt` profile names an outside IdP (JWKS URL, issuer, audience).
 *
 * The gateway (src/api/gateway/) and the guard's resolvers (src/guard/resolvers/) read the
 * `GatewayCatalog` (./catalog.ts): everything they need, in memory, rebuilt once per change.
 */
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose';
import type { Selectable } from 'kysely';
import { randomToken } from '../../crypto.js';
import { ConflictError, MissingGrantError, NotFoundError, ValidationError } from '../../errors.js';
import { type CacheEpochs, EpochCache, epochsOf } from '../../store/epochs.js';
import { type Executor, isUniqueViolation } from '../../store/index.js';
import type {
  AccessProfilesTable,
  ApiCollectionsTable,
  ApiEndpointsTable,
  PlatformPoliciesTable,
} from '../../store/schema/index.js';
import type { AuditEventInput, AuditService } from '../audit.js';
import { CLIENT_REF_LENGTH, type ClientsService } from '../clients.js';
import type { Actor, ServiceContext } from '../context.js';
import { decodeCursor, type Page, pageSize, toPage } from '../pagination.js';
import { can, OPERATOR, type Principal } from '../principal.js';
import { NO_SUCH_ROW, rowIdOf } from '../row-id.js';
import { nameKey } from '../text.js';
import { type CatalogProfile, type GatewayCatalog, jwtOf, loadCatalog, policyLimitsOf } from './catalog.js';
import { ownIssuerSource } from './domains.js';
import {
  endpointsFromOpenApi,
  fetchOpenApiText,
  type ImportedEndpoint,
  parseOpenApiText,
} from './openapi.js';
import {
  type AccessProfile,
  API_TOKEN_PREFIX,
  type ApiCollection,
  type ApiEndpoint,
  type CollectionInput,
  DEFAULT_ENDPOINT_TIMEOUT_MS,
  type EndpointImport,
  type EndpointInput,
  type EndpointMethod,
  type ImportAction,
  type ImportSource,
  GATEWAY_SCOPE,
  IDP_JWT_CLOCK_SKEW_SECONDS,
  type IssuedProfile,
  type ListQuery,
  MAX_NAME_LENGTH,
  type Policy,
  type PolicyInput,
  type ProfileCredentials,
  type ProfileInput,
} from './model.js';
import {
  claimsSatisfied,
  PREFIX_SHAPE,
  parsePathPattern,
  pathKeyOf,
  validateAuthMethod,
  validateConcurrency,
  validateDescription,
  validateEnabled,
  validateHttpUrl,
  validateIpAllowList,
  validateJwt,
  validateMethod,
  validateName,
  validatePrefix,
  validateQuota,
  validateRateLimit,
  validateTimeout,
} from './validation.js';

const API_TOKEN_PURPOSE = 'api_token';
/** Characters of the token (after the prefix) lists show. */
const API_TOKEN_SHOWN = 8;
/** Another node took the name or prefix between the check and the write (PostgreSQL). */
const RACED_COLLECTION = () =>
  new ConflictError('Another API collection took this name or prefix a moment ago.');

/** A unique index refused the write: another node won a race the check before it could not see. */
async function unique<T>(query: Promise<T>, conflict: () => Error): Promise<T> {
  try {
    return await query;
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict();
    throw error;
  }
}

/** What one write did: its result, and the audit event that says so. */
interface Change<T> {
  result: T;
  event: Omit<AuditEventInput, 'actor'>;
}

// ---- rows -----------------------------------------------------------------------------------

type CollectionRow = Selectable<ApiCollectionsTable> & { endpoint_count?: number | string | bigint };
type EndpointRow = Selectable<ApiEndpointsTable>;
type ProfileRow = Selectable<AccessProfilesTable>;
type PolicyRow = Selectable<PlatformPoliciesTable> & { profile_count?: number | string | bigint };

function toPolicy(row: PolicyRow): Policy {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    ...policyLimitsOf(row),
    profileCount: Number(row.profile_count ?? 0),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** A policy's limits as columns (null: off). */
function policyColumns(input: PolicyInput, before?: Policy) {
  const rate =
    input.rateLimit !== undefined ? validateRateLimit(input.rateLimit) : (before?.rateLimit ?? null);
  const quota = input.quota !== undefined ? validateQuota(input.quota) : (before?.quota ?? null);
  const concurrency =
    input.concurrency !== undefined ? validateConcurrency(input.concurrency) : (before?.concurrency ?? null);
  return {
    limits: { rateLimit: rate, quota, concurrency },
    columns: {
      rate_limit: rate?.limit ?? null,
      rate_unit: rate?.per ?? null,
      quota_limit: quota?.limit ?? null,
      quota_unit: quota?.per ?? null,
      concurrency_limit: concurrency?.limit ?? null,
      queue_size: concurrency?.queueSize ?? 0,
      queue_wait_ms: concurrency?.maxWaitMs ?? 0,
    },
  };
}

function toCollection(row: CollectionRow): ApiCollection {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    description: row.description,
    upstreamUrl: row.upstream_url,
    enabled: row.enabled === 1,
    endpointCount: Number(row.endpoint_count ?? 0),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toEndpoint(row: EndpointRow): ApiEndpoint {
  return {
    id: row.id,
    collectionId: row.collection_id,
    name: row.name,
    method: row.method as EndpointMethod,
    path: row.path,
    upstreamPath: row.upstream_path,
    timeoutMs: row.timeout_ms,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const idCursor = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function rowId(ref: number | string): number | undefined {
  const id = rowIdOf(ref);
  return id === NO_SUCH_ROW || id === undefined ? undefined : id;
}

/** One operation of an import, and what it does (for `replaced` and `skipped`: the endpoint there). */
type PlannedEndpoint = ImportedEndpoint & { action: ImportAction; id: number | null };
type ImportPlan = Omit<EndpointImport, 'dryRun' | 'endpoints'> & { endpoints: PlannedEndpoint[] };

function importAnswer(dryRun: boolean, plan: ImportPlan): EndpointImport {
  return {
    dryRun,
    collectionId: plan.collectionId,
    created: plan.created,
    replaced: plan.replaced,
    skipped: plan.skipped,
    endpoints: plan.endpoints.map((e) => ({
      action: e.action,
      id: e.id,
      name: e.name,
      method: e.method,
      path: e.path,
      upstreamPath: e.upstreamPath,
      pointer: e.pointer,
    })),
  };
}

// ---- the service ----------------------------------------------------------------------------

export class PlatformService {
  private readonly epochs: CacheEpochs;
  private readonly catalogCache: EpochCache<'catalog', GatewayCatalog>;
  /** One remote key set per JWKS URL: jose caches the keys and fetches again on an unknown `kid`. */
  private readonly keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
    private readonly clients: ClientsService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.catalogCache = new EpochCache(this.epochs, ['platform'], 1);
  }

  private get db() {
    return this.ctx.store.db;
  }

  private require(principal: Principal): void {
    if (!can(principal, 'gateway.manage')) throw new MissingGrantError('gateway.manage');
  }

  private now(): string {
    return this.ctx.clock.now().toISOString();
  }

  /**
   * Every write, one shape: `work` in a transaction, then its audit event and a bump of the
   * `platform` epoch (every process and node drops its catalog), all committed together or not at all.
   */
  private write<T>(actor: Actor, work: (tx: Executor) => Promise<Change<T>>): Promise<T> {
    return this.ctx.store.transaction(async (tx) => {
      const { result, event } = await work(tx);
      await this.audit.record(tx, { actor, ...event });
      await this.epochs.bump(tx, 'platform');
      return result;
    });
  }

  // ---- collections ----

  private selectCollections(executor: Executor = this.db) {
    return executor
      .selectFrom('api_collections')
      .selectAll('api_collections')
      .select((eb) =>
        eb
          .selectFrom('api_endpoints')
          .select(eb.fn.countAll().as('n'))
          .whereRef('api_endpoints.collection_id', '=', 'api_collections.id')
          .as('endpoint_count'),
      );
  }

  /** By id, or by prefix. */
  private async findCollection(ref: number | string, executor: Executor = this.db): Promise<ApiCollection> {
    const id = rowId(ref);
    const text = String(ref).trim().toLowerCase();
    const row =
      id !== undefined
        ? await this.selectCollections(executor).where('api_collections.id', '=', id).executeTakeFirst()
        : PREFIX_SHAPE.test(text)
          ? await this.selectCollections(executor)
              .where('api_collections.prefix', '=', text)
              .executeTakeFirst()
          : undefined;
    if (!row) throw new NotFoundError('API collection', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return toCollection(row as CollectionRow);
  }

  async getCollection(ref: number | string, principal: Principal): Promise<ApiCollection> {
    this.require(principal);
    return this.findCollection(ref);
  }

  /** By id, cursor-paged. */
  async listCollections(query: ListQuery, principal: Principal): Promise<Page<ApiCollection>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.selectCollections();
    if (after !== undefined) q = q.where('api_collections.id', '>', after);
    const rows = await q
      .orderBy('api_collections.id')
      .limit(limit + 1)
      .execute();
    return toPage(rows as CollectionRow[], limit, toCollection, (row) => row.id);
  }

  async createCollection(input: CollectionInput, principal: Principal, actor: Actor): Promise<ApiCollection> {
    this.require(principal);
    const name = validateName(input.name, 'Collection name');
    const prefix = validatePrefix(input.prefix);
    const upstreamUrl = validateHttpUrl(input.upstreamUrl, 'upstreamUrl', 'The upstream URL');
    const description = validateDescription(input.description);
    const enabled = input.enabled === undefined ? true : validateEnabled(input.enabled);
    const id = await this.write(actor, async (tx) => {
      await this.checkCollectionUnique(tx, name, prefix);
      const now = this.now();
      const row = await unique(
        tx
          .insertInto('api_collections')
          .values({
            name,
            name_key: nameKey(name),
            prefix,
            description,
            upstream_url: upstreamUrl,
            enabled: enabled ? 1 : 0,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow(),
        RACED_COLLECTION,
      );
      return {
        result: row.id,
        event: {
          action: 'api_collection.created',
          target: { type: 'api_collection', id: row.id },
          details: { name, prefix, upstreamUrl, enabled },
        },
      };
    });
    return this.findCollection(id);
  }

  async updateCollection(
    ref: number | string,
    input: CollectionInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiCollection> {
    this.require(principal);
    const changes: Partial<
      Record<'name' | 'name_key' | 'prefix' | 'description' | 'upstream_url', string>
    > & { enabled?: number } = {};
    const details: Record<string, unknown> = {};
    if (input.name !== undefined) {
      changes.name = validateName(input.name, 'Collection name');
      changes.name_key = nameKey(changes.name);
    }
    if (input.prefix !== undefined) changes.prefix = validatePrefix(input.prefix);
    if (input.upstreamUrl !== undefined)
      changes.upstream_url = validateHttpUrl(input.upstreamUrl, 'upstreamUrl', 'The upstream URL');
    if (input.description !== undefined) changes.description = validateDescription(input.description);
    if (input.enabled !== undefined) changes.enabled = validateEnabled(input.enabled) ? 1 : 0;
    if (Object.keys(changes).length === 0)
      throw new ValidationError('Nothing to change: give name, prefix, description, upstreamUrl or enabled.');
    const id = await this.write(actor, async (tx) => {
      const before = await this.findCollection(ref, tx);
      await this.checkCollectionUnique(tx, changes.name, changes.prefix, before.id);
      await unique(
        tx
          .updateTable('api_collections')
          .set({ ...changes, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute(),
        RACED_COLLECTION,
      );
      if (changes.name !== undefined) details.name = { from: before.name, to: changes.name };
      if (changes.prefix !== undefined) details.prefix = { from: before.prefix, to: changes.prefix };
      if (changes.upstream_url !== undefined)
        details.upstreamUrl = { from: before.upstreamUrl, to: changes.upstream_url };
      if (changes.description !== undefined) details.description = changes.description;
      if (changes.enabled !== undefined) details.enabled = changes.enabled === 1;
      return {
        result: before.id,
        event: {
          action: 'api_collection.updated',
          target: { type: 'api_collection', id: before.id },
          details,
        },
      };
    });
    return this.findCollection(id);
  }

  /** Deletes a collection with its endpoints; profiles lose it from their lists. */
  async deleteCollection(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.write(actor, async (tx) => {
      const collection = await this.findCollection(ref, tx);
      await tx.deleteFrom('api_endpoints').where('collection_id', '=', collection.id).execute();
      await tx.deleteFrom('access_profile_collections').where('collection_id', '=', collection.id).execute();
      await tx.deleteFrom('api_collections').where('id', '=', collection.id).execute();
      return {
        result: undefined,
        event: {
          action: 'api_collection.deleted',
          target: { type: 'api_collection', id: collection.id },
          details: {
            name: collection.name,
            prefix: collection.prefix,
            endpointCount: collection.endpointCount,
          },
        },
      };
    });
  }

  /** 409 naming the field when another collection has the name or prefix. */
  private async checkCollectionUnique(
    tx: Executor,
    name: string | undefined,
    prefix: string | undefined,
    except = -1,
  ): Promise<void> {
    if (prefix !== undefined) {
      const taken = await tx
        .selectFrom('api_collections')
        .select('id')
        .where('prefix', '=', prefix)
        .where('id', '!=', except)
        .executeTakeFirst();
      if (taken)
        throw new ConflictError(`Another API collection has the prefix "${prefix}".`, { field: 'prefix' });
    }
    if (name !== undefined) {
      const taken = await tx
        .selectFrom('api_collections')
        .select('id')
        .where('name_key', '=', nameKey(name))
        .where('id', '!=', except)
        .executeTakeFirst();
      if (taken)
        throw new ConflictError(`An API collection named "${name}" already exists.`, { field: 'name' });
    }
  }

  // ---- endpoints ----

  private async findEndpoint(
    collectionId: number,
    ref: number | string,
    executor: Executor = this.db,
  ): Promise<ApiEndpoint> {
    const id = rowId(ref);
    const row =
      id === undefined
        ? undefined
        : await executor
            .selectFrom('api_endpoints')
            .selectAll()
            .where('id', '=', id)
            .where('collection_id', '=', collectionId)
            .executeTakeFirst();
    if (!row) throw new NotFoundError('Endpoint', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return toEndpoint(row);
  }

  async listEndpoints(
    collectionRef: number | string,
    query: ListQuery,
    principal: Principal,
  ): Promise<Page<ApiEndpoint>> {
    this.require(principal);
    const collection = await this.findCollection(collectionRef);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.db.selectFrom('api_endpoints').selectAll().where('collection_id', '=', collection.id);
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, toEndpoint, (row) => row.id);
  }

  async getEndpoint(
    collectionRef: number | string,
    ref: number | string,
    principal: Principal,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const collection = await this.findCollection(collectionRef);
    return this.findEndpoint(collection.id, ref);
  }

  async createEndpoint(
    collectionRef: number | string,
    input: EndpointInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const fields = this.endpointFields(input, undefined);
    const id = await this.write(actor, async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const now = this.now();
      const row = await unique(
        tx
          .insertInto('api_endpoints')
          .values({ collection_id: collection.id, ...fields, created_at: now, updated_at: now })
          .returning('id')
          .executeTakeFirstOrThrow(),
        () => this.endpointConflict(fields.method, fields.path),
      );
      return {
        result: { collectionId: collection.id, id: row.id },
        event: {
          action: 'api_endpoint.created',
          target: { type: 'api_endpoint', id: row.id },
          details: {
            collectionId: collection.id,
            name: fields.name,
            method: fields.method,
            path: fields.path,
            upstreamPath: fields.upstream_path,
          },
        },
      };
    });
    return this.findEndpoint(id.collectionId, id.id);
  }

  async updateEndpoint(
    collectionRef: number | string,
    ref: number | string,
    input: EndpointInput,
    principal: Principal,
    actor: Actor,
  ): Promise<ApiEndpoint> {
    this.require(principal);
    const given = Object.entries(input).filter(([, v]) => v !== undefined);
    if (given.length === 0)
      throw new ValidationError(
        'Nothing to change: give name, method, path, upstreamPath, timeoutMs or enabled.',
      );
    const id = await this.write(actor, async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const before = await this.findEndpoint(collection.id, ref, tx);
      const fields = this.endpointFields(input, before);
      await unique(
        tx
          .updateTable('api_endpoints')
          .set({ ...fields, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute(),
        () => this.endpointConflict(fields.method, fields.path),
      );
      const details: Record<string, unknown> = { collectionId: collection.id };
      for (const [key, value] of given) details[key] = value;
      return {
        result: { collectionId: collection.id, id: before.id },
        event: {
          action: 'api_endpoint.updated',
          target: { type: 'api_endpoint', id: before.id },
          details,
        },
      };
    });
    return this.findEndpoint(id.collectionId, id.id);
  }

  async deleteEndpoint(
    collectionRef: number | string,
    ref: number | string,
    principal: Principal,
    actor: Actor,
  ): Promise<void> {
    this.require(principal);
    await this.write(actor, async (tx) => {
      const collection = await this.findCollection(collectionRef, tx);
      const endpoint = await this.findEndpoint(collection.id, ref, tx);
      await tx.deleteFrom('api_endpoints').where('id', '=', endpoint.id).execute();
      return {
        result: undefined,
        event: {
          action: 'api_endpoint.deleted',
          target: { type: 'api_endpoint', id: endpoint.id },
          details: {
            collectionId: collection.id,
            name: endpoint.name,
            method: endpoint.method,
            path: endpoint.path,
          },
        },
      };
    });
  }

  /**
   * Endpoints from an OpenAPI 3 document (./openapi.ts), in one transaction: every operation
   * becomes an endpoint, or, when the collection has one for its method and path already, is
   * skipped (reported) or with `replace` overwrites that one's name, path and upstream path
   * (its timeout and enabled state stay). All or nothing, one `api_collection.imported` event
   * with the counts. `dryRun`: the same answer, nothing written.
   */
  async importEndpoints(
    collectionRef: number | string,
    source: ImportSource,
    options: { dryRun?: boolean; replace?: boolean },
    principal: Principal,
    actor: Actor,
  ): Promise<EndpointImport> {
    this.require(principal);
    const collection = await this.findCollection(collectionRef);
    const document =
      'document' in source
        ? source.document
        : parseOpenApiText(
            'text' in source
              ? source.text
              : await fetchOpenApiText(source.url, this.ctx.config.platformImportUrls),
          );
    const imported = endpointsFromOpenApi(document, collection.upstreamUrl);
    const plan = (executor: Executor) =>
      this.importPlan(executor, collection.id, imported, options.replace === true);
    if (options.dryRun === true) return importAnswer(true, await plan(this.db));
    const done = await this.write(actor, async (tx) => {
      // The collection may have gone between the read above and this transaction.
      await this.findCollection(collection.id, tx);
      const result = await plan(tx);
      const now = this.now();
      for (const entry of result.endpoints) {
        const fields = {
          name: entry.name,
          path: entry.path,
          path_key: entry.pathKey,
          upstream_path: entry.upstreamPath,
          updated_at: now,
        };
        if (entry.action === 'created') {
          const row = await unique(
            tx
              .insertInto('api_endpoints')
              .values({
                collection_id: collection.id,
                method: entry.method,
                timeout_ms: DEFAULT_ENDPOINT_TIMEOUT_MS,
                enabled: 1,
                created_at: now,
                ...fields,
              })
              .returning('id')
              .executeTakeFirstOrThrow(),
            () => this.endpointConflict(entry.method, entry.path),
          );
          entry.id = row.id;
        } else if (entry.action === 'replaced') {
          await tx
            .updateTable('api_endpoints')
            .set(fields)
            .where('id', '=', entry.id as number)
            .execute();
        }
      }
      const { created, replaced, skipped } = result;
      return {
        result,
        event: {
          action: 'api_collection.imported',
          target: { type: 'api_collection', id: collection.id },
          details: {
            source: 'url' in source ? { url: source.url } : 'document',
            created,
            replaced,
            skipped,
          },
        },
      };
    });
    return importAnswer(false, done);
  }

  /** What an import would do to each operation, given the collection's endpoints now. */
  private async importPlan(
    executor: Executor,
    collectionId: number,
    imported: readonly ImportedEndpoint[],
    replace: boolean,
  ): Promise<ImportPlan> {
    const existing = await executor
      .selectFrom('api_endpoints')
      .select(['id', 'method', 'path_key'])
      .where('collection_id', '=', collectionId)
      .execute();
    const byRoute = new Map(existing.map((row) => [`${row.method} ${row.path_key}`, row.id]));
    const endpoints = imported.map((entry): PlannedEndpoint => {
      const id = byRoute.get(`${entry.method} ${entry.pathKey}`);
      return {
        ...entry,
        id: id ?? null,
        action: id === undefined ? 'created' : replace ? 'replaced' : 'skipped',
      };
    });
    const count = (action: ImportAction) => endpoints.filter((e) => e.action === action).length;
    return {
      collectionId,
      created: count('created'),
      replaced: count('replaced'),
      skipped: count('skipped'),
      endpoints,
    };
  }

  /** The columns of an endpoint from `input` over `before` (an update), every field checked. */
  private endpointFields(input: EndpointInput, before: ApiEndpoint | undefined) {
    const name = input.name !== undefined ? validateName(input.name, 'Endpoint name') : before?.name;
    if (name === undefined) throw new ValidationError('Endpoint name must not be empty.', { field: 'name' });
    const method =
      input.method !== undefined
        ? validateMethod(input.method)
        : (before?.method ?? validateMethod(undefined));
    const pathText = input.path !== undefined ? input.path : before?.path;
    const segments = parsePathPattern(pathText, 'path', 'The path');
    const upstreamText =
      input.upstreamPath !== undefined && input.upstreamPath !== null
        ? input.upstreamPath
        : input.path !== undefined
          ? pathText
          : (before?.upstreamPath ?? pathText);
    const upstream = parsePathPattern(upstreamText, 'upstreamPath', 'The upstream path');
    const params = new Set(segments.flatMap((s) => (typeof s === 'string' ? [] : [s.param])));
    const unknown = upstream.find((s) => typeof s !== 'string' && !params.has(s.param));
    if (unknown !== undefined && typeof unknown !== 'string')
      throw new ValidationError(`The upstream path uses ":${unknown.param}", which the path does not have.`, {
        field: 'upstreamPath',
      });
    const timeoutMs =
      input.timeoutMs !== undefined
        ? validateTimeout(input.timeoutMs)
        : (before?.timeoutMs ?? DEFAULT_ENDPOINT_TIMEOUT_MS);
    const enabled = input.enabled !== undefined ? validateEnabled(input.enabled) : (before?.enabled ?? true);
    return {
      name,
      method,
      path: pathText as string,
      path_key: pathKeyOf(segments),
      upstream_path: upstreamText as string,
      timeout_ms: timeoutMs,
      enabled: enabled ? 1 : 0,
    };
  }

  private endpointConflict(method: string, path: string): ConflictError {
    return new ConflictError(
      `The collection has an endpoint for ${method} ${path} already (parameter names aside).`,
      {
        field: 'path',
      },
    );
  }

  // ---- access profiles ----

  private async profileView(row: ProfileRow, executor: Executor = this.db): Promise<AccessProfile> {
    const collections = await executor
      .selectFrom('access_profile_collections')
      .innerJoin('api_collections', 'api_collections.id', 'access_profile_collections.collection_id')
      .select(['api_collections.id', 'api_collections.name', 'api_collections.prefix'])
      .where('access_profile_collections.profile_id', '=', row.id)
      .orderBy('api_collections.id')
      .execute();
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      authMethod: row.auth_method,
      collections,
      ipAllowList: JSON.parse(row.ip_allow) as string[],
      policyId: row.policy_id,
      enabled: row.enabled === 1,
      clientId: row.client_id === null ? null : row.client_id.slice(0, CLIENT_REF_LENGTH),
      tokenPrefix: row.token_prefix,
      jwt: jwtOf(row),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  private async findProfileRow(ref: number | string, executor: Executor = this.db): Promise<ProfileRow> {
    const id = rowId(ref);
    const row =
      id !== undefined
        ? await executor.selectFrom('access_profiles').selectAll().where('id', '=', id).executeTakeFirst()
        : typeof ref === 'string' && ref.trim() !== '' && ref.length <= 1000
          ? await executor
              .selectFrom('access_profiles')
              .selectAll()
              .where('name_key', '=', nameKey(ref))
              .executeTakeFirst()
          : undefined;
    if (!row) throw new NotFoundError('Access profile', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return row;
  }

  /** By id or name. */
  async getProfile(ref: number | string, principal: Principal): Promise<AccessProfile> {
    this.require(principal);
    return this.profileView(await this.findProfileRow(ref));
  }

  async listProfiles(query: ListQuery, principal: Principal): Promise<Page<AccessProfile>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.db.selectFrom('access_profiles').selectAll();
    if (after !== undefined) q = q.where('id', '>', after);
    const rows = await q
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const page = toPage(
      rows,
      limit,
      (row) => row,
      (row) => row.id,
    );
    return {
      items: await Promise.all(page.items.map((row) => this.profileView(row))),
      nextCursor: page.nextCursor,
    };
  }

  /** Collection ids (or prefixes) → ids; 400 naming the first unknown one. */
  private async collectionIds(value: unknown, tx: Executor): Promise<number[]> {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.length > 500)
      throw new ValidationError('"collections" must be a list of collection ids or prefixes (at most 500).', {
        field: 'collections',
      });
    const ids: number[] = [];
    for (const ref of value) {
      if (typeof ref !== 'number' && typeof ref !== 'string')
        throw new ValidationError('"collections" must be a list of collection ids or prefixes.', {
          field: 'collections',
        });
      try {
        ids.push((await this.findCollection(ref, tx)).id);
      } catch (error) {
        if (error instanceof NotFoundError)
          throw new ValidationError(`Unknown API collection "${String(ref).slice(0, 64)}".`, {
            field: 'collections',
          });
        throw error;
      }
    }
    return [...new Set(ids)];
  }

  private async setCollections(tx: Executor, profileId: number, ids: readonly number[]): Promise<void> {
    await tx.deleteFrom('access_profile_collections').where('profile_id', '=', profileId).execute();
    if (ids.length > 0)
      await tx
        .insertInto('access_profile_collections')
        .values(ids.map((id) => ({ profile_id: profileId, collection_id: id })))
        .execute();
  }

  private newApiToken(): { token: string; hash: string; prefix: string } {
    const token = `${API_TOKEN_PREFIX}${randomToken(32)}`;
    return {
      token,
      hash: this.ctx.keyring.hashSecret(API_TOKEN_PURPOSE, token),
      prefix: token.slice(0, API_TOKEN_PREFIX.length + API_TOKEN_SHOWN),
    };
  }

  /** The API client of an oauth2 profile: named after it, scope `gateway` only. */
  private clientInput(name: string, input: ProfileInput) {
    return {
      name: `Access profile: ${name}`.slice(0, MAX_NAME_LENGTH),
      description: 'The credentials of an API platform access profile (gatehouse platform profiles).',
      scopes: [GATEWAY_SCOPE],
      owner: input.owner,
    };
  }

  /** 409 when a jwt profile's issuer is one of the instance's own (see `ownIssuerSource`). */
  private async refuseOwnIssuer(tx: Executor, issuer: string): Promise<void> {
    const source = await ownIssuerSource(tx, this.ctx.config, issuer);
    if (source === undefined) return;
    throw new ConflictError(
      `"jwt.issuer" ${issuer} is Gatehouse's own issuer (${source}): Gatehouse checks its own tokens itself, a jwt profile is for an outside identity provider's.`,
      { field: 'jwt.issuer' },
    );
  }

  async createProfile(input: ProfileInput, principal: Principal, actor: Actor): Promise<IssuedProfile> {
    this.require(principal);
    const name = validateName(input.name, 'Profile name');
    const description = validateDescription(input.description);
    const authMethod = validateAuthMethod(input.authMethod);
    const ipAllowList = validateIpAllowList(input.ipAllowList);
    const enabled = input.enabled === undefined ? true : validateEnabled(input.enabled);
    const jwt = authMethod === 'jwt' ? validateJwt(input.jwt) : undefined;
    if (authMethod !== 'jwt' && input.jwt !== undefined && input.jwt !== null)
      throw new ValidationError('"jwt" is only for profiles whose authMethod is jwt.', { field: 'jwt' });
    const { id, credentials } = await this.write(actor, async (tx) => {
      if (jwt) await this.refuseOwnIssuer(tx, jwt.issuer);
      const collections = await this.collectionIds(input.collections, tx);
      const policyId = await this.policyIdOf(input.policyId, tx);
      const now = this.now();
      let credentials: ProfileCredentials = { type: 'jwt' };
      let clientId: string | null = null;
      let token: ReturnType<PlatformService['newApiToken']> | undefined;
      if (authMethod === 'oauth2') {
        const issued = await this.clients.createIn(tx, this.clientInput(name, input), actor);
        clientId = issued.clientId;
        credentials = { type: 'oauth2', clientId: issued.clientId, clientSecret: issued.clientSecret };
      } else if (authMethod === 'token') {
        token = this.newApiToken();
        credentials = { type: 'token', apiToken: token.token };
      }
      const row = await unique(
        tx
          .insertInto('access_profiles')
          .values({
            name,
            name_key: nameKey(name),
            description,
            auth_method: authMethod,
            client_id: clientId,
            token_hash: token?.hash ?? null,
            token_prefix: token?.prefix ?? null,
            jwt_jwks_url: jwt?.jwksUrl ?? null,
            jwt_issuer: jwt?.issuer ?? null,
            jwt_audience: jwt?.audience ?? null,
            jwt_required_claims: JSON.stringify(jwt?.requiredClaims ?? {}),
            ip_allow: JSON.stringify(ipAllowList),
            policy_id: policyId,
            enabled: enabled ? 1 : 0,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow(),
        () => new ConflictError(`An access profile named "${name}" already exists.`, { field: 'name' }),
      );
      await this.setCollections(tx, row.id, collections);
      return {
        result: { id: row.id, credentials },
        event: {
          action: 'access_profile.created',
          target: { type: 'access_profile', id: row.id },
          details: {
            name,
            authMethod,
            collections,
            ipAllowList,
            enabled,
            policyId,
            ...(clientId ? { clientId } : {}),
            ...(jwt ? { jwt } : {}),
          },
        },
      };
    });
    return { profile: await this.profileView(await this.findProfileRow(id)), credentials };
  }

  /** Changes name, description, collections, IP allow-list, enabled, policy, and a jwt profile's IdP settings (not the method). */
  async updateProfile(
    ref: number | string,
    input: ProfileInput,
    principal: Principal,
    actor: Actor,
  ): Promise<AccessProfile> {
    this.require(principal);
    if (input.authMethod !== undefined)
      throw new ValidationError(
        'The authentication method of a profile cannot change: create another profile.',
        { field: 'authMethod' },
      );
    if (input.owner !== undefined)
      throw new ValidationError('"owner" is given only when an oauth2 profile is created.', {
        field: 'owner',
      });
    const changes: Partial<Record<'name' | 'name_key' | 'description' | 'ip_allow', string>> & {
      enabled?: number;
    } = {};
    const details: Record<string, unknown> = {};
    if (input.name !== undefined) {
      changes.name = validateName(input.name, 'Profile name');
      changes.name_key = nameKey(changes.name);
      details.name = changes.name;
    }
    if (input.description !== undefined)
      changes.description = details.description = validateDescription(input.description);
    if (input.ipAllowList !== undefined) {
      const list = validateIpAllowList(input.ipAllowList);
      changes.ip_allow = JSON.stringify(list);
      details.ipAllowList = list;
    }
    if (input.enabled !== undefined) {
      changes.enabled = validateEnabled(input.enabled) ? 1 : 0;
      details.enabled = changes.enabled === 1;
    }
    const given =
      Object.keys(changes).length > 0 ||
      input.collections !== undefined ||
      input.jwt !== undefined ||
      input.policyId !== undefined;
    if (!given)
      throw new ValidationError(
        'Nothing to change: give name, description, collections, ipAllowList, enabled, jwt or policyId.',
      );
    const id = await this.write(actor, async (tx) => {
      const before = await this.findProfileRow(ref, tx);
      const jwtChanges: Partial<ProfileRow> = {};
      if (input.policyId !== undefined) {
        jwtChanges.policy_id = await this.policyIdOf(input.policyId, tx);
        details.policyId = jwtChanges.policy_id;
      }
      if (input.jwt !== undefined) {
        if (before.auth_method !== 'jwt')
          throw new ValidationError('"jwt" is only for profiles whose authMethod is jwt.', { field: 'jwt' });
        const jwt = validateJwt(input.jwt);
        await this.refuseOwnIssuer(tx, jwt.issuer);
        Object.assign(jwtChanges, {
          jwt_jwks_url: jwt.jwksUrl,
          jwt_issuer: jwt.issuer,
          jwt_audience: jwt.audience,
          jwt_required_claims: JSON.stringify(jwt.requiredClaims),
        });
        details.jwt = jwt;
      }
      await unique(
        tx
          .updateTable('access_profiles')
          .set({ ...changes, ...jwtChanges, updated_at: this.now() })
          .where('id', '=', before.id)
          .execute(),
        () =>
          new ConflictError(`An access profile named "${changes.name}" already exists.`, {
            field: 'name',
          }),
      );
      if (input.collections !== undefined) {
        const ids = await this.collectionIds(input.collections, tx);
        await this.setCollections(tx, before.id, ids);
        details.collections = ids;
      }
      return {
        result: before.id,
        event: {
          action: 'access_profile.updated',
          target: { type: 'access_profile', id: before.id },
          details,
        },
      };
    });
    return this.profileView(await this.findProfileRow(id));
  }

  /**
   * New credentials, shown once: oauth2 → a new client secret (the client's rotation, the old
   * secret ends at once unless `graceSeconds` says otherwise); token → a new API token (the old
   * one stops at once). A jwt profile has no credential of its own: 409.
   */
  async regenerateCredentials(
    ref: number | string,
    options: { graceSeconds?: unknown },
    principal: Principal,
    actor: Actor,
  ): Promise<IssuedProfile> {
    this.require(principal);
    const row = await this.findProfileRow(ref);
    let credentials: ProfileCredentials;
    if (row.auth_method === 'oauth2' && row.client_id !== null) {
      // The profile's client is managed through the profile: gateway.manage, not client ownership.
      const rotated = await this.clients.rotateSecret(
        row.client_id,
        { graceSeconds: options.graceSeconds ?? 0 },
        actor,
        OPERATOR,
      );
      credentials = { type: 'oauth2', clientId: rotated.clientId, clientSecret: rotated.clientSecret };
    } else if (row.auth_method === 'token') {
      const token = this.newApiToken();
      await this.write(actor, async (tx) => {
        await tx
          .updateTable('access_profiles')
          .set({ token_hash: token.hash, token_prefix: token.prefix, updated_at: this.now() })
          .where('id', '=', row.id)
          .execute();
        return {
          result: undefined,
          event: {
            action: 'access_profile.token_regenerated',
            target: { type: 'access_profile', id: row.id },
            details: { prefix: token.prefix },
          },
        };
      });
      credentials = { type: 'token', apiToken: token.token };
    } else {
      throw new ConflictError(
        'A jwt profile has no credentials of its own: its identity provider issues the tokens.',
      );
    }
    return { profile: await this.profileView(await this.findProfileRow(row.id)), credentials };
  }

  /** Deletes a profile; an oauth2 profile's API client is revoked in the same transaction. */
  async deleteProfile(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.write(actor, async (tx) => {
      const row = await this.findProfileRow(ref, tx);
      await tx.deleteFrom('access_profiles').where('id', '=', row.id).execute();
      if (row.client_id !== null) await this.clients.revokeIn(tx, row.client_id, actor);
      return {
        result: undefined,
        event: {
          action: 'access_profile.deleted',
          target: { type: 'access_profile', id: row.id },
          details: {
            name: row.name,
            authMethod: row.auth_method,
            ...(row.client_id ? { clientId: row.client_id } : {}),
          },
        },
      };
    });
  }

  // ---- policies ----

  private selectPolicies(executor: Executor = this.db) {
    return executor
      .selectFrom('platform_policies')
      .selectAll('platform_policies')
      .select((eb) =>
        eb
          .selectFrom('access_profiles')
          .select(eb.fn.countAll().as('n'))
          .whereRef('access_profiles.policy_id', '=', 'platform_policies.id')
          .as('profile_count'),
      );
  }

  /** By id or name. */
  private async findPolicy(ref: number | string, executor: Executor = this.db): Promise<Policy> {
    const id = rowId(ref);
    const row =
      id !== undefined
        ? await this.selectPolicies(executor).where('platform_policies.id', '=', id).executeTakeFirst()
        : typeof ref === 'string' && ref.trim() !== '' && ref.length <= 1000
          ? await this.selectPolicies(executor)
              .where('platform_policies.name_key', '=', nameKey(ref))
              .executeTakeFirst()
          : undefined;
    if (!row) throw new NotFoundError('Policy', typeof ref === 'string' ? ref.slice(0, 64) : ref);
    return toPolicy(row as PolicyRow);
  }

  /** A profile's `policyId` (a policy id or name; null: none) → the id; 400 when there is no such policy. */
  private async policyIdOf(value: unknown, tx: Executor): Promise<number | null> {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' && typeof value !== 'string')
      throw new ValidationError('"policyId" must be a policy id or name, or null.', { field: 'policyId' });
    try {
      return (await this.findPolicy(value, tx)).id;
    } catch (error) {
      if (error instanceof NotFoundError)
        throw new ValidationError(`Unknown policy "${String(value).slice(0, 64)}".`, { field: 'policyId' });
      throw error;
    }
  }

  async getPolicy(ref: number | string, principal: Principal): Promise<Policy> {
    this.require(principal);
    return this.findPolicy(ref);
  }

  /** By id, cursor-paged. */
  async listPolicies(query: ListQuery, principal: Principal): Promise<Page<Policy>> {
    this.require(principal);
    const limit = pageSize(query.limit);
    const after = decodeCursor(query.cursor, idCursor);
    let q = this.selectPolicies();
    if (after !== undefined) q = q.where('platform_policies.id', '>', after);
    const rows = await q
      .orderBy('platform_policies.id')
      .limit(limit + 1)
      .execute();
    return toPage(rows as PolicyRow[], limit, toPolicy, (row) => row.id);
  }

  async createPolicy(input: PolicyInput, principal: Principal, actor: Actor): Promise<Policy> {
    this.require(principal);
    const name = validateName(input.name, 'Policy name');
    const description = validateDescription(input.description);
    const { limits, columns } = policyColumns(input);
    const conflict = () => new ConflictError(`A policy named "${name}" already exists.`, { field: 'name' });
    const id = await this.write(actor, async (tx) => {
      const taken = await tx
        .selectFrom('platform_policies')
        .select('id')
        .where('name_key', '=', nameKey(name))
        .executeTakeFirst();
      if (taken) throw conflict();
      const now = this.now();
      const row = await unique(
        tx
          .insertInto('platform_policies')
          .values({
            name,
            name_key: nameKey(name),
            description,
            ...columns,
            created_at: now,
            updated_at: now,
          })
          .returning('id')
          .executeTakeFirstOrThrow(),
        conflict,
      );
      return {
        result: row.id,
        event: {
          action: 'platform_policy.created',
          target: { type: 'platform_policy', id: row.id },
          details: { name, ...limits },
        },
      };
    });
    return this.findPolicy(id);
  }

  /** Any of name, description, rateLimit, quota, concurrency (null turns a limit off); every node enforces the change from its next call. */
  async updatePolicy(
    ref: number | string,
    input: PolicyInput,
    principal: Principal,
    actor: Actor,
  ): Promise<Policy> {
    this.require(principal);
    const given = Object.entries(input).filter(([, v]) => v !== undefined);
    if (given.length === 0)
      throw new ValidationError(
        'Nothing to change: give name, description, rateLimit, quota or concurrency.',
      );
    const name = input.name !== undefined ? validateName(input.name, 'Policy name') : undefined;
    const description = input.description !== undefined ? validateDescription(input.description) : undefined;
    const id = await this.write(actor, async (tx) => {
      const before = await this.findPolicy(ref, tx);
      const { columns } = policyColumns(input, before);
      const conflict = () => new ConflictError(`A policy named "${name}" already exists.`, { field: 'name' });
      if (name !== undefined) {
        const taken = await tx
          .selectFrom('platform_policies')
          .select('id')
          .where('name_key', '=', nameKey(name))
          .where('id', '!=', before.id)
          .executeTakeFirst();
        if (taken) throw conflict();
      }
      await unique(
        tx
          .updateTable('platform_policies')
          .set({
            ...columns,
            ...(name !== undefined ? { name, name_key: nameKey(name) } : {}),
            ...(description !== undefined ? { description } : {}),
            updated_at: this.now(),
          })
          .where('id', '=', before.id)
          .execute(),
        conflict,
      );
      const details: Record<string, unknown> = {};
      for (const [key, value] of given) details[key] = value;
      return {
        result: before.id,
        event: {
          action: 'platform_policy.updated',
          target: { type: 'platform_policy', id: before.id },
          details,
        },
      };
    });
    return this.findPolicy(id);
  }

  /** Deletes a policy no profile uses; one in use is a 409 naming the profiles (detach them first). */
  async deletePolicy(ref: number | string, principal: Principal, actor: Actor): Promise<void> {
    this.require(principal);
    await this.write(actor, async (tx) => {
      const policy = await this.findPolicy(ref, tx);
      const users = await tx
        .selectFrom('access_profiles')
        .select(['id', 'name'])
        .where('policy_id', '=', policy.id)
        .orderBy('id')
        .execute();
      if (users.length > 0) {
        const shown = users.slice(0, 10).map((u) => `"${u.name}"`);
        throw new ConflictError(
          `The policy "${policy.name}" is used by ${users.length === 1 ? 'the access profile' : `${users.length} access profiles:`} ` +
            `${shown.join(', ')}${users.length > 10 ? ', …' : ''}; give them another policy (or none) first.`,
          { profiles: users.map((u) => ({ id: u.id, name: u.name })) },
        );
      }
      await tx.deleteFrom('platform_policies').where('id', '=', policy.id).execute();
      return {
        result: undefined,
        event: {
          action: 'platform_policy.deleted',
          target: { type: 'platform_policy', id: policy.id },
          details: { name: policy.name },
        },
      };
    });
  }

  // ---- for the gateway and the guard ----

  /** The catalog as of the last platform change (one load per change per process). */
  catalog(): Promise<GatewayCatalog> {
    return this.catalogCache.get('catalog', () => loadCatalog(this.db));
  }

  /** The access profile of a static API token (any enabled state), or undefined. */
  async profileOfApiToken(token: string): Promise<CatalogProfile | undefined> {
    if (!token.startsWith(API_TOKEN_PREFIX) || token.length > 200) return undefined;
    const catalog = await this.catalog();
    return catalog.profileByTokenHash.get(this.ctx.keyring.hashSecret(API_TOKEN_PURPOSE, token));
  }

  /** The oauth2 access profile whose API client is `clientId`, or undefined. */
  async profileOfClient(clientId: string): Promise<CatalogProfile | undefined> {
    return (await this.catalog()).profileByClientId.get(clientId);
  }

  /**
   * The enabled jwt profile an outside IdP's token is for, with the verified claims: the token's
   * `iss` names the candidates, then signature (the profile's JWKS), `exp`/`nbf`, audience and
   * required claims decide. Undefined when none accepts it.
   */
  async verifyIdpJwt(token: string): Promise<{ profile: CatalogProfile; claims: JWTPayload } | undefined> {
    let issuer: string | undefined;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    if (issuer === undefined) return undefined;
    const candidates = (await this.catalog()).jwtProfilesByIssuer.get(issuer) ?? [];
    for (const profile of candidates) {
      const settings = profile.jwt;
      if (settings === null) continue;
      try {
        const { payload } = await jwtVerify(token, this.keySet(settings.jwksUrl), {
          issuer: settings.issuer,
          ...(settings.audience === null ? {} : { audience: settings.audience }),
          clockTolerance: IDP_JWT_CLOCK_SKEW_SECONDS,
          currentDate: this.ctx.clock.now(),
        });
        if (claimsSatisfied(payload, settings.requiredClaims)) return { profile, claims: payload };
      } catch (error) {
        this.ctx.log.debug(
          { err: error, profile: profile.id },
          'an outside JWT did not verify for an access profile',
        );
      }
    }
    return undefined;
  }

  private keySet(url: string): ReturnType<typeof createRemoteJWKSet> {
    let set = this.keySets.get(url);
    if (!set) {
      set = createRemoteJWKSet(new URL(url), {
        cooldownDuration: this.ctx.config.gatewayJwksCooldownSeconds * 1000,
        cacheMaxAge: 10 * 60_000,
        timeoutDuration: 5000,
      });
      this.keySets.set(url, set);
    }
    return set;
  }
}
