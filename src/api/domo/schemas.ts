/**
 * Route schemas of Domo's Users, Groups and Audit APIs (`/v1/users`, `/v1/groups`, `/v1/audit`).
 * Request schemas fix field names and JSON types (unknown fields are a 400 naming the field); the
 * services check the values with their own messages. Every number in a query or path has a range.
 */
import { Type } from '@sinclair/typebox';
import { JsonObject, NoBody, Nullable, Obj, Timestamp, userProfileFields } from '../../schemas.js';
import { MAX_RANGE_LIMIT, MAX_RANGE_OFFSET } from '../../services/audit.js';
import { MAX_GROUP_LIMIT, MAX_GROUP_OFFSET } from '../../services/groups.js';
import { MAX_ROW_ID } from '../../services/row-id.js';
import { MAX_USER_LIMIT, MAX_USER_OFFSET } from '../../services/users.js';

/** Ids are whole numbers in a row id's range (PostgreSQL `integer`); past it is a 400. */
const Id = (description: string) => Type.Integer({ minimum: 0, maximum: MAX_ROW_ID, description });

export const UserParams = Type.Object({ id: Id('User id.') });
export const GroupParams = Type.Object({ id: Id('Group id.') });
export const MemberParams = Type.Object({ id: Id('Group id.'), userId: Id('User id.') });

export const UserPageQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_USER_LIMIT, description: 'Page size (default 50).' }),
  ),
  offset: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_USER_OFFSET, description: 'Users to skip (default 0).' }),
  ),
});
export const GroupPageQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_GROUP_LIMIT, description: 'Page size (default 50).' }),
  ),
  offset: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_GROUP_OFFSET, description: 'Items to skip (default 0).' }),
  ),
});
export const CreateUserQuery = Type.Object({
  sendInvite: Type.Optional(
    Type.Boolean({ description: 'Accepted for Domo compatibility; Gatehouse sends no mail.' }),
  ),
});
/**
 * Epoch milliseconds are past a 32-bit integer, so they are documented as digit strings (the
 * query string carries text either way); the service refuses a time past what a Date can hold.
 */
const EpochMs = (description: string) =>
  Type.String({ pattern: '^[0-9]{1,16}$', maxLength: 16, description, examples: ['1767225600000'] });
export const AuditQuery = Type.Object({
  start: EpochMs('Earliest event time, epoch milliseconds (inclusive).'),
  end: Type.Optional(EpochMs('Latest event time, epoch milliseconds (exclusive); default now.')),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_RANGE_LIMIT, description: 'Page size (default 50).' }),
  ),
  offset: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_RANGE_OFFSET, description: 'Events to skip (default 0).' }),
  ),
});

const Role = Type.String({
  description: 'A role name: Admin, Privileged, Editor, Participant, Social or a custom role.',
});
const RoleId = Type.Integer({ description: 'A role id (instead of `role`).' });

/** Domo's profile fields (title, phone, …): stored, in the answer when set; an update's "" clears one. */
const domoProfile = userProfileFields;

export const CreateUserBody = Type.Object(
  {
    email: Type.String({ description: 'Unique (case-insensitive).' }),
    name: Type.Optional(
      Type.String({ description: 'Display name; default the part of the email before @.' }),
    ),
    role: Type.Optional(Role),
    roleId: Type.Optional(RoleId),
    ...domoProfile,
  },
  {
    additionalProperties: false,
    description:
      'Role by name (`role`) or id (`roleId`), default Participant; you must hold every grant of it.',
    examples: [{ email: 'ada@example.com', name: 'Ada Lovelace', role: 'Participant' }],
  },
);
export const UpdateUserBody = Type.Object(
  {
    email: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    role: Type.Optional(Role),
    roleId: Type.Optional(RoleId),
    ...domoProfile,
  },
  {
    additionalProperties: false,
    description:
      'Only the fields given change; at least one. A profile field given as an empty string is cleared.',
  },
);

export const DomoUser = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    email: Type.String(),
    role: Type.String({ description: 'The role name.' }),
    roleId: Type.Integer(),
    ...domoProfile,
    active: Type.Boolean({ description: 'False when the user is disabled (Gatehouse extension).' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'User (Domo)' },
);

