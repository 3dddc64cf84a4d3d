/**
 * The API platform (issue 14, spec 003): an organisation's own APIs behind Gatehouse.
 *
 * - `api_collections`: a named group of endpoints reached under `/<prefix>/…` and forwarded to
 *   `upstream_url`. The prefix is unique (and kept clear of Gatehouse's own routes by the service).
 * - `api_endpoints`: one method + path pattern (`/orders/:id`) of a collection, forwarded to
 *   `upstream_path` (same syntax) with a timeout; unique per collection by method and pattern.
 * - `access_profiles`: who may call which collections, and how they prove it: `oauth2` (an API
 *   client of the token service, `client_id`), `token` (a static API token, only its HMAC in
 *   `token_hash`), `jwt` (an outside IdP: JWKS URL, issuer, audience, required claims). An
 *   optional IP allow-list (JSON array of CIDRs) and, for the next step, a policy (`policy_id`,
 *   nullable, no table yet).
 * - `access_profile_collections`: the collections a profile may call; it goes with either side.
 *
 * Booleans are integers (0/1) on both stores, as elsewhere.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const apiPlatform = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('api_collections'), dialect)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('prefix', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('upstream_url', 'text', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await withIdColumn(db.schema.createTable('api_endpoints'), dialect)
      .addColumn('collection_id', 'integer', (c) =>
        c.notNull().references('api_collections.id').onDelete('cascade'),
      )
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      /** The pattern with every parameter name replaced by `:`, so `/a/:id` and `/a/:key` collide. */
      .addColumn('path_key', 'text', (c) => c.notNull())
      .addColumn('upstream_path', 'text', (c) => c.notNull())
      .addColumn('timeout_ms', 'integer', (c) => c.notNull())
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('api_endpoints_route_unique', ['collection_id', 'method', 'path_key'])
      .execute();
    await withIdColumn(db.schema.createTable('access_profiles'), dialect)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('auth_method', 'text', (c) => c.notNull())
      .addColumn('client_id', 'text', (c) => c.unique().references('api_clients.id'))
      .addColumn('token_hash', 'text', (c) => c.unique())
      .addColumn('token_prefix', 'text')
      .addColumn('jwt_jwks_url', 'text')
      .addColumn('jwt_issuer', 'text')
      .addColumn('jwt_audience', 'text')
      .addColumn('jwt_required_claims', 'text', (c) => c.notNull().defaultTo('{}'))
      .addColumn('ip_allow', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('policy_id', 'integer')
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('access_profile_collections')
      .addColumn('profile_id', 'integer', (c) =>
        c.notNull().references('access_profiles.id').onDelete('cascade'),
      )
      .addColumn('collection_id', 'integer', (c) =>
        c.notNull().references('api_collections.id').onDelete('cascade'),
      )
      .addPrimaryKeyConstraint('access_profile_collections_pk', ['profile_id', 'collection_id'])
      .execute();
    await db.schema
      .createIndex('access_profile_collections_collection_idx')
      .on('access_profile_collections')
      .column('collection_id')
      .execute();
  },
};
