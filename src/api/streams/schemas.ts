/**
 * The Streams API's route schemas (`/v1/streams…`, Domo's names and shapes). Ids in paths are
 * strings checked by the service, so an id that cannot name a row is a 404 like any unknown one.
 */
import { Type } from '@sinclair/typebox';
import { Literals, NoBody, Obj, Timestamp } from '../../schemas.js';
import {
  DEFAULT_LIST_LIMIT,
  EXECUTION_STATES,
  MAX_LIST_LIMIT,
  MAX_LIST_OFFSET,
  MAX_PART,
  UPDATE_METHODS,
} from '../../services/streams.js';
import { CreateDatasetBody, Dataset } from '../datasets/schemas.js';

const Id = (what: string) => Type.String({ maxLength: 40, description: `${what} id (a whole number).` });

export const StreamParams = Type.Object({ id: Id('Stream') });
export const ExecutionParams = Type.Object({ id: Id('Stream'), execId: Id('Execution') });
export const PartParams = Type.Object({
  id: Id('Stream'),
  execId: Id('Execution'),
  partNum: Type.Integer({ minimum: 1, maximum: MAX_PART, description: `Part number, 1–${MAX_PART}.` }),
});

const Fields = Type.String({
  maxLength: 1000,
  description: 'Accepted for Domo compatibility (the SDK sends `all`) and ignored: every field is returned.',
});
const Limit = Type.Integer({
  minimum: 1,
  maximum: MAX_LIST_LIMIT,
  description: `Page size (default ${DEFAULT_LIST_LIMIT}, at most ${MAX_LIST_LIMIT}).`,
});
const Offset = Type.Integer({
  minimum: 0,
  maximum: MAX_LIST_OFFSET,
  description: 'Items to skip (default 0).',
});

export const ListQuery = Type.Object({
  limit: Type.Optional(Limit),
  offset: Type.Optional(Offset),
  fields: Type.Optional(Fields),
});
export const GetQuery = Type.Object({ fields: Type.Optional(Fields) });
export const SearchQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: 200,
    description: '`dataSource.id:<DataSet id>` or `dataSource.owner.id:<user id>`.',
    examples: ['dataSource.owner.id:1'],
  }),
  limit: Type.Optional(Limit),
  offset: Type.Optional(Offset),
  fields: Type.Optional(Fields),
});

const UpdateMethod = Literals(UPDATE_METHODS, {
  description: 'REPLACE: a commit replaces the DataSet\u2019s rows; APPEND: it adds to them.',
});

export const CreateStreamBody = Type.Object(
  {
    // The DataSet to create, as POST /v1/datasets takes it.
    dataSet: CreateDatasetBody,
    updateMethod: UpdateMethod,
  },
  {
    additionalProperties: false,
    examples: [
      {
        dataSet: {
          name: 'Sales',
          description: 'Daily sales',
          schema: {
            columns: [
              { name: 'Region', type: 'STRING' },
              { name: 'Amount', type: 'DECIMAL' },
            ],
          },
        },
        updateMethod: 'APPEND',
      },
    ],
  },
);
export const UpdateStreamBody = Type.Object(
  { updateMethod: Type.Optional(UpdateMethod) },
  { additionalProperties: false },
);

export const Stream = Obj(
  {
    id: Type.Integer(),
    dataSet: Dataset,
    updateMethod: Literals(UPDATE_METHODS),
    createdAt: Timestamp,
    modifiedAt: Timestamp,
  },
  { title: 'Stream' },
);

export const Execution = Obj(
  {
    id: Type.Integer(),
    startedAt: Timestamp,
    currentState: Literals(EXECUTION_STATES),
    createdAt: Timestamp,
    modifiedAt: Timestamp,
    endedAt: Type.Optional(Timestamp),
    updateMethod: Literals(UPDATE_METHODS, { description: 'The stream\u2019s, when the execution started.' }),
    rows: Type.Optional(Type.Integer({ description: 'Rows the commit made visible (after SUCCESS).' })),
    parts: Type.Array(Obj({ part: Type.Integer(), rows: Type.Integer(), uploadedAt: Timestamp }), {
      description: 'Parts stored so far, by number (empty once the execution has ended).',
    }),
  },
  { title: 'StreamExecution' },
);

const Csv = Type.Unknown({
  description:
    'CSV without a header row, values in schema order; an empty field is null. `Content-Encoding: gzip` ' +
    'on text/csv, or a gzip file as application/gzip (the SDK\u2019s uploadCompressedPart). Streamed: at most ' +
    'GATEHOUSE_DATASET_MAX_UPLOAD_BYTES per part (after gzip).',
  examples: ['East,12.50\nWest,\n'],
});

export const listStreamsSchema = {
  summary: 'List streams',
  querystring: ListQuery,
  response: { 200: Type.Array(Stream) },
};
export const createStreamSchema = {
  summary: 'Create a stream and its DataSet',
  description: 'Bad DataSet fields are a 400 naming the field, as for POST /v1/datasets; nothing is stored.',
  body: CreateStreamBody,
  response: { 201: Stream },
};
export const searchStreamsSchema = {
  summary: 'Find streams by DataSet or by DataSet owner',
  querystring: SearchQuery,
  response: { 200: Type.Array(Stream) },
};
export const getStreamSchema = {
  summary: 'A stream and its DataSet',
  params: StreamParams,
  querystring: GetQuery,
  response: { 200: Stream },
};
export const updateStreamSchema = {
  summary: 'Change a stream\u2019s update method (DataSet owner or Admin)',
  params: StreamParams,
  body: UpdateStreamBody,
  response: { 200: Stream },
};
export const deleteStreamSchema = {
  summary: 'Delete a stream, its executions and their parts (the DataSet stays)',
  params: StreamParams,
  response: { 204: NoBody('Deleted; no body.') },
};
export const createExecutionSchema = {
  summary: 'Start an upload (execution)',
  description: 'One execution of a stream is ACTIVE at a time: another is a 409 naming it.',
  params: StreamParams,
  response: { 201: Execution },
};
export const listExecutionsSchema = {
  summary: 'List a stream\u2019s executions, oldest first',
  params: StreamParams,
  querystring: ListQuery,
  response: { 200: Type.Array(Execution) },
};
export const getExecutionSchema = {
  summary: 'An execution: state and parts so far',
  params: ExecutionParams,
  response: { 200: Execution },
};
export const uploadPartSchema = {
  summary: 'Upload part N of an ACTIVE execution (CSV)',
  description:
    'Parts may come in any order and in parallel; sending a part number again replaces that part. A bad value is a 400 naming part, row, column and value, and the part is not stored; the execution stays ACTIVE. An execution that has ended is a 409.',
  params: PartParams,
  body: { content: { 'text/csv': { schema: Csv }, 'application/gzip': { schema: Csv } } },
  response: { 200: Execution },
};
export const commitExecutionSchema = {
  summary: 'Commit: every part becomes visible at once, in part order',
  description:
    'REPLACE replaces the DataSet\u2019s rows, APPEND adds to them, in one transaction. No parts, or a DataSet schema changed since the execution started → 409 and nothing changes.',
  params: ExecutionParams,
  response: { 200: Execution },
};
export const abortExecutionSchema = {
  summary: 'Abort an ACTIVE execution; its parts are dropped',
  params: ExecutionParams,
  response: { 200: Execution },
};
export const abortCurrentExecutionSchema = {
  summary: 'Abort the stream\u2019s ACTIVE execution; its parts are dropped',
  description: 'No ACTIVE execution → 409.',
  params: StreamParams,
  response: { 200: Execution },
};
