/**
 * JSON request bodies with bounded nesting. Deeply nested JSON (4,000 arrays in 8 KB) parses,
 * but every recursive walk after it (validation, stringify, templates) overflows the stack, so
 * the depth is checked in one linear pass over the text before anything parses it; deeper
 * bodies are a 400. The parse itself is fastify's own (proto- and constructor-poisoning refused).
 */
import type { FastifyInstance } from 'fastify';
import { InvalidRequestError } from './errors.js';

/** Whether arrays/objects in `text` (JSON) nest deeper than `max`; strings are skipped. Linear, no recursion. */
export function jsonNestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

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
