/**
 * The DataSets API's route schemas (`/v1/datasets…`, Domo's names and shapes). Request schemas
 * fix field names and JSON types; the service checks values with its own messages (names,
 * column types), so a 400 says which field was wrong and why.
 */
import { Type } from '@sinclair/typebox';
import { Literals, NoBody, Nullable, Obj, Timestamp } from '../../schemas.js';
import {
  COLUMN_TYPES,
  LIST_SORTS,
  MAX_COLUMNS,
  MAX_DESCRIPTION_LENGTH,
  MAX_LIST_LIMIT,
  MAX_LIST_OFFSET,
  MAX_NAME_LENGTH,
} from '../../services/datasets.js';
import {
  MAX_FILTERS_PER_POLICY,
  MAX_POLICY_MEMBERS,
  MAX_POLICY_NAME_LENGTH,
  MAX_VALUE_LENGTH,
  MAX_VALUES_PER_FILTER,
  POLICY_OPERATORS,
  POLICY_TYPES,
} from '../../services/dataset-policies.js';
import { MAX_ROW_ID } from '../../services/row-id.js';
import { MAX_SQL_LENGTH } from '../../services/dataset-sql.js';

export const DatasetParams = Type.Object({
  id: Type.String({ maxLength: 100, description: 'DataSet id (UUID).' }),
});

export const ListDatasetsQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_LIST_LIMIT,
      description: `Page size (default and most ${MAX_LIST_LIMIT}).`,
    }),
  ),
  offset: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_LIST_OFFSET, description: 'DataSets to skip (default 0).' }),
  ),
  sort: Type.Optional(
    Literals(LIST_SORTS, {
      description: '`name` (default, A–Z) or `lastTouched`/`lastUpdated` (most recently changed first).',
    }),
  ),
  nameLike: Type.Optional(
    Type.String({ maxLength: 200, description: 'Case-insensitive substring of the name.' }),
  ),
});

const Column = Type.Object(
  {
    name: Type.String({ description: '1–200 characters; unique (case-insensitive) within the DataSet.' }),
    type: Type.String({ description: `One of ${COLUMN_TYPES.join(', ')}.`, examples: ['STRING'] }),
  },
  { additionalProperties: false },
);
const Schema = Type.Object(
  { columns: Type.Array(Column, { description: `1–${MAX_COLUMNS} columns, in CSV order.` }) },
  { additionalProperties: false },
);
const Name = Type.String({ description: `1–${MAX_NAME_LENGTH} characters.` });
const Description = Type.String({ description: `At most ${MAX_DESCRIPTION_LENGTH} characters.` });
const Rows = Type.Integer({
  description: 'Accepted for Domo compatibility and ignored: the row count follows the data.',
});

export const CreateDatasetBody = Type.Object(
  { name: Name, description: Type.Optional(Description), rows: Type.Optional(Rows), schema: Schema },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'Sales',
        description: 'Daily sales',
        schema: {
          columns: [
            { name: 'Region', type: 'STRING' },
            { name: 'Amount', type: 'DECIMAL' },
            { name: 'Day', type: 'DATE' },
          ],
        },
      },
    ],
  },
);
export const UpdateDatasetBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    rows: Type.Optional(Rows),
    schema: Type.Optional(Schema),
    pdpEnabled: Type.Optional(
      Type.Boolean({
        description:
          'Personalized data permissions: while true, exports and queries show each caller only the rows their policies allow (owner and Admins: all). Creating a policy turns it on.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description:
      'With rows stored, a new schema may rename columns and add columns at the end (null in existing rows), not drop or retype one (409).',
  },
);

export const Dataset = Obj(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    description: Type.String(),
    rows: Type.Integer(),
    columns: Type.Integer({ description: 'Number of columns.' }),
    schema: Obj({
      columns: Type.Array(Obj({ name: Type.String(), type: Literals(COLUMN_TYPES) })),
    }),
    owner: Obj({ id: Type.Integer(), name: Type.String() }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    dataCurrentAt: Nullable(Timestamp, { description: 'When data was last imported; null before any.' }),
    pdpEnabled: Type.Boolean(),
  },
  { title: 'DataSet' },
);

export const ImportQuery = Type.Object({
  updateMethod: Type.Optional(
    Literals(['REPLACE', 'APPEND'] as const, {
      description: 'REPLACE (default) swaps in the new rows; APPEND adds them.',
    }),
  ),
});
export const ExportQuery = Type.Object({
  includeHeader: Type.Optional(
    Type.Boolean({ description: 'First line: the column names (default false).' }),
  ),
  fileName: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Sent back as `Content-Disposition: attachment; filename=…`.',
    }),
  ),
});

