/**
 * The Streams API (Domo's /v1/streams, issue #15) on the bearer surface, with the DataSets API's
 * rules: client tokens need scope `data` and their owner's grant, developer tokens the grant
 * only — `data.view` to read, `data.manage` to write (and the DataSet's owner or an Admin, which
 * the service checks). The guard runs at onRequest, before any part body is read.
 */
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { UnsupportedMediaTypeError } from '../../errors.js';
import { actorOf, BEARER_API, type Guard, principalOf } from '../../guard/index.js';
import type { Services } from '../../services/index.js';
import { DATA_MANAGE, DATA_VIEW } from '../datasets/index.js';
import {
  abortCurrentExecutionSchema,
  abortExecutionSchema,
  commitExecutionSchema,
  createExecutionSchema,
  createStreamSchema,
  deleteStreamSchema,
  getExecutionSchema,
  getStreamSchema,
  listExecutionsSchema,
  listStreamsSchema,
  searchStreamsSchema,
  updateStreamSchema,
  uploadPartSchema,
} from './schemas.js';

export interface StreamApiOptions {
  services: Services;
  guard: Guard;
}

export async function streamApiRoutes(
  app: FastifyInstance,
  { services, guard }: StreamApiOptions,
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const view = guard.require(DATA_VIEW, BEARER_API);
  const manage = guard.require(DATA_MANAGE, BEARER_API);
  const streams = services.streams;

  // Part bodies are handed on as streams and read as they arrive: text/csv (gunzipped already
  // when sent with Content-Encoding: gzip), or a gzip file as application/gzip, which is what the
  // Domo SDK's uploadCompressedPart sends.
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));
  app.addContentTypeParser('application/gzip', (_request, payload, done) => {
    const gunzip = createGunzip();
    // The reader (dataset-load) gets a broken gzip body's error and answers 400; without a
    // listener of our own, an error after it stopped listening would be an uncaught exception.
    gunzip.on('error', () => {});
    payload.on('error', (error) => gunzip.destroy(error));
    done(null, payload.pipe(gunzip));
  });

  r.get('/v1/streams', { schema: listStreamsSchema, onRequest: view }, async (request) =>
    streams.list(request.query),
  );

  r.post('/v1/streams', { schema: createStreamSchema, onRequest: manage }, async (request, reply) => {
    const stream = await streams.create(request.body, principalOf(request), actorOf(request));
    return reply.code(201).send(stream);
  });

  r.get('/v1/streams/search', { schema: searchStreamsSchema, onRequest: view }, async (request) =>
    streams.search(request.query.q, request.query),
  );

  r.get('/v1/streams/:id', { schema: getStreamSchema, onRequest: view }, async (request) =>
    streams.get(request.params.id),
  );

  r.patch('/v1/streams/:id', { schema: updateStreamSchema, onRequest: manage }, async (request) =>
    streams.update(request.params.id, request.body, principalOf(request), actorOf(request)),
  );

  r.delete('/v1/streams/:id', { schema: deleteStreamSchema, onRequest: manage }, async (request, reply) => {
    await streams.delete(request.params.id, principalOf(request), actorOf(request));
    return reply.code(204).send();
  });

  r.post(
    '/v1/streams/:id/executions',
    { schema: createExecutionSchema, onRequest: manage },
    async (request, reply) => {
      const execution = await streams.createExecution(
        request.params.id,
        principalOf(request),
        actorOf(request),
      );
      return reply.code(201).send(execution);
    },
  );

  r.get('/v1/streams/:id/executions', { schema: listExecutionsSchema, onRequest: view }, async (request) =>
    streams.listExecutions(request.params.id, request.query),
  );

  r.put(
    '/v1/streams/:id/executions/abort',
    { schema: abortCurrentExecutionSchema, onRequest: manage },
    async (request) => streams.abort(request.params.id, undefined, principalOf(request), actorOf(request)),
  );

  r.get(
    '/v1/streams/:id/executions/:execId',
    { schema: getExecutionSchema, onRequest: view },
    async (request) => streams.getExecution(request.params.id, request.params.execId),
  );

  r.put(
    '/v1/streams/:id/executions/:execId/part/:partNum',
    { schema: uploadPartSchema, onRequest: manage },
    async (request) => {
      const body = request.body as unknown;
      if (typeof (body as Readable | undefined)?.pipe !== 'function')
        throw new UnsupportedMediaTypeError(
          'Send the part as Content-Type: text/csv (no header row), or a gzip file as application/gzip.',
        );
      return streams.uploadPart(
        request.params.id,
        request.params.execId,
        request.params.partNum,
        body as Readable,
        principalOf(request),
        actorOf(request),
      );
    },
  );

  r.put(
    '/v1/streams/:id/executions/:execId/commit',
    { schema: commitExecutionSchema, onRequest: manage },
    async (request) =>
      streams.commit(request.params.id, request.params.execId, principalOf(request), actorOf(request)),
  );

  r.put(
    '/v1/streams/:id/executions/:execId/abort',
    { schema: abortExecutionSchema, onRequest: manage },
    async (request) =>
      streams.abort(request.params.id, request.params.execId, principalOf(request), actorOf(request)),
  );
}
