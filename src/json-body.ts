/**
 * JSON request bodies with bounded nesting. Deeply nested JSON (4,000 arrays in 8 KB) parses,
 * but every recursive walk after it (validation, stringify, templates) overflows the stack, so
 * the depth is checked in one linear pass over the text before anything parses it; deeper
 * bodies are a 400. The parse itself is fastify's own (proto- and constructor-poisoning refused).
 */
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from './errors.js';
import { jsonNestsDeeperThan } from './json-depth.js';

/** Replaces fastify's `application/json` parser on `app` (and the scopes registered after) with a depth-checked one. */
export function addJsonBodyParser(app: FastifyInstance, maxDepth: number): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonNestsDeeperThan(body as string, maxDepth)) {
      done(
        new InvalidRequestError(`The JSON body nests arrays and objects deeper than ${maxDepth} levels.`, {
          maxDepth,
        }),
        undefined,
      );
      return;
    }
    parse(request, body as string, done);
  });
}
