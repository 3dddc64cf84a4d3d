/**
 * The Workflows API's route schemas (`/v1/workflows…` and Domo's
 * `/api/workflow/v1/instances…`). Request schemas fix field names and JSON
 * types; the service checks the values with its own messages (names, versions,
 * sharing lists), and a definition's inner shape is checked by
 * src/workflows/definition.ts, which names the bad path — so here a definition
 * is documented as an object. Every numeric query parameter has a range, so an
 * out-of-range number is a 400 before any SQL runs.
 */
import { Type } from '@sinclair/typebox';
import { JsonObject, Literals, NoBody, Nullable, Obj, Timestamp } from '../../schemas.js';
import { MAX_INSTANCE_OFFSET, MAX_OFFSET } from '../../services/workflows.js';
import { HTTP_METHODS, STEP_TYPES } from '../../workflows/definition.js';

/** Largest page of workflows, runs or log lines (the service's limit). */
const MAX_LIMIT = 500;

const Limit = Type.Integer({ minimum: 1, maximum: MAX_LIMIT, description: 'Page size (default 50).' });
const Offset = Type.Integer({ minimum: 0, maximum: MAX_OFFSET, description: 'Items to skip (default 0).' });
const Status = Literals(['QUEUED', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELED'] as const);

const DEFINITION_EXAMPLE = {
  input: { type: 'object', properties: { n: { type: 'integer' } } },
  steps: [
    { id: 'double', type: 'set', values: { doubled: 'input.n * 2' } },
    { id: 'say', type: 'log', message: 'doubled to {{vars.doubled}}' },
  ],
};

/** Checked in full by src/workflows/definition.ts (a 400 names the bad path); documented here as an object. */
const Definition = Type.Object(
  {},
  {
    additionalProperties: true,
    title: 'Workflow definition',
    description:
      '`{input?, steps}`: `input` is an optional JSON Schema for the run input; `steps` a list of steps, each ' +
      `\`{id?, type, …}\` with type one of ${STEP_TYPES.join(', ')} (http methods: ${HTTP_METHODS.join(', ')}). ` +
      'Expressions are JSONata; `{{ … }}` in strings are templates. See the README, "Workflows API".',
    examples: [DEFINITION_EXAMPLE],
  },
);

export const WorkflowParams = Type.Object({
  id: Type.String({ maxLength: 100, description: 'Workflow id.' }),
});
export const InstanceParams = Type.Object({
  instanceId: Type.String({ maxLength: 100, description: 'Run id.' }),
});
export const DomoInstanceParams = Type.Object({
  id: Type.String({ maxLength: 100, description: 'Run id.' }),
});

export const ListWorkflowsQuery = Type.Object({
  limit: Type.Optional(Limit),
  offset: Type.Optional(Offset),
  nameLike: Type.Optional(
    Type.String({ maxLength: 200, description: 'Case-insensitive substring of the name.' }),
  ),
});
export const PageQuery = Type.Object({ limit: Type.Optional(Limit), offset: Type.Optional(Offset) });
/** The run list also takes the `cursor` its `Link: <…>; rel="next"` header names. */
export const InstanceListQuery = Type.Object({
  limit: Type.Optional(Limit),
  offset: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: MAX_OFFSET,
      description: `Runs to skip, at most ${MAX_INSTANCE_OFFSET}; page further with \`cursor\`.`,
    }),
  ),
  cursor: Type.Optional(
    Type.String({ maxLength: 400, description: 'From the `Link: <…>; rel="next"` header.' }),
  ),
});

// Unknown fields are refused (400 naming the field), as on the admin API.
const Name = Type.String({ description: '1–200 characters, unique (case-insensitive).' });
const Description = Type.String({ description: 'At most 2000 characters.' });