const Csv = Type.Unknown({
  description:
    'CSV without a header row, one line per row, values in schema order; an empty field is null. ' +
    '`Content-Encoding: gzip` accepted. Streamed: at most GATEHOUSE_DATASET_MAX_UPLOAD_BYTES (after gzip).',
  examples: ['East,12.50,2026-01-31\nWest,,2026-02-01\n'],
});

export const listDatasetsSchema = {
  summary: 'List DataSets',
  querystring: ListDatasetsQuery,
  response: { 200: Type.Array(Dataset) },
};
export const createDatasetSchema = {
  summary: 'Create a DataSet',
  description: 'A bad name, column name or type is a 400 naming the field; nothing is stored.',
  body: CreateDatasetBody,
  response: { 201: Dataset },
};
export const getDatasetSchema = {
  summary: 'A DataSet: name, schema, row count, owner',
  params: DatasetParams,
  response: { 200: Dataset },
};
export const updateDatasetSchema = {
  summary: 'Change a DataSet (owner or Admin)',
  params: DatasetParams,
  body: UpdateDatasetBody,
  response: { 200: Dataset },
};
export const deleteDatasetSchema = {
  summary: 'Delete a DataSet and its rows (owner or Admin)',
  params: DatasetParams,
  response: { 204: NoBody('Deleted; no body.') },
};
export const importDataSchema = {
  summary: 'Import CSV data (owner or Admin)',
  description:
    'Every value is checked against the schema; one bad row rejects the whole upload (400 naming row, column and value) and the DataSet is unchanged.',
  params: DatasetParams,
  querystring: ImportQuery,
  body: { content: { 'text/csv': { schema: Csv } } },
  response: { 204: NoBody('Imported; no body.') },
};
export const exportDataSchema = {
  summary: 'Export the rows as CSV (streamed)',
  params: DatasetParams,
  querystring: ExportQuery,
  response: {
    200: {
      description: 'The rows as CSV, in import order.',
      content: { 'text/csv': { schema: Type.String() } },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Personalized data permissions (PDP): /v1/datasets/{id}/policies

export const PolicyParams = Type.Object({
  id: Type.String({ maxLength: 100, description: 'DataSet id (UUID).' }),
  policyId: Type.Integer({ minimum: 0, maximum: MAX_ROW_ID, description: 'Policy id.' }),
});

const MemberIds = (what: string) =>
  Type.Array(Type.Integer({ minimum: 0, maximum: MAX_ROW_ID }), {
    maxItems: MAX_POLICY_MEMBERS,
    description: `Ids of the ${what} the policy applies to (each must exist; 400 names the unknown ones).`,
  });

const PolicyFilterIn = Type.Object(
  {
    column: Type.String({ maxLength: 1000, description: 'A column name of the DataSet (case-insensitive).' }),
    values: Type.Array(Type.String({ maxLength: MAX_VALUE_LENGTH }), {
      maxItems: MAX_VALUES_PER_FILTER,
      description:
        "Read as the column's type (numbers for LONG/DOUBLE/DECIMAL, YYYY-MM-DD for DATE, a date-time or date for DATETIME). One value for the comparisons, two for BETWEEN, one or more otherwise (any of them matches).",
    }),
    operator: Type.String({ description: `One of ${POLICY_OPERATORS.join(', ')}.`, examples: ['EQUALS'] }),
    not: Type.Optional(
      Type.Boolean({ description: 'Match the rows the filter does not (nulls included); default false.' }),
    ),
  },
  { additionalProperties: false },
);
const PolicyName = Type.String({ maxLength: 1000, description: `1–${MAX_POLICY_NAME_LENGTH} characters.` });
const PolicyType = Type.String({
  description: '`user` (default) or `system`: labels, both filter the same way.',
  examples: ['user'],
});
const PolicyFilters = Type.Array(PolicyFilterIn, {
  maxItems: MAX_FILTERS_PER_POLICY,
  description: 'ANDed; an empty list allows every row.',
});

export const CreatePolicyBody = Type.Object(
  {
    name: PolicyName,
    type: Type.Optional(PolicyType),
    users: Type.Optional(MemberIds('users')),
    groups: Type.Optional(MemberIds('groups (their members now)')),
    filters: PolicyFilters,
  },
  {
    additionalProperties: false,
    examples: [
      {
        name: 'Only Show Attendees',
        filters: [{ column: 'Attending', values: ['TRUE'], operator: 'EQUALS' }],
        users: [27],
      },
    ],
  },
);
export const UpdatePolicyBody = Type.Object(
  {
    name: Type.Optional(PolicyName),
    type: Type.Optional(PolicyType),
    users: Type.Optional(MemberIds('users')),
    groups: Type.Optional(MemberIds('groups (their members now)')),
    filters: Type.Optional(PolicyFilters),
  },
  { additionalProperties: false, description: "The fields given replace the policy's; the others stay." },
);

export const Policy = Obj(
  {
    id: Type.Integer(),
    type: Literals(POLICY_TYPES),
    name: Type.String(),
    filters: Type.Array(
      Obj({
        column: Type.String(),
        values: Type.Array(Type.String()),
        operator: Literals(POLICY_OPERATORS),
        not: Type.Boolean(),
      }),
    ),
    users: Type.Array(Type.Integer()),
    groups: Type.Array(Type.Integer()),
  },
  { title: 'DataSetPolicy' },
);

export const listPoliciesSchema = {
  summary: "List a DataSet's PDP policies",
  params: DatasetParams,
  response: { 200: Type.Array(Policy) },
};
export const createPolicySchema = {
  summary: 'Create a PDP policy (owner or Admin); turns pdpEnabled on',
  description:
    "An unknown column, operator, user or group, or a value that does not fit the column's type, is a 400 naming it; nothing is stored.",
  params: DatasetParams,
  body: CreatePolicyBody,
  response: { 201: Policy },
};
export const getPolicySchema = {
  summary: 'A PDP policy',
  params: PolicyParams,
  response: { 200: Policy },
};
export const updatePolicySchema = {
  summary: 'Change a PDP policy (owner or Admin)',
  params: PolicyParams,
  body: UpdatePolicyBody,
  response: { 200: Policy },
};
export const deletePolicySchema = {
  summary: 'Delete a PDP policy (owner or Admin)',
  params: PolicyParams,
  response: { 204: NoBody('Deleted; no body.') },
};

export const QueryBody = Type.Object(
  {
    sql: Type.String({
      minLength: 1,
      maxLength: MAX_SQL_LENGTH,
      description:
        'One SELECT over this DataSet, named `table`; column names as in its schema (any case; quote names with spaces as "Name").',
    }),
  },
  {
    additionalProperties: false,
    examples: [{ sql: 'SELECT Region, SUM(Amount), COUNT(*) FROM table GROUP BY Region ORDER BY Region' }],
  },
);

export const QueryResultSchema = Obj(
  {
    datasource: Type.String({ description: 'The DataSet id.' }),
    columns: Type.Array(Type.String(), { description: 'Output column names, in order.' }),
    metadata: Type.Array(
      Obj({
        type: Literals(COLUMN_TYPES),
        dataSourceId: Type.String(),
        maxLength: Type.Integer({ description: 'Longest text in the result (STRING); -1 otherwise.' }),
        minLength: Type.Integer({ description: 'Shortest text in the result (STRING); -1 otherwise.' }),
        periodIndex: Type.Integer(),
      }),
    ),
    rows: Type.Array(Type.Array(Type.Unknown()), {
      description:
        'One array per row. LONG, DECIMAL and DOUBLE are numbers, DATE `YYYY-MM-DD`, DATETIME ISO 8601 UTC.',
    }),
    numRows: Type.Integer(),
    numColumns: Type.Integer(),
    fromcache: Type.Boolean(),
  },
  { title: 'DataSetQueryResult' },
);

export const queryDatasetSchema = {
  summary: 'Query a DataSet with SQL',
  description:
    'One read-only SELECT; the DataSet is the table `table`. Other tables, catalogues and functions off the allow-list are refused (400 `invalid_query`); past GATEHOUSE_DATASET_QUERY_TIMEOUT_MS → 400 `query_timeout`; more than GATEHOUSE_DATASET_QUERY_MAX_ROWS rows → 400 `query_result_too_large`.',
  params: DatasetParams,
  body: QueryBody,
  response: { 200: QueryResultSchema },
};
