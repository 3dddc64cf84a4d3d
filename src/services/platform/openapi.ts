/**
 * OpenAPI 3 import (issue 14): an OpenAPI 3.0 or 3.1 document → the endpoints of a collection.
 *
 *   each path + operation        one endpoint; `{id}` → `:id` (`-` and `.` in a name → `_`)
 *   name                         operationId, else summary, else "METHOD path"
 *   upstream path                servers[0]'s path (when it has one and no variables) + the
 *                                path, unless the collection's upstream URL already ends with it
 *   timeout, enabled             the defaults
 *
 * Every refusal is a ValidationError whose `details.pointer` is the JSON pointer (RFC 6901) of
 * the offending part, e.g. `/paths/~1pets~1{petId}/get`. The document comes as parsed JSON or
 * YAML text (`yaml`, YAML 1.2 core schema: no custom tags, aliases capped), or is fetched from a
 * URL under one of GATEHOUSE_PLATFORM_IMPORT_URLS' prefixes (no redirect off the list, a size cap
 * and a timeout).
 */
import { parse as parseYaml } from 'yaml';
import { ValidationError } from '../../errors.js';
import { type EndpointMethod, MAX_NAME_LENGTH } from './model.js';
import { parsePathPattern, pathKeyOf, validateName } from './validation.js';

/** Largest document taken, in the body or from a URL. */
export const MAX_OPENAPI_BYTES = 4 * 1024 * 1024;
/** Most operations one import may hold. */
export const MAX_IMPORTED_ENDPOINTS = 1000;
/** How long a URL import waits for the whole document. */
export const OPENAPI_FETCH_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 3;

/** OpenAPI's operation keys of a path item, and the endpoint method each becomes (trace: none). */
const OPERATIONS: ReadonlyArray<[string, EndpointMethod]> = [
  ['get', 'GET'],
  ['put', 'PUT'],
  ['post', 'POST'],
  ['delete', 'DELETE'],
  ['options', 'OPTIONS'],
  ['head', 'HEAD'],
  ['patch', 'PATCH'],
];