export const CreateWorkflowBody = Type.Object(
  { name: Name, description: Type.Optional(Description), definition: Definition },
  { additionalProperties: false },
);
export const UpdateWorkflowBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    definition: Type.Optional(Definition),
  },
  {
    additionalProperties: false,
    description: 'A new definition is a new version; runs keep the version they started with.',
  },
);
export const SharingBody = Type.Object(
  {
    userIds: Type.Optional(
      Type.Array(Type.Integer(), {
        description:
          'The user ids to share with (at most 1000); replaces the users. The owner is implied. Not given: the users stay.',
      }),
    ),
    groupIds: Type.Optional(
      Type.Array(Type.Integer(), {
        description:
          "The group ids to share with (at most 1000); replaces the groups. The groups' members at the time of each request see the workflow. Not given: the groups stay.",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'At least one of `userIds` and `groupIds`.',
  },
);

const Version = Type.Union([Type.Integer(), Type.String()], {
  description: 'A version number such as 1 or "1.0.0"; default the current version.',
});
export const ExecuteBody = Type.Union(
  [
    Type.Object(
      {
        input: Type.Optional(
          Type.Unknown({ description: "The run input; checked against the definition's input schema." }),
        ),
        version: Type.Optional(Version),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: 'Optional: no body runs the current version with input `{}`.' },
);

export const MessageBody = Type.Object(
  {
    messageName: Type.Optional(Type.String({ description: '"Start <workflow name>" (or give `modelId`).' })),
    version: Type.Optional(Version),
    modelId: Type.Optional(Type.String({ description: 'The workflow id; picks the workflow when given.' })),
    data: Type.Optional(Type.Unknown({ description: 'The run input.' })),
  },
  { examples: [{ messageName: 'Start Double it', version: '1.0.0', data: { n: 2 } }] },
);

export const Workflow = Obj(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.String(),
    version: Type.Integer({ description: 'The current version.' }),
    ownerId: Type.Integer(),
    sharedWith: Type.Array(Type.Integer(), { description: 'User ids the workflow is shared with.' }),
    sharedWithGroups: Type.Array(Type.Integer(), {
      description: 'Group ids the workflow is shared with; their members (now) see it.',
    }),
    definition: Definition,
    createdBy: Nullable(Type.Integer()),
    createdOn: Timestamp,
    updatedBy: Nullable(Type.Integer()),
    updatedOn: Timestamp,
  },
  { title: 'Workflow' },
);

const domoInstanceProperties = {
  id: Type.String(),
  modelId: Type.String({ description: 'The workflow id.' }),
  modelName: Type.String(),
  modelVersion: Type.String({ examples: ['1.0.0'] }),
  createdBy: Nullable(Type.Integer()),
  createdOn: Timestamp,
  updatedBy: Nullable(Type.Integer()),
  updatedOn: Timestamp,
  status: Status,
};

/** Domo's instance: exactly these fields, in this order. */
export const DomoInstance = Obj(domoInstanceProperties, { title: 'Workflow instance (Domo)' });

export const WorkflowInstance = Obj(
  {
    ...domoInstanceProperties,
    version: Type.Integer(),
    input: Type.Unknown(),
    variables: JsonObject,
    outputs: JsonObject,
    error: Nullable(Type.String()),
    stepsCompleted: Type.Integer(),
    startedOn: Nullable(Timestamp),
    endedOn: Nullable(Timestamp),
  },
  { title: 'Workflow instance' },
);

export const InstanceLog = Obj(
  {
    seq: Type.Integer(),
    stepId: Type.String(),
    type: Type.String(),
    status: Literals(['ok', 'error', 'canceled'] as const),
    startedOn: Timestamp,
    endedOn: Timestamp,
    durationMs: Type.Integer(),
    output: Type.Unknown({ description: 'A summary of the step output.' }),
    message: Nullable(Type.String()),
    error: Nullable(Type.String()),
  },
  { title: 'Step log line' },
);

const NoContent = NoBody('Deleted; no body.');

export const listWorkflowsSchema = {
  summary: 'List the workflows you can see',
  querystring: ListWorkflowsQuery,
  response: { 200: Type.Array(Workflow) },
};
export const createWorkflowSchema = {
  summary: 'Create a workflow',
  description: 'An invalid definition is a 400 naming the path; nothing is stored.',
  body: CreateWorkflowBody,
  response: { 201: Workflow },
};
export const getWorkflowSchema = {
  summary: 'A workflow with its current version and definition',
  params: WorkflowParams,
  response: { 200: Workflow },
};
export const updateWorkflowSchema = {
  summary: 'Change a workflow',
  params: WorkflowParams,
  body: UpdateWorkflowBody,
  response: { 200: Workflow },
};
export const deleteWorkflowSchema = {
  summary: 'Delete a workflow (owner or Admin)',
  params: WorkflowParams,
  response: { 204: NoContent },
};
export const sharingSchema = {
  summary: 'Set who a workflow is shared with (owner or Admin)',
  params: WorkflowParams,
  body: SharingBody,
  response: { 200: Workflow },
};
export const executeSchema = {
  summary: 'Run a workflow',
  params: WorkflowParams,
  body: ExecuteBody,
  response: { 202: WorkflowInstance },
};
export const listInstancesSchema = {
  summary: 'The runs of a workflow, newest first',
  description: 'When there is a next page, a `Link: <…>; rel="next"` header names it (with `cursor`).',
  params: WorkflowParams,
  querystring: InstanceListQuery,
  response: {
    200: {
      ...Type.Array(WorkflowInstance),
      headers: { Link: Type.String({ description: 'RFC 8288 `rel="next"`' }) },
    },
  },
};
export const getInstanceSchema = {
  summary: 'A run: status, version, input, variables, outputs, error',
  params: InstanceParams,
  response: { 200: WorkflowInstance },
};
export const cancelInstanceSchema = {
  summary: 'Cancel a run',
  description: 'A queued run ends at once, a running one at its next step boundary; 409 if it already ended.',
  params: InstanceParams,
  response: { 200: WorkflowInstance },
};
export const instanceLogsSchema = {
  summary: 'The log of a run, one line per step',
  params: InstanceParams,
  querystring: PageQuery,
  response: { 200: Type.Array(InstanceLog) },
};

export const domoStartSchema = {
  summary: 'Start a run (Domo message)',
  body: MessageBody,
  response: { 200: DomoInstance },
};
export const domoGetSchema = {
  summary: 'A run (Domo shape)',
  params: DomoInstanceParams,
  response: { 200: DomoInstance },
};
export const domoCancelSchema = {
  summary: 'Cancel a run (Domo shape)',
  params: DomoInstanceParams,
  response: { 200: DomoInstance },
};
