/**
 * Every documented operation, driven from GET /openapi.json, answers hostile input with a
 * 4xx JSON error that says what was wrong, never a 500, on both dialects: out-of-range and
 * malformed numbers (2^63 and past it, 1e400, NaN), empty, huge, NUL and path-traversal
 * strings in every query and path parameter; and in every JSON or form body: bodies of the
 * wrong shape, too deep, malformed, of the wrong media type, and each property in turn
 * replaced by a value of the wrong type or range. New routes are swept as soon as they are
 * documented (test/http/openapi.test.ts makes sure they are), so an outside probe of a new
 * surface meets the same rule.
 *
 * Requests carry valid credentials (an Admin session, an Admin developer token, a client's
 * Basic credentials) and real ids where a path names a resource, so hostile values get past
 * authentication and the existence check into validation and the services.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Services } from '../../src/services/index.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, testApp } from '../helpers/app.js';
import { basic } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';

type Schema = Record<string, unknown>;
interface Parameter {
  in: 'query' | 'path' | 'header' | 'cookie';
  name: string;
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

/** A number past every integer column (2^63) and past double range, sent as raw JSON text. */
const HUGE_INTEGER = '9223372036854775808';
const PAST_DOUBLE = '1e400';

/** Values for query and path parameters, whatever their declared type. */
const HOSTILE_PARAMETER_VALUES = [
  '2147483648',
  HUGE_INTEGER,
  `-${HUGE_INTEGER}`,
  '18446744073709551616',
  PAST_DOUBLE,
  '-1',
  '0',
  '1.5',
  'NaN',
  '',
  'x'.repeat(5000),
  '\u0000',
  '../../etc/passwd',
  '\u202e',
  '%',
  '[]',
  '{"$ne":null}',
];

/** Values put in place of one body property at a time (raw JSON text). */
const HOSTILE_PROPERTY_JSON = [
  'null',
  '2147483648',
  HUGE_INTEGER,
  `-${HUGE_INTEGER}`,
  PAST_DOUBLE,
  '-1',
  '0.5',
  'true',
  '""',
  JSON.stringify('x'.repeat(100_000)),
  '"\\u0000"',
  '"../../etc/passwd"',
  '{}',
  '[]',
  '[null]',
  `${'['.repeat(80)}1${']'.repeat(80)}`,
  '{"__proto__":{"polluted":true}}',
];

/** Whole bodies of the wrong shape, as [content-type, raw body]. */
const HOSTILE_BODIES: Array<[string, string]> = [
  ['application/json', 'null'],
  ['application/json', '[]'],
  ['application/json', '"text"'],
  ['application/json', '1'],
  ['application/json', '{}'],
  ['application/json', '{"a":'],
  ['application/json', ''],
  ['application/json', `${'['.repeat(5000)}${']'.repeat(5000)}`],
  ['application/json', '{"__proto__":{"isAdmin":true}}'],
  ['text/plain', 'hello'],
  ['application/x-www-form-urlencoded', 'a=1&a=2&b'],
];

function resolve(doc: OpenApiDocument, schema: Schema | undefined): Schema | undefined {
  let current = schema;
  for (let hops = 0; current && typeof current.$ref === 'string' && hops < 10; hops++) {
    const name = current.$ref.split('/').pop() as string;
    current = doc.components?.schemas?.[name];
  }
  return current;
}

let uniqueCounter = 0;

/** A plausible value for a schema: its example, or the simplest value of its type. */
function sample(doc: OpenApiDocument, raw: Schema | undefined, depth = 0): unknown {
  const schema = resolve(doc, raw);
  if (!schema || depth > 6) return 'sweep';
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.example !== undefined) return schema.example;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key] as Schema[] | undefined;
    const usable = options?.find((option) => resolve(doc, option)?.type !== 'null');
    if (usable) return sample(doc, usable, depth + 1);
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = (schema.required ?? []) as string[];
      return Object.fromEntries(required.map((name) => [name, sample(doc, properties[name], depth + 1)]));
    }
    case 'array': {
      const minItems = (schema.minItems as number | undefined) ?? 0;
      return Array.from({ length: minItems }, () => sample(doc, schema.items as Schema, depth + 1));
    }
    case 'integer':
    case 'number':
      return (schema.minimum as number | undefined) ?? 1;
    case 'boolean':
      return true;
    case 'string': {
      uniqueCounter++;
      if (schema.format === 'email') return `sweep${uniqueCounter}@example.com`;
      if (schema.format === 'date-time') return '2026-03-01T12:00:00.000Z';
      const minLength = (schema.minLength as number | undefined) ?? 0;
      return `sweep${uniqueCounter}`.padEnd(minLength, 'x');
    }
    default:
      return 'sweep';
  }
}

