/**
 * The DataSets API (Domo's /v1/datasets, issue #15): client tokens need scope `data` and their
 * owner's grant, developer tokens and the admin session (the admin UI's Data page; `X-CSRF-Token`
 * on writes) the grant only — `data.view` to read, `data.manage` to write. The guard runs at
 * onRequest, before any body is read.
 */
import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import {
  AppError,
  ClientClosedRequestError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../errors.js';
import {
  actorOf,
  BEARER_OR_SESSION,
  type Guard,
  principalOf,
  refuseBeforePasswordChange,
} from '../../guard/index.js';
import { hasControlCharacter, type ListQuery, type UploadOptions } from '../../services/datasets.js';
import type { Services } from '../../services/index.js';
import {
  createDatasetSchema,
  createPolicySchema,
  deletePolicySchema,
  getPolicySchema,
  listPoliciesSchema,
  updatePolicySchema,
  deleteDatasetSchema,
  exportDataSchema,
  getDatasetSchema,
  importDataSchema,
  listDatasetsSchema,
  queryDatasetSchema,
  updateDatasetSchema,
} from './schemas.js';

export interface DatasetApiOptions {
  services: Services;
  guard: Guard;
}

/** Reads: the `data.view` grant (of the client's owner) and, for client tokens, scope `data`. */
export const DATA_VIEW = { grant: 'data.view', scope: 'data' } as const;
/** Writes: `data.manage` and, for client tokens, scope `data`. */
export const DATA_MANAGE = { grant: 'data.manage', scope: 'data' } as const;

/** `Content-Disposition: attachment` with an ASCII fallback and the RFC 5987 UTF-8 name. */
export function contentDisposition(fileName: string): string {
  if (hasControlCharacter(fileName))
    throw new ValidationError('"fileName" may not contain control characters.', { field: 'fileName' });
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(fileName)}`;
}

export async function datasetApiRoutes(
  app: FastifyInstance,
  { services, guard }: DatasetApiOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  // Parses the session cookie for these routes only; the guard decides which credential counts.
  await app.register(cookie);
  const view = [guard.require(DATA_VIEW, BEARER_OR_SESSION), refuseBeforePasswordChange];
  const manage = [guard.require(DATA_MANAGE, BEARER_OR_SESSION), refuseBeforePasswordChange];

  // CSV bodies are handed on as the raw (already gunzipped) stream; the service reads it as it arrives.
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  r.get('/v1/datasets', { schema: listDatasetsSchema, onRequest: view }, async (request) => {
    return services.datasets.list(request.query as ListQuery);
  });

  r.post('/v1/datasets', { schema: createDatasetSchema, onRequest: manage }, async (request, reply) => {
    const dataset = await services.datasets.create(request.body, principalOf(request), actorOf(request));
    return reply.code(201).send(dataset);
  });

  r.get('/v1/datasets/:id', { schema: getDatasetSchema, onRequest: view }, async (request) => {
    return services.datasets.get(request.params.id);
  });

  r.put('/v1/datasets/:id', { schema: updateDatasetSchema, onRequest: manage }, async (request) => {
    return services.datasets.update(request.params.id, request.body, principalOf(request), actorOf(request));
  });

  r.delete('/v1/datasets/:id', { schema: deleteDatasetSchema, onRequest: manage }, async (request, reply) => {
    await services.datasets.delete(request.params.id, principalOf(request), actorOf(request));
    return reply.code(204).send();
  });

  r.put('/v1/datasets/:id/data', { schema: importDataSchema, onRequest: manage }, async (request, reply) => {
    const body = request.body as unknown;
    if (typeof (body as Readable | undefined)?.pipe !== 'function')
      throw new UnsupportedMediaTypeError('Send the rows as Content-Type: text/csv (no header row).');
    try {
      await services.datasets.importCsv(
        request.params.id,
        body as Readable,
        {
          updateMethod:
            (request.query.updateMethod as UploadOptions['updateMethod'] | undefined) ?? 'REPLACE',
        },
        principalOf(request),
        actorOf(request),
      );
    } catch (error) {
      // The body broke off because the client left (not a server fault): a 499 in the access log.
      // (Our own refusals are AppErrors; a client that leaves makes the body fail with ECONNRESET.)
      const code = (error as { code?: unknown } | null)?.code;
      if (!(error instanceof AppError) && code === 'ECONNRESET' && !request.raw.complete)
        throw new ClientClosedRequestError();
      throw error;
    }
    return reply.code(204).send();
  });

  // Domo's path puts the id last; the guard's data.view (scope `data`) covers it: a query reads.
  r.post(
    '/v1/datasets/query/execute/:id',
    { schema: queryDatasetSchema, onRequest: view },
    async (request) => {
      // PDP: the caller's policies decide the rows `table` holds (all for the owner and Admins).
      const filter = await services.datasetPolicies.rowFilter(request.params.id, principalOf(request));
      return services.datasetQueries.execute(request.params.id, request.body.sql, filter);
    },
  );

  r.get('/v1/datasets/:id/data', { schema: exportDataSchema, onRequest: view }, async (request, reply) => {
    const disposition =
      request.query.fileName === undefined ? undefined : contentDisposition(request.query.fileName);
    const stream = await services.datasets.exportCsv(
      request.params.id,
      { includeHeader: request.query.includeHeader ?? false },
      await services.datasetPolicies.rowFilter(request.params.id, principalOf(request)),
    );
    reply.header('content-type', 'text/csv; charset=utf-8');
    if (disposition) reply.header('content-disposition', disposition);
    // The CSV stream goes out as it is read (no JSON serialization).
    return reply.send(stream as never);
  });

  r.get('/v1/datasets/:id/policies', { schema: listPoliciesSchema, onRequest: view }, async (request) => {
    return services.datasetPolicies.list(request.params.id);
  });

  r.post(
    '/v1/datasets/:id/policies',
    { schema: createPolicySchema, onRequest: manage },
    async (request, reply) => {
      const policy = await services.datasetPolicies.create(
        request.params.id,
        request.body,
        principalOf(request),
        actorOf(request),
      );
      return reply.code(201).send(policy);
    },
  );

  r.get(
    '/v1/datasets/:id/policies/:policyId',
    { schema: getPolicySchema, onRequest: view },
    async (request) => {
      return services.datasetPolicies.get(request.params.id, request.params.policyId);
    },
  );

  r.put(
    '/v1/datasets/:id/policies/:policyId',
    { schema: updatePolicySchema, onRequest: manage },
    async (request) => {
      return services.datasetPolicies.update(
        request.params.id,
        request.params.policyId,
        request.body,
        principalOf(request),
        actorOf(request),
      );
    },
  );

  r.delete(
    '/v1/datasets/:id/policies/:policyId',
    { schema: deletePolicySchema, onRequest: manage },
    async (request, reply) => {
      await services.datasetPolicies.delete(
        request.params.id,
        request.params.policyId,
        principalOf(request),
        actorOf(request),
      );
      return reply.code(204).send();
    },
  );
}
