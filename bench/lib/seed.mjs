/**
 * Seeds a fresh Gatehouse for the benchmark through its own services (the same code the CLI
 * and the admin API call), run as a child process with the instance's environment after
 * `gatehouse init`: a user with the Privileged role (API clients and Workflow API grants), an API client owned by
 * that user, and a developer access token acting as them; and for the workflow-start scenario a
 * one-step workflow owned by the admin (so the user's own workflow list stays empty, the cheapest
 * guarded GET) with a developer token of the admin. Prints the credentials as JSON.
 *
 *   node bench/lib/seed.mjs <scope …>
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const DIST = path.resolve(import.meta.dirname, '../../dist');
const load = (file) => import(pathToFileURL(path.join(DIST, file)).href);

const { loadConfig } = await load('config.js');
const { openRuntime, prepareRuntime } = await load('bootstrap.js');
const { silentLogger } = await load('logger.js');
const { CLI_ACTOR } = await load('services/context.js');
const { OPERATOR, userPrincipal } = await load('services/principal.js');

const scopes = process.argv.slice(2);
const config = loadConfig(process.env, process.cwd());
const runtime = await openRuntime(config, silentLogger());
try {
  await prepareRuntime(runtime, { bootstrapAdmin: false });
  const { services } = runtime;
  const user = await services.users.create(
    { email: 'bench-user@localhost', displayName: 'Bench user', role: 'Privileged' },
    OPERATOR,
    CLI_ACTOR,
  );
  const client = await services.clients.create(
    { name: 'bench', description: 'npm run bench', scopes, owner: user.email },
    CLI_ACTOR,
  );
  const developer = await services.accessTokens.create(
    { description: 'npm run bench', user: user.email, expiresInDays: 1 },
    OPERATOR,
    CLI_ACTOR,
  );
  const admin = await services.users.get(config.adminEmail);
  const workflow = await services.workflows.create(
    {
      name: 'bench',
      description: 'npm run bench: one step, no I/O',
      definition: {
        input: { type: 'object', properties: { n: { type: 'integer' } } },
        steps: [{ id: 'double', type: 'set', values: { doubled: 'input.n * 2' } }],
      },
    },
    userPrincipal(await services.liveUsers.get(admin.id), 'session'),
    CLI_ACTOR,
  );
  const adminToken = await services.accessTokens.create(
    { description: 'npm run bench (workflow start)', user: admin.id, expiresInDays: 1 },
    OPERATOR,
    CLI_ACTOR,
  );
  process.stdout.write(
    `${JSON.stringify({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      developerToken: developer.token,
      workflowId: workflow.id,
      adminToken: adminToken.token,
    })}\n`,
  );
} finally {
  await runtime.close();
}