interface Seeded {
  session: SignedIn;
  bearer: string;
  clientBasic: string;
  ids: Record<string, string>;
}

/** The real id to put in a path parameter, by the collection the path names before it. */
function realId(seeded: Seeded, path: string, parameter: string): string {
  const before = (path.split(`{${parameter}}`)[0] ?? '').split('/').filter(Boolean);
  const collection = before.at(-1) ?? '';
  if (parameter === 'grantId') return 'audit.view';
  if (parameter === 'instanceId' || (collection === 'instances' && path.startsWith('/api/workflow/'))) {
    return seeded.ids.instance as string;
  }
  const id = seeded.ids[collection];
  if (id === undefined) throw new Error(`no seeded id for ${path} {${parameter}}: add one to the sweep`);
  return id;
}

function authenticationFor(seeded: Seeded, path: string): Record<string, string> {
  if (path.startsWith('/api/admin/')) return seeded.session.headers;
  if (path.startsWith('/oauth')) return { authorization: seeded.clientBasic };
  if (path.startsWith('/v1/') || path.startsWith('/api/')) return { authorization: seeded.bearer };
  return {};
}

function fillPath(seeded: Seeded, path: string, overrides: Record<string, string> = {}): string {
  return path.replace(/\{([^}]+)\}/g, (_match, name: string) =>
    encodeURIComponent(overrides[name] ?? realId(seeded, path, name)),
  );
}

/** The request body's media type and schema the sweep mutates (JSON first, else form). */
function bodyOf(operation: Operation): { type: string; schema?: Schema } | undefined {
  const content = operation.requestBody?.content;
  if (!content) return undefined;
  const type = Object.keys(content).includes('application/json')
    ? 'application/json'
    : (Object.keys(content)[0] ?? '');
  return { type, schema: content[type]?.schema };
}

/**
 * Operations that remove what other operations use run last: deletions, revocations and
 * cancellations, and sign-out (it ends the session every other admin request uses) after all.
 */
