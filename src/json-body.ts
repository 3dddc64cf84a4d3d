/**
 * JSON request bodies with bounded nesting. Deeply nested JSON (4,000 arrays in 8 KB) parses,
 * but every recursive walk after it (validation, stringify, templates) overflows the stack, so
 * the depth is checked in one linear pass over the text before anything parses it; deeper
 * bodies are a 400. The same pass refuses a NUL character in any string (PostgreSQL cannot
 * store one, and no Gatehouse field has a use for it), so both stores answer the same 400. The parse itself is fastify's own (proto- and constructor-poisoning refused).
 */
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from './errors.js';
import { jsonTextProblem } from './json-depth.js';

/** Replaces fastify's `application/json` parser on `app` (and the scopes registered after) with a depth-checked one. */
export function addJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const problem = jsonTextProblem(body as string, maxDepth);
    if (problem === 'too_deep') {
      done(
        new InvalidRequestError(`The JSON body nests arrays and objects deeper than ${maxDepth} levels.`, {
          maxDepth,
        }),
        undefined,
      );
      return;
    }
    if (problem === 'nul_character') {
      done(
        new InvalidRequestError(
          'A string in the JSON body contains a NUL character (\\u0000), which Gatehouse does not accept.',
        ),
        undefined,
      );
      return;
    }
    parse(request, body as string, done);
  });
}
