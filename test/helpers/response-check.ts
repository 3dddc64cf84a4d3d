/**
 * Checks every response an app sends against the response schema its route
 * declares for that status (the same schema fast-json-stringify serializes
 * through and /openapi.json documents). Objects are checked before
 * serialization, so a property the schema lacks (which the serializer would
 * silently drop) is caught; JSON sent as a ready-made string (the OAuth
 * endpoints write their bodies in a fixed key order) is parsed and checked too.
 * A mismatch fails the request with a 500 and is printed, so the test that
 * made the request fails.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const compiled = new WeakMap<object, ValidateFunction>();

function schemaFor(request: FastifyRequest, status: number): object | undefined {
  const responses = (request.routeOptions.schema as { response?: Record<string, object> } | undefined)
    ?.response;
  if (!responses) return undefined;
  return responses[String(status)] ?? responses[`${Math.floor(status / 100)}XX`] ?? responses.default;
}

/** The mismatch between a body and its route's schema, or undefined when it matches or nothing is declared. */
export function responseMismatch(
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
): string | undefined {
  const schema = schemaFor(request, reply.statusCode);
  if (schema === undefined) return undefined;
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(body)) return undefined;
  return (
    `${request.method} ${request.url} → ${reply.statusCode}: the body does not match the response schema: ` +
    `${ajv.errorsText(validate.errors)}\nbody: ${JSON.stringify(body)?.slice(0, 2000)}`
  );
}

const checked = new WeakSet<FastifyRequest>();

export function checkResponses(app: FastifyInstance): void {
  app.addHook('preSerialization', (request, reply, payload, done) => {
    checked.add(request);
    const mismatch = responseMismatch(request, reply, payload);
    if (mismatch === undefined) return done(null, payload);
    process.stderr.write(`\n[response-check] ${mismatch}\n`);
    done(new Error(mismatch));
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (checked.has(request) || typeof payload !== 'string' || !type.includes('json') || payload === '') {
      return done(null, payload);
    }
    let body: unknown;
    try {
      body = JSON.parse(payload);
    } catch {
      return done(new Error(`${request.method} ${request.url}: content-type says JSON but the body is not`));
    }
    const mismatch = responseMismatch(request, reply, body);
    if (mismatch === undefined) return done(null, payload);
    process.stderr.write(`\n[response-check] ${mismatch}\n`);
    done(new Error(mismatch));
  });
}