/** Domo's group flags, as the Domo SDK sends them: Gatehouse groups are never default and always active. */
const groupFlags = {
  default: Type.Optional(
    Type.Boolean({ description: 'Accepted when false (Gatehouse has no default group).' }),
  ),
  active: Type.Optional(
    Type.Boolean({ description: 'Accepted when true (delete a group instead of deactivating it).' }),
  ),
};
export const GroupBody = Type.Object(
  {
    name: Type.String({ description: '1–200 characters, unique (case-insensitive).' }),
    description: Type.Optional(Nullable(Type.String({ description: 'At most 2000 characters.' }))),
    ...groupFlags,
  },
  { additionalProperties: false, examples: [{ name: 'Finance', description: 'Finance team' }] },
);
export const UpdateGroupBody = Type.Object(
  {
    name: Type.Optional(Type.String({ description: '1–200 characters, unique (case-insensitive).' })),
    description: Type.Optional(Nullable(Type.String({ description: 'At most 2000 characters.' }))),
    ...groupFlags,
  },
  {
    additionalProperties: false,
    description:
      'Only the fields given change; at least one (the flags alone change nothing and answer the group).',
  },
);

export const DomoGroup = Obj(
  {
    id: Type.Integer(),
    name: Type.String(),
    description: Type.String(),
    default: Type.Boolean({ description: 'Always false: Gatehouse has no default group.' }),
    active: Type.Boolean({ description: 'Always true.' }),
    creatorId: Nullable(Type.Integer({ description: 'The user who created it; null when made by the CLI.' })),
    memberCount: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Group (Domo)' },
);

export const ActivityLogEntry = Obj(
  {
    id: Type.Integer({ description: 'The audit event id.' }),
    time: Type.Integer({ description: 'Epoch milliseconds.' }),
    userId: Nullable(Type.String({ description: 'The acting user id, or the client id for `CLIENT`.' })),
    userName: Nullable(Type.String()),
    userType: Type.String({ description: 'USER, CLIENT, CLI or SYSTEM.' }),
    actionType: Type.String({
      description: 'The Gatehouse action, e.g. `user.created`, `group.member_added`.',
    }),
    objectType: Nullable(Type.String({ description: 'e.g. USER, GROUP, CLIENT.' })),
    objectId: Nullable(Type.String()),
    objectName: Nullable(
      Type.String({ description: 'The name or email of the object, when the event names one.' }),
    ),
    eventText: Type.String(),
    ipAddress: Nullable(Type.String()),
    additionalComment: JsonObject,
  },
  { title: 'Activity log entry (Domo)' },
);

const NoContent = NoBody('Done; no body.');

export const listUsersSchema = {
  summary: 'List users (Domo)',
  description: 'Any active user may list users (client tokens: scope `user`); in id order.',
  querystring: UserPageQuery,
  response: { 200: Type.Array(DomoUser) },
};
export const createUserSchema = {
  summary: 'Create a user (Domo)',
  description: 'Grant `users.manage`; you must hold every grant of the role given (403 `escalation_denied`).',
  querystring: CreateUserQuery,
  body: CreateUserBody,
  response: { 201: DomoUser },
};
export const getUserSchema = { summary: 'A user (Domo)', params: UserParams, response: { 200: DomoUser } };
export const updateUserSchema = {
  summary: 'Change a user (Domo)',
  description: 'Grant `users.manage`; you must outrank the user and hold every grant of a new role.',
  params: UserParams,
  body: UpdateUserBody,
  response: { 200: DomoUser },
};
export const deleteUserSchema = {
  summary: 'Delete a user (Domo)',
  description:
    'Grant `users.manage`. 409 while the user owns API clients or workflows (disable them instead), for yourself, and for the last active Admin.',
  params: UserParams,
  response: { 204: NoContent },
};

export const listGroupsSchema = {
  summary: 'List groups (Domo)',
  querystring: GroupPageQuery,
  response: { 200: Type.Array(DomoGroup) },
};
export const createGroupSchema = {
  summary: 'Create a group (Domo)',
  body: GroupBody,
  response: { 201: DomoGroup },
};
export const getGroupSchema = {
  summary: 'A group (Domo)',
  params: GroupParams,
  response: { 200: DomoGroup },
};
export const updateGroupSchema = {
  summary: 'Change a group (Domo)',
  params: GroupParams,
  body: UpdateGroupBody,
  response: { 200: DomoGroup },
};
export const deleteGroupSchema = {
  summary: 'Delete a group and its memberships (Domo)',
  params: GroupParams,
  response: { 204: NoContent },
};
export const listMembersSchema = {
  summary: 'The user ids of a group’s members (Domo)',
  params: GroupParams,
  querystring: GroupPageQuery,
  response: { 200: Type.Array(Type.Integer()) },
};
export const addMemberSchema = {
  summary: 'Add a user to a group (Domo; idempotent)',
  params: MemberParams,
  response: { 204: NoContent },
};
export const removeMemberSchema = {
  summary: 'Remove a user from a group (Domo; idempotent)',
  params: MemberParams,
  response: { 204: NoContent },
};

export const activityLogSchema = {
  summary: 'The activity log between two times (Domo)',
  description: 'Grant `audit.view` (client tokens: scope `audit`); newest first.',
  querystring: AuditQuery,
  response: { 200: Type.Array(ActivityLogEntry) },
};
