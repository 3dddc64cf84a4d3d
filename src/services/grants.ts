/**
 * The grant catalog lives in code: each grant has a stable id (stored in
 * role_grants), a display name as Domo shows it, and a description.
 */
export interface GrantDefinition {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

export const GRANTS = [
  {
    id: 'api.clients.create',
    name: 'Create API OAuth Clients',
    description: 'Create API clients, and view and revoke the clients one owns.',
  },
  {
    id: 'api.clients.manage_all',
    name: 'Manage All Access Tokens and API Clients',
    description:
      'View and revoke every API client and access token in the instance. Does not allow creating clients.',
  },
  {
    id: 'access_tokens.create',
    name: 'Create Access Tokens',
    description: 'Create developer access tokens.',
  },
  {
    id: 'workflow.api',
    name: 'Workflow API',
    description: 'List, create, modify and execute workflows; view their logs and statuses.',
  },
  { id: 'users.manage', name: 'Manage Users', description: 'Create, edit, disable and enable users.' },
  {
    id: 'roles.manage',
    name: 'Manage Roles',
    description: 'Create, copy, rename and delete roles and change their grants.',
  },
  { id: 'audit.view', name: 'View Audit Log', description: 'Read the audit log.' },
  { id: 'data.view', name: 'View Data', description: 'Read datasets.' },
  { id: 'data.manage', name: 'Manage Data', description: 'Create, change and delete datasets.' },
  {
    id: 'gateway.manage',
    name: 'Manage API Gateway',
    description: 'Manage upstream APIs, access profiles, policies and custom domains.',
  },
] as const satisfies readonly GrantDefinition[];

export type GrantId = (typeof GRANTS)[number]['id'];

const GRANT_IDS: ReadonlySet<string> = new Set(GRANTS.map((g) => g.id));

export function isGrantId(value: string): value is GrantId {
  return GRANT_IDS.has(value);
}

export function findGrant(id: string): GrantDefinition | undefined {
  return GRANTS.find((g) => g.id === id);
}

/** Built-in roles: cannot be edited or deleted, only copied. Grant sets are kept in sync at start-up. */
export const SYSTEM_ROLES: ReadonlyArray<{ name: string; description: string; grants: readonly GrantId[] }> =
  [
    {
      name: 'Admin',
      description: 'Full control of the instance.',
      grants: GRANTS.map((g) => g.id),
    },
    {
      name: 'Privileged',
      description:
        'Builds integrations: API clients, access tokens, workflows, data and the gateway; reads the audit log.',
      grants: [
        'api.clients.create',
        'access_tokens.create',
        'workflow.api',
        'audit.view',
        'data.view',
        'data.manage',
        'gateway.manage',
      ],
    },
    {
      name: 'Editor',
      description: 'Works with data and workflows, and may create personal access tokens.',
      grants: ['access_tokens.create', 'workflow.api', 'data.view', 'data.manage'],
    },
    { name: 'Participant', description: 'Reads data.', grants: ['data.view'] },
    { name: 'Social', description: 'Signs in; no data or API access.', grants: [] },
  ];

export const DEFAULT_ROLE = 'Participant';