export interface ImportedEndpoint {
  name: string;
  method: EndpointMethod;
  path: string;
  pathKey: string;
  upstreamPath: string;
  /** Where it came from in the document. */
  pointer: string;
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function pointerOf(...tokens: string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function refuse(pointer: string, message: string): never {
  throw new ValidationError(`${message} (at ${pointer === '' ? 'the document root' : pointer})`, {
    pointer,
  });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The text of a document: JSON, else YAML. 400 when it is neither. */
export function parseOpenApiText(text: string): unknown {
  if (Buffer.byteLength(text) > MAX_OPENAPI_BYTES) throw tooBig();
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      return JSON.parse(trimmed);
    } catch (error) {
      throw new ValidationError(`The document is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
    }
  }
  try {
    // Aliases capped: a "billion laughs" document is refused, not expanded.
    return parseYaml(text, { maxAliasCount: 100, uniqueKeys: true, schema: 'core' });
  } catch (error) {
    throw new ValidationError(
      `The document is neither JSON nor valid YAML: ${(error as Error).message.split('\n')[0]?.slice(0, 200)}`,
    );
  }
}

export function tooBig(): ValidationError {
  return new ValidationError(`The document is larger than ${MAX_OPENAPI_BYTES / 1024 / 1024} MiB.`, {
    maxBytes: MAX_OPENAPI_BYTES,
  });
}

/** `/pets/{petId}` → `/pets/:petId`; a path parameter must be a whole segment. */
function gatewayPath(openapiPath: string, pointer: string): string {
  if (!openapiPath.startsWith('/'))
    refuse(pointer, `The path "${openapiPath.slice(0, 100)}" must start with "/".`);
  const segments = openapiPath
    .replace(/\/+$/, '')
    .split('/')
    .slice(1)
    .map((segment) => {
      const param = /^\{([^{}]+)\}$/.exec(segment);
      if (param) return `:${param[1]!.replace(/[-.]/g, '_')}`;
      if (segment.includes('{') || segment.includes('}'))
        refuse(
          pointer,
          `The path "${openapiPath.slice(0, 100)}" has a parameter inside a segment ("${segment.slice(0, 60)}"); only whole-segment parameters can be routed.`,
        );
      return segment;
    });
  const path = `/${segments.join('/')}`;
  try {
    parsePathPattern(path, 'path', 'The path');
  } catch (error) {
    if (error instanceof ValidationError)
      refuse(pointer, `The path "${openapiPath.slice(0, 100)}" cannot be an endpoint: ${error.message}`);
    throw error;
  }
  return path;
}

/**
 * servers[0]'s path, to put before every upstream path: `https://api.example.com/v2` → `/v2`, a
 * relative `/v2` the same; none when the URL has variables (`{basePath}`), is `/`, or when the
 * collection's upstream URL already ends with that path (it was given as the base).
 */
function serverPath(document: Record<string, unknown>, upstreamUrl: string): string {
  const servers = document.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !isObject(servers[0])) return '';
  const url = servers[0].url;
  if (typeof url !== 'string' || url.includes('{')) return '';
  let path: string;
  try {
    path = new URL(url, 'http://relative.invalid').pathname.replace(/\/+$/, '');
  } catch {
    return '';
  }
  if (path === '' || !/^(\/[A-Za-z0-9._~!$&'()*+,;=@-]+)+$/.test(path)) return '';
  const base = new URL(upstreamUrl).pathname.replace(/\/+$/, '');
  return base.endsWith(path) ? '' : path;
}

function operationName(operation: Record<string, unknown>, method: string, path: string): string {
  for (const candidate of [operation.operationId, operation.summary]) {
    if (typeof candidate !== 'string' || candidate.trim() === '') continue;
    try {
      return validateName(candidate.trim().slice(0, MAX_NAME_LENGTH), 'Endpoint name');
    } catch {
      // A name the endpoint cannot take (control characters …): the next candidate.
    }
  }
  return `${method} ${path}`.slice(0, MAX_NAME_LENGTH);
}

/** The endpoints an OpenAPI 3 document describes, every one checked; 400 naming the pointer of the first bad part. */
export function endpointsFromOpenApi(document: unknown, upstreamUrl: string): ImportedEndpoint[] {
  if (!isObject(document)) refuse('', 'The document must be an OpenAPI 3 object.');
  const version = document.openapi;
  if (typeof version !== 'string' || !/^3\.\d+(\.\d+)?(-[\w.]+)?$/.test(version))
    refuse(
      '/openapi',
      typeof document.swagger === 'string'
        ? `This is a Swagger ${String(document.swagger).slice(0, 20)} document; only OpenAPI 3 (openapi: 3.x) can be imported.`
        : 'The document must be OpenAPI 3: "openapi" must be a version like "3.0.3" or "3.1.0".',
    );
  if (!isObject(document.paths)) refuse('/paths', '"paths" must be an object of path → operations.');
  const prefix = serverPath(document, upstreamUrl);
  const endpoints: ImportedEndpoint[] = [];
  const seen = new Map<string, string>();
  for (const [openapiPath, item] of Object.entries(document.paths)) {
    const itemPointer = pointerOf('paths', openapiPath);
    if (!isObject(item)) refuse(itemPointer, 'A path item must be an object.');
    const path = gatewayPath(openapiPath, itemPointer);
    const pathKey = pathKeyOf(parsePathPattern(path, 'path', 'The path'));
    for (const [key, method] of OPERATIONS) {
      const operation = item[key];
      if (operation === undefined) continue;
      const pointer = pointerOf('paths', openapiPath, key);
      if (!isObject(operation)) refuse(pointer, 'An operation must be an object.');
      const route = `${method} ${pathKey}`;
      const earlier = seen.get(route);
      if (earlier !== undefined)
        refuse(
          pointer,
          `${method} ${openapiPath.slice(0, 100)} is the same route as ${earlier} (parameter names aside).`,
        );
      seen.set(route, pointer);
      const upstreamPath = prefix === '' ? path : path === '/' ? prefix : `${prefix}${path}`;
      endpoints.push({
        name: operationName(operation, method, path),
        method,
        path,
        pathKey,
        upstreamPath,
        pointer,
      });
      if (endpoints.length > MAX_IMPORTED_ENDPOINTS)
        refuse(
          '/paths',
          `The document has more than ${MAX_IMPORTED_ENDPOINTS} operations; import it in parts.`,
        );
    }
  }
  if (endpoints.length === 0) refuse('/paths', 'The document has no operations to import.');
  return endpoints;
}

// ---- URL import ---------------------------------------------------------------------------------

/** Whether `url` lies under one of the allow-listed prefixes (at a path boundary: `…/specs` does not allow `…/specs-secret`). */
export function urlAllowed(url: URL, prefixes: readonly string[]): boolean {
  const href = url.href;
  return prefixes.some((prefix) => {
    if (!href.startsWith(prefix)) return false;
    if (href.length === prefix.length || prefix.endsWith('/')) return true;
    return ['/', '?', '#'].includes(href[prefix.length]!);
  });
}

function checkImportUrl(text: string, prefixes: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError('"url" must be an absolute http(s) URL.', { field: 'url' });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '')
    throw new ValidationError('"url" must be an http(s) URL without credentials.', { field: 'url' });
  if (prefixes.length === 0)
    throw new ValidationError(
      'Import from a URL is off: GATEHOUSE_PLATFORM_IMPORT_URLS lists no allowed URL prefixes. Send the document itself instead.',
      { field: 'url' },
    );
  if (!urlAllowed(url, prefixes))
    throw new ValidationError(
      'The URL is not under any prefix of GATEHOUSE_PLATFORM_IMPORT_URLS (the allow-list of import URLs).',
      { field: 'url' },
    );
  return url;
}

/**
 * Fetches the document at `text`: only URLs under an allow-listed prefix, redirects followed
 * only to such URLs (at most 3), at most MAX_OPENAPI_BYTES read, the whole within the timeout.
 * Any failure is a 400 naming the field `url` (and never the body of the answer).
 */
export async function fetchOpenApiText(
  text: string,
  prefixes: readonly string[],
  timeoutMs = OPENAPI_FETCH_TIMEOUT_MS,
): Promise<string> {
  let url = checkImportUrl(text, prefixes);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, {
        redirect: 'manual',
        signal,
        headers: { accept: 'application/json, application/yaml;q=0.9, text/yaml;q=0.9, */*;q=0.1' },
      });
      if (response.status >= 300 && response.status < 400) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        if (location === null || hop >= MAX_REDIRECTS)
          throw new ValidationError(`The URL redirects ${location === null ? 'nowhere' : 'too often'}.`, {
            field: 'url',
          });
        const next = new URL(location, url);
        if (!urlAllowed(next, prefixes))
          throw new ValidationError(
            'The URL redirects to a URL outside GATEHOUSE_PLATFORM_IMPORT_URLS; not followed.',
            { field: 'url' },
          );
        url = next;
        continue;
      }
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new ValidationError(`The URL answered ${response.status}, not 200.`, { field: 'url' });
      }
      const declared = Number(response.headers.get('content-length') ?? 0);
      if (declared > MAX_OPENAPI_BYTES) {
        await response.body?.cancel();
        throw tooBig();
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of response.body ?? []) {
        size += chunk.length;
        if (size > MAX_OPENAPI_BYTES) throw tooBig();
        chunks.push(chunk);
      }
      return Buffer.concat(chunks).toString('utf8');
    }
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    const timedOut = signal.aborted;
    throw new ValidationError(
      timedOut
        ? `The URL did not deliver the document within ${timeoutMs / 1000} s.`
        : 'The URL could not be fetched.',
      { field: 'url' },
    );
  }
}