function sweepOrder(a: [string, string], b: [string, string]): number {
  const rank = ([path, method]: [string, string]) => {
    if (path === '/api/admin/v1/session' && method === 'delete') return 2;
    return method === 'delete' || /\/(revoke|cancel|disable)$/.test(path) ? 1 : 0;
  };
  return rank(a) - rank(b);
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`hostile input to every documented operation (${dialect.name})`, () => {
    let ts: TestStore;
    let app: App;
    let services: Services;
    let doc: OpenApiDocument;
    let seeded: Seeded;

    beforeAll(async () => {
      ts = await dialect.open();
      // Throttles out of the way: the sweep makes thousands of failed sign-ins and client authentications
      // from one address, and is about validation, not throttling (test/http/throttle.test.ts covers that).
      const generous = loadConfig({
        GATEHOUSE_THROTTLE_SIGNIN: '100000/1s',
        GATEHOUSE_THROTTLE_SIGNIN_ACCOUNT: '100000/1s',
        GATEHOUSE_THROTTLE_SIGNIN_ADDRESS: '100000/1s',
        GATEHOUSE_THROTTLE_CLIENT: '100000/1s',
        GATEHOUSE_THROTTLE_CLIENT_ID: '100000/1s',
        GATEHOUSE_THROTTLE_CLIENT_ADDRESS: '100000/1s',
      }).throttle;
      ({ app, services } = await testApp(ts.store, { config: { throttle: generous } }));
      const admin = await createUser(services, 'sweep-admin@example.com', 'Admin');
      const other = await createUser(services, 'sweep-other@example.com', 'Participant');
      const role = await services.roles.create(
        { name: 'Sweep', grants: ['audit.view'] },
        OPERATOR,
        CLI_ACTOR,
      );
      const session = await signIn(app, 'sweep-admin@example.com');
      const developerToken = await services.accessTokens.create(
        { description: 'sweep', user: admin.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const otherToken = await services.accessTokens.create(
        { description: 'sweep target', user: other.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const client = await services.clients.create(
        { name: 'Sweep client', scopes: ['workflow'], owner: admin.email },
        CLI_ACTOR,
      );
      const group = await services.groups.create({ name: 'Sweep group' }, OPERATOR, CLI_ACTOR);
      const collection = await services.platform.createCollection(
        { name: 'Sweep collection', prefix: 'sweep', upstreamUrl: 'http://127.0.0.1:9' },
        OPERATOR,
        CLI_ACTOR,
      );
      const endpoint = await services.platform.createEndpoint(
        collection.id,
        { name: 'Sweep endpoint', method: 'GET', path: '/things/:id' },
        OPERATOR,
        CLI_ACTOR,
      );
      const profile = await services.platform.createProfile(
        { name: 'Sweep profile', authMethod: 'token', collections: [collection.id] },
        OPERATOR,
        CLI_ACTOR,
      );
      const domain = await services.domains.create({ hostname: 'sweep.example.com' }, OPERATOR, CLI_ACTOR);
      await services.groups.addMember(group.id, other.id, CLI_ACTOR);
      const bearer = `Bearer ${developerToken.token}`;
      const created = await app.inject({
        method: 'POST',
        url: '/v1/workflows',
        headers: { authorization: bearer },
        payload: { name: 'Sweep', definition: { steps: [{ id: 'say', type: 'log', message: 'hi' }] } },
      });
      expect(created.statusCode, created.body).toBe(201);
      const workflowId = (created.json() as { id: string }).id;
      const run = await app.inject({
        method: 'POST',
        url: `/v1/workflows/${workflowId}/execute`,
        headers: { authorization: bearer },
        payload: {},
      });
      expect(run.statusCode, run.body).toBe(202);
      const dataset = await app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: { authorization: bearer },
        payload: {
          name: 'Sweep',
          schema: {
            columns: [
              { name: 'n', type: 'LONG' },
              { name: 'day', type: 'DATE' },
            ],
          },
        },
      });
      expect(dataset.statusCode, dataset.body).toBe(201);
      const datasetId = (dataset.json() as { id: string }).id;
      const policy = await app.inject({
        method: 'POST',
        url: `/v1/datasets/${datasetId}/policies`,
        headers: { authorization: bearer },
        payload: {
          name: 'Sweep policy',
          users: [other.id],
          groups: [group.id],
          filters: [{ column: 'n', values: ['1'], operator: 'EQUALS', not: false }],
        },
      });
      expect(policy.statusCode, policy.body).toBe(201);
      const stream = await app.inject({
        method: 'POST',
        url: '/v1/streams',
        headers: { authorization: bearer },
        payload: {
          dataSet: { name: 'Sweep stream', schema: { columns: [{ name: 'n', type: 'LONG' }] } },
          updateMethod: 'APPEND',
        },
      });
      expect(stream.statusCode, stream.body).toBe(201);
      const streamId = String((stream.json() as { id: number }).id);
      const execution = await app.inject({
        method: 'POST',
        url: `/v1/streams/${streamId}/executions`,
        headers: { authorization: bearer },
      });
      expect(execution.statusCode, execution.body).toBe(201);
      seeded = {
        session,
        bearer,
        clientBasic: basic(client.clientId, client.clientSecret),
        ids: {
          users: String(other.id),
          roles: String(role.id),
          'access-tokens': String(otherToken.accessToken.id),
          clients: client.clientId,
          workflows: workflowId,
          groups: String(group.id),
          datasets: datasetId,
          execute: datasetId,
          policies: String((policy.json() as { id: number }).id),
          streams: streamId,
          executions: String((execution.json() as { id: number }).id),
          part: '1',
          collections: String(collection.id),
          endpoints: String(endpoint.id),
          profiles: String(profile.profile.id),
          domains: String(domain.id),
          instance: (run.json() as { id: string }).id,
        },
      };
      doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    it('answers every hostile request with a 4xx or 2xx, and every error as {error, message} JSON', async () => {
      const failures: string[] = [];
      let requests = 0;
      const operations = Object.entries(doc.paths)
        .flatMap(([path, methods]) => Object.keys(methods).map((method): [string, string] => [path, method]))
        .sort(sweepOrder);
      expect(operations.length).toBeGreaterThan(40);

      for (const [path, method] of operations) {
        const operation = doc.paths[path]?.[method] as Operation;
        const auth = authenticationFor(seeded, path);
        const body = bodyOf(operation);
        const baseBody = body ? sample(doc, body.schema) : undefined;
        const encode = (value: Record<string, unknown> | undefined): string | undefined => {
          if (value === undefined) return undefined;
          if (body?.type === 'application/json') return JSON.stringify(value);
          return new URLSearchParams(
            Object.entries(value).map(([k, v]): [string, string] => [k, String(v)]),
          ).toString();
        };
        const send = async (url: string, contentType?: string, payload?: string) => {
          requests++;
          const headers: Record<string, string> = { ...auth };
          if (contentType !== undefined) headers['content-type'] = contentType;
          const res = await app.inject({
            method: method.toUpperCase() as 'GET',
            url,
            headers,
            ...(payload !== undefined ? { payload } : {}),
          });
          const where = `${method.toUpperCase()} ${url.slice(0, 160)} ${contentType ?? ''} ${(payload ?? '').slice(0, 80)}`;
          if (res.statusCode >= 500) {
            failures.push(`${where} → ${res.statusCode} ${res.body.slice(0, 300)}`);
          } else if (res.statusCode >= 400) {
            const type = String(res.headers['content-type'] ?? '');
            let parsed: Record<string, unknown> | undefined;
            try {
              parsed = type.includes('json') ? JSON.parse(res.body) : undefined;
            } catch {
              parsed = undefined;
            }
            const message = parsed?.message ?? parsed?.error_description;
            if (typeof parsed?.error !== 'string' || typeof message !== 'string' || message === '') {
              failures.push(
                `${where} → ${res.statusCode} without an {error, message} JSON body: ${res.body.slice(0, 200)}`,
              );
            }
          }
          return res.statusCode;
        };
        const statuses: number[] = [];
        const basePayload = encode(baseBody as Record<string, unknown> | undefined);
        const baseUrl = fillPath(seeded, path);

        for (const parameter of operation.parameters ?? []) {
          for (const value of HOSTILE_PARAMETER_VALUES) {
            if (parameter.in === 'query') {
              const url = `${baseUrl}?${parameter.name}=${encodeURIComponent(value)}`;
              statuses.push(await send(url, body?.type, basePayload));
            } else if (parameter.in === 'path') {
              const url = fillPath(seeded, path, { [parameter.name]: value });
              statuses.push(await send(url, body?.type, basePayload));
            }
          }
          if (parameter.in === 'query') {
            statuses.push(
              await send(`${baseUrl}?${parameter.name}=1&${parameter.name}=2`, body?.type, basePayload),
            );
          }
        }
        if (body) {
          for (const [contentType, raw] of HOSTILE_BODIES)
            statuses.push(await send(baseUrl, contentType, raw));
          const schema = resolve(doc, body.schema);
          const properties = Object.keys((schema?.properties ?? {}) as object);
          for (const property of properties) {
            for (const value of HOSTILE_PROPERTY_JSON) {
              if (body.type === 'application/json') {
                const others = { ...(baseBody as Record<string, unknown>) };
                delete others[property];
                const rest = JSON.stringify(others).slice(1, -1);
                const raw = `{${rest}${rest ? ',' : ''}${JSON.stringify(property)}:${value}}`;
                statuses.push(await send(baseUrl, body.type, raw));
              } else {
                const form = new URLSearchParams(
                  Object.entries(baseBody as Record<string, unknown>).map(([k, v]): [string, string] => [
                    k,
                    String(v),
                  ]),
                );
                form.set(property, value);
                statuses.push(await send(baseUrl, body.type, form.toString()));
              }
            }
          }
        }
        // A sweep that never reached validation would prove nothing: every operation that takes
        // input must have refused at least one hostile request.
        if (statuses.length > 0 && !statuses.some((status) => status >= 400 && status < 500)) {
          failures.push(
            `${method.toUpperCase()} ${path}: no hostile request was refused (${[...new Set(statuses)]})`,
          );
        }
      }
      expect(requests).toBeGreaterThan(1000);
      expect(failures, failures.slice(0, 40).join('\n')).toEqual([]);
    }, 240_000);
  });
}
